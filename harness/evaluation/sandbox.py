"""Run generated code with its unit tests in a contained child process.

Containment, strongest available first (``SandboxResult.isolation`` says which applied):

- ``namespaces``: as root, the child enters new network and mount namespaces (``unshare(2)``): no
  network interface but a down loopback, and fresh tmpfs over ``/tmp``, ``/var/tmp`` and ``/dev/shm``
  so stray temp files vanish; then it drops to ``nobody`` so every other path is read-only to it.
- ``user-namespace``: not root, but unprivileged user namespaces work: the same without ``nobody``.
- ``rlimits-only``: neither works; network is cut by a Python preamble (weaker; it says so).

Always: a wall-clock limit (the whole process group is killed), ``RLIMIT_AS`` for memory,
``RLIMIT_NPROC`` against fork bombs, ``RLIMIT_FSIZE`` against disk floods, a private temporary cwd
deleted afterwards, a minimal environment.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_REC, MS_PRIVATE, MS_NOSUID, MS_NODEV, MS_BIND, MS_MOVE = 0x4000, 0x40000, 0x2, 0x4, 0x1000, 0x2000
PRIVATE_WORKDIR = "/tmp/sandbox"
_OUTPUT_LIMIT = 20_000  # characters of stdout/stderr kept for the report

# The program runs as PID 1 of a new PID namespace: when it ends or is killed, the kernel kills
# every process left in that namespace, including fork-bomb leaves that called setsid(). Its
# parent-death signal kills it when this launcher is killed on a timeout.
_PID1_LAUNCHER = """\
import ctypes, os, sys
pid = os.fork()
if pid == 0:
    ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG = 1, SIGKILL = 9
    os.execv(sys.executable, [sys.executable, "-I", "program.py"])
_, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""

_NO_NET_PREAMBLE = """\
import socket as _s
def _blocked(*a, **k):
    raise OSError("network access is disabled in the sandbox")
_s.socket = _blocked; _s.create_connection = _blocked; _s.getaddrinfo = _blocked
del _s, _blocked
"""


@dataclass(frozen=True)
class SandboxResult:
    passed: bool
    returncode: int | None
    timed_out: bool
    stdout: str
    stderr: str
    duration_s: float
    isolation: str


def extract_code(output: str) -> str:
    """The code in a model answer: the fenced block(s) if any, else the whole answer.

    >>> extract_code("Here:\\n```python\\ndef f():\\n    return 1\\n```\\nDone.")
    'def f():\\n    return 1\\n'
    >>> extract_code("def f(): return 2")
    'def f(): return 2'
    """
    blocks = re.findall(r"```(?:[\w+-]*)\n(.*?)```", output, flags=re.DOTALL)
    return "\n".join(blocks) if blocks else output


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _mount_tmpfs(libc: ctypes.CDLL, target: str) -> None:
    if os.path.isdir(target):
        libc.mount(b"tmpfs", target.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"size=64m,mode=1777")


def _blocked_ancestor(path: str) -> tuple[str, str] | None:
    """The first directory on ``path`` that others cannot enter, and the component below it.

    A pyenv interpreter under ``/root`` (mode 0700) is out of ``nobody``'s reach; the child
    then mounts a tmpfs over that directory holding only a bind mount of the component it needs,
    which also hides the rest of it (``/root``'s keys and caches).
    """
    parts = Path(path).parts
    for depth in range(1, len(parts) - 1):
        directory = os.path.join(*parts[:depth])
        if not os.stat(directory).st_mode & 0o001:
            return directory, parts[depth]
    return None


def _expose(libc: ctypes.CDLL, blocked: tuple[str, str]) -> None:
    directory, child = blocked
    staging = "/tmp/.posttrain-expose"
    os.mkdir(staging)
    libc.mount(os.path.join(directory, child).encode(), staging.encode(), None, MS_BIND | MS_REC, None)
    libc.mount(b"tmpfs", directory.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"size=1m,mode=0755")
    os.mkdir(os.path.join(directory, child))
    libc.mount(staging.encode(), os.path.join(directory, child).encode(), None, MS_MOVE, None)
    os.rmdir(staging)


def _probe_namespaces(flags: int) -> bool:
    """Whether a child can unshare ``flags`` here (checked once, in a throwaway process)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os._exit(0 if _libc().unshare(flags) == 0 else 1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


_ISOLATION: str | None = None


def isolation_level() -> str:
    """The containment this machine allows: namespaces, user-namespace or rlimits-only."""
    global _ISOLATION
    if _ISOLATION is None:
        if os.geteuid() == 0 and _probe_namespaces(CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWPID):
            _ISOLATION = "namespaces"
        elif _probe_namespaces(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWPID):
            _ISOLATION = "user-namespace"
        else:
            _ISOLATION = "rlimits-only"
    return _ISOLATION


def _child_setup(
    isolation: str,
    memory_bytes: int,
    max_processes: int,
    file_bytes: int,
    blocked: tuple[str, str] | None,
    program: str,
) -> Callable[[], None]:
    """Runs in the child between fork and exec: namespaces first (needs privilege), then drop it."""
    import resource

    def setup() -> None:
        os.setsid()  # own process group, so a timeout kills every descendant at once
        libc = _libc()
        if isolation == "namespaces":
            if libc.unshare(CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWPID) != 0:
                os._exit(97)
            libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None)
            for target in ("/tmp", "/var/tmp", "/dev/shm"):
                _mount_tmpfs(libc, target)
            if blocked is not None:
                _expose(libc, blocked)
            # The work dir lives in the private /tmp, so it vanishes with the namespace.
            os.mkdir(PRIVATE_WORKDIR, 0o700)
            Path(PRIVATE_WORKDIR, "program.py").write_text(program, encoding="utf-8")
            os.chown(PRIVATE_WORKDIR, 65534, 65534)
            os.chdir(PRIVATE_WORKDIR)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)  # nobody: the cwd (chowned to it) is the only writable place left
        elif isolation == "user-namespace" and libc.unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWPID) != 0:
            os._exit(97)
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        resource.setrlimit(resource.RLIMIT_NPROC, (max_processes, max_processes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return setup


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def run_tests(
    code: str,
    tests: str,
    timeout_s: float = 5.0,
    memory_mb: int = 1024,
    max_processes: int = 64,
    file_mb: int = 16,
) -> SandboxResult:
    """Run ``code`` followed by ``tests`` as one Python program; passed = exit 0 within ``timeout_s``.

    HumanEval-style tests (``def check(candidate): ...``) need the call appended, e.g.
    ``tests = HUMANEVAL_TEST + "\\ncheck(add)"``.
    """
    isolation = isolation_level()
    program = code.rstrip("\n") + "\n\n" + tests.rstrip("\n") + "\n"
    if isolation == "rlimits-only":
        program = _NO_NET_PREAMBLE + program
    workdir = Path(tempfile.mkdtemp(prefix="posttrain-sandbox-"))
    try:
        (workdir / "program.py").write_text(program, encoding="utf-8")
        home = PRIVATE_WORKDIR if isolation == "namespaces" else str(workdir)
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": home,
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "OPENBLAS_NUM_THREADS": "1",  # threads count against RLIMIT_NPROC
            "OMP_NUM_THREADS": "1",
        }
        # The real interpreter, not the venv's symlink: a venv under /tmp vanishes behind the private
        # /tmp mount, and generated code needs only the standard library anyway.
        interpreter = os.path.realpath(sys.executable)
        # -I: ignore PYTHON* variables and the user site, and keep the script's dir off sys.path.
        command = [interpreter, "-I", "program.py"]
        if isolation != "rlimits-only":
            command = [interpreter, "-I", "-c", _PID1_LAUNCHER]
        started = time.perf_counter()
        proc = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=_child_setup(
                isolation,
                memory_mb * 1024**2,
                max_processes,
                file_mb * 1024**2,
                _blocked_ancestor(interpreter) if isolation == "namespaces" else None,
                program,
            ),
        )
        timed_out = False
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
            out, err = proc.communicate()
        _kill_group(proc)  # children left behind by a program that exited (a fork bomb's leaves)
        duration = time.perf_counter() - started
        return SandboxResult(
            passed=(not timed_out and proc.returncode == 0),
            returncode=None if timed_out else proc.returncode,
            timed_out=timed_out,
            stdout=out.decode("utf-8", "replace")[-_OUTPUT_LIMIT:],
            stderr=err.decode("utf-8", "replace")[-_OUTPUT_LIMIT:],
            duration_s=round(duration, 3),
            isolation=isolation,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
