"""Run generated code with its unit tests in a contained child process; the harness decides the pass.

A program passes only when the trusted runner (:mod:`harness.evaluation.sandbox_child`) ran the
code, ran the tests to their end without an exception, and then wrote this run's random token to
a pipe of its own. Exit status 0 without the token is a failure, so ``sys.exit(0)``, ``os._exit(0)``,
an ``atexit`` or trace hook, a fake "passed" line on stdout or bytes written to every fd score 0.

Containment (:mod:`harness.evaluation.sandbox_modes` picks the mode; ``SandboxResult.isolation``
says which applied): new network, mount and PID namespaces with a private ``/proc`` and tmpfs over
every world-writable directory, the program as ``nobody`` (or read-only mounts in a user namespace,
or bubblewrap); without any of these model-written code is refused unless the user opts in.
Always: a wall-clock limit (the process group is killed), ``RLIMIT_AS`` (memory), ``RLIMIT_NPROC``
(fork bombs), ``RLIMIT_FSIZE`` (disk), ``RLIMIT_CPU``, a minimal environment, and output read as it
streams with at most ``output_limit`` bytes accepted: a flood is killed and scored 0, so the
evaluator's memory stays bounded whatever the program prints.
"""

from __future__ import annotations

import marshal
import math
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from harness.evaluation.sandbox_child import SETUP_FAILED
from harness.evaluation.sandbox_modes import isolation_level, tmpfs_targets, world_writable_paths
from harness.evaluation.sandbox_process import feed, kill_group, stream

PRIVATE_WORKDIR = "/tmp/sandbox"
OUTPUT_LIMIT = 1_000_000  # bytes a program may print in all; more is a flood: killed, scored 0

__all__ = [
    "SandboxResult",
    "check_answer",
    "check_answers",
    "extract_code",
    "isolation_level",
    "run_in_mode",
    "run_tests",
]


@dataclass(frozen=True)
class SandboxResult:
    passed: bool
    returncode: int | None
    timed_out: bool
    stdout: str
    stderr: str
    duration_s: float
    isolation: str
    reason: str = ""  # passed | tests failed | no result | timed out | output flood | setup failed
    output_bytes: int = 0


def extract_code(output: str) -> str:
    """The code in a model answer: the fenced block(s) if any, else the whole answer.

    >>> extract_code("Here:\\n```python\\ndef f():\\n    return 1\\n```\\nDone.")
    'def f():\\n    return 1\\n'
    >>> extract_code("def f(): return 2")
    'def f(): return 2'
    """
    blocks = re.findall(r"```(?:[\w+-]*)\n(.*?)```", output, flags=re.DOTALL)
    return "\n".join(blocks) if blocks else output


def program_of(answer: str, entry_point: str | None = None, prompt: str | None = None) -> str:
    """The code to test for a model answer: its code, after the prompt when the answer only
    continues a HumanEval-style prompt (defines no ``entry_point`` of its own).

    >>> program_of("```python\\ndef f(x):\\n    return x\\n```", "f", "def f(x):\\n")
    'def f(x):\\n    return x\\n'
    >>> program_of("    return x\\n", "f", "def f(x):\\n")
    'def f(x):\\n    return x\\n'
    """
    code = extract_code(answer)
    if entry_point and prompt and not re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(entry_point)}\b", code, re.M):
        return prompt + code
    return code


_NEVER_CALLED = re.compile(r"^def check\(", re.M)  # HumanEval's tests define check(candidate)...
_CHECK_CALL = re.compile(r"^\s*check\(", re.M)  # ...and pass only if something calls it


def check_answer(
    answer: str, tests: str, entry_point: str | None = None, prompt: str | None = None, *, timeout_s: float = 5.0
) -> SandboxResult:
    """The one hardened check behind the ``unit_tests`` metric, the GRPO reward and best-of-N."""
    if not entry_point and _NEVER_CALLED.search(tests) and not _CHECK_CALL.search(tests):
        why = "sandbox: the tests define check(candidate) but never call it; give the row an entry_point\n"
        return SandboxResult(False, None, False, "", why, 0.0, isolation_level(), "tests failed")
    code = program_of(answer, entry_point, prompt)
    return run_tests(code, tests, timeout_s=timeout_s, entry_point=entry_point or None)


def check_answers(items: Sequence[tuple[str, str, str | None, str | None]]) -> list[SandboxResult]:
    """:func:`check_answer` over many ``(answer, tests, entry_point, prompt)``, a few at a time.

    Each check mostly waits for its child process, so threads overlap them (a GRPO group or a
    best-of-N batch); at most 8 at once, and no more than the CPUs (the children do the work).
    """
    if not items:
        return []
    isolation_level()  # probe (and refuse) once, before any thread starts
    workers = max(1, min(len(items), os.cpu_count() or 1, 8))
    if workers == 1:
        return [check_answer(*item) for item in items]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sandbox") as pool:
        return list(pool.map(lambda item: check_answer(*item), items))


@cache
def _child_boot() -> list[str]:
    """``-c`` arguments that run sandbox_child.py: its code object compiled here once and passed
    marshalled (the child runs the same interpreter), which saves compiling it in every child."""
    source = Path(__file__).with_name("sandbox_child.py").read_text(encoding="utf-8")
    code = marshal.dumps(compile(source, "sandbox_child.py", "exec")).hex()
    return ["-c", "import marshal, sys; exec(marshal.loads(bytes.fromhex(sys.argv.pop(1))))", code]


def _blocked_ancestor(path: str) -> tuple[str, str] | None:
    """The first directory on ``path`` that others cannot enter, and the component below it.

    A pyenv interpreter under ``/root`` (mode 0700) is out of ``nobody``'s reach; the child then
    mounts a tmpfs over that directory holding only a bind mount of the component it needs, which
    also hides the rest of it (``/root``'s keys and caches).
    """
    parts = Path(path).parts
    for depth in range(1, len(parts) - 1):
        directory = os.path.join(*parts[:depth])
        if not os.stat(directory).st_mode & 0o001:
            return directory, parts[depth]
    return None


def _limits(memory_mb: int, max_processes: int, file_mb: int, timeout_s: float) -> dict[str, int]:
    return {
        "RLIMIT_AS": memory_mb * 1024**2,
        "RLIMIT_NPROC": max_processes,
        "RLIMIT_FSIZE": file_mb * 1024**2,
        "RLIMIT_CORE": 0,
        "RLIMIT_CPU": math.ceil(timeout_s) + 1,  # CPU seconds; the wall clock usually ends it first
    }


def _bwrap_command(interpreter: str, runner: list[str], env: dict[str, str]) -> list[str]:
    """bubblewrap building the same box: every namespace, read-only /, private /proc, /dev, tmpfs."""
    command = [shutil.which("bwrap") or "bwrap", "--unshare-all", "--die-with-parent", "--new-session"]
    command += ["--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev"]
    for target in tmpfs_targets():
        command += ["--tmpfs", target]
    for target in world_writable_paths()[1]:
        command += ["--ro-bind", "/dev/null", target]
    command += ["--dir", PRIVATE_WORKDIR, "--chdir", PRIVATE_WORKDIR, "--uid", "65534", "--gid", "65534"]
    command += ["--clearenv"]
    for key, value in env.items():
        command += ["--setenv", key, value]
    return [*command, "--", interpreter, *runner]


def _command(mode: str, interpreter: str, result_fd: int, env: dict[str, str]) -> list[str]:
    runner = ["-I", "-S", *_child_boot(), "run", str(result_fd)]
    if mode == "bubblewrap":
        return _bwrap_command(interpreter, runner, env)
    if mode == "unsandboxed":
        return [interpreter, *runner]
    config = {
        "mode": mode,
        "tmpfs": tmpfs_targets(),
        "mask": list(world_writable_paths()[1]),
        "expose": _blocked_ancestor(interpreter) if mode == "namespaces" else None,
        "workdir": PRIVATE_WORKDIR,
        "result_fd": result_fd,
    }
    return [interpreter, "-I", "-S", *_child_boot(), "launch", marshal.dumps(config).hex()]


def run_in_mode(
    mode: str,
    code: str,
    tests: str,
    entry_point: str | None = None,
    *,
    timeout_s: float = 5.0,
    memory_mb: int = 1024,
    max_processes: int = 64,
    file_mb: int = 16,
    output_limit: int = OUTPUT_LIMIT,
) -> SandboxResult:
    """Run ``code``, then ``tests`` (then ``check(<entry_point>)`` if given) under ``mode``."""
    # Raw bytes, not hex: nothing marks them in memory, and the result must equal them exactly, so a
    # program that scans its memory has one guess among millions of 16-byte windows.
    token = secrets.token_bytes(16)
    interpreter = os.path.realpath(sys.executable)  # a venv under /tmp would vanish behind the tmpfs
    limits = _limits(memory_mb, max_processes, file_mb, timeout_s)
    host_dir = Path(tempfile.mkdtemp(prefix="posttrain-sandbox-")) if mode == "unsandboxed" else None
    home = str(host_dir) if host_dir else PRIVATE_WORKDIR
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OPENBLAS_NUM_THREADS": "1",  # threads count against RLIMIT_NPROC
        "OMP_NUM_THREADS": "1",
    }
    result_r, result_w = os.pipe()
    try:
        stdin = feed(marshal.dumps((token, code, tests, entry_point or "", tuple(limits.items()))))
        started = time.perf_counter()
        try:
            proc = subprocess.Popen(
                _command(mode, interpreter, result_w, env),
                cwd=host_dir or "/",
                env=env,
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(result_w,),
                start_new_session=True,  # its own process group: a timeout kills every descendant at once
            )
        finally:
            os.close(stdin)
        os.close(result_w)
        result_w = -1
        try:
            out, err, result, stopped = stream(proc, result_r, timeout_s, output_limit)
        finally:
            kill_group(proc)
            assert proc.stdout is not None and proc.stderr is not None
            proc.stdout.close()
            proc.stderr.close()
            returncode = proc.wait()
        duration = time.perf_counter() - started
    finally:
        os.close(result_r)
        if result_w >= 0:
            os.close(result_w)
        if host_dir is not None:
            shutil.rmtree(host_dir, ignore_errors=True)
    reported = secrets.compare_digest(result, token)
    passed = reported and not stopped
    if stopped:
        reason = stopped
    elif passed:
        reason = "passed"
    elif returncode == SETUP_FAILED and "sandbox setup failed" in err.text():
        reason = "setup failed"
    elif returncode == 0:
        reason = "no result"  # exited 0 without the runner's token: an exit, not a pass
    else:
        reason = "tests failed"
    stderr = err.text()
    if stopped == "output flood":
        stderr += f"\nsandbox: killed after {out.total + err.total:,} bytes of output (limit {output_limit:,})\n"
    return SandboxResult(
        passed=passed,
        returncode=None if stopped == "timed out" else returncode,
        timed_out=stopped == "timed out",
        stdout=out.text(),
        stderr=stderr,
        duration_s=round(duration, 3),
        isolation=mode,
        reason=reason,
        output_bytes=out.total + err.total,
    )


def run_tests(
    code: str,
    tests: str,
    timeout_s: float = 5.0,
    memory_mb: int = 1024,
    max_processes: int = 64,
    file_mb: int = 16,
    *,
    entry_point: str | None = None,
    output_limit: int = OUTPUT_LIMIT,
) -> SandboxResult:
    """Run ``code`` then ``tests`` in the sandbox; passed = the tests ran to their end within the limits.

    HumanEval-style tests (``def check(candidate): ...``) pass ``entry_point`` (the function's
    name) and the runner calls ``check(<that function>)``; or append the call to ``tests``.
    Raises :class:`~harness.evaluation.sandbox_modes.SandboxUnavailable` where there is no sandbox
    and the user did not opt in to running without one.
    """
    return run_in_mode(
        isolation_level(),
        code,
        tests,
        entry_point,
        timeout_s=timeout_s,
        memory_mb=memory_mb,
        max_processes=max_processes,
        file_mb=file_mb,
        output_limit=output_limit,
    )
