"""Which containment the code sandbox uses on this machine, and the policy when there is none.

Modes, strongest first (``SandboxResult.isolation`` and every result file name the one used):

- ``namespaces``: root (the usual container case). New network, mount and PID namespaces, a fresh
  ``/proc``, tmpfs over every world-writable directory, then the program runs as ``nobody``.
- ``user-namespace``: not root, unprivileged user namespaces allowed. The same, with every inherited
  mount made read-only instead of the switch to ``nobody`` (the kernel still sees the user's uid).
- ``bubblewrap``: neither works but ``bwrap`` is on the PATH: it builds the same box.
- ``unsandboxed``: none of these. Model-written code is then refused unless the user opts in with
  ``--allow-unsandboxed`` (or ``POSTTRAIN_ALLOW_UNSANDBOXED=1``); it then runs with resource limits only.

``POSTTRAIN_SANDBOX=<mode>`` asks for one mode (e.g. ``bubblewrap``); ``auto`` (the default) picks.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
from dataclasses import dataclass
from functools import cache

from posttrain.errors import BadInput

MODES = ("namespaces", "user-namespace", "bubblewrap", "unsandboxed")
ENV_ALLOW = "POSTTRAIN_ALLOW_UNSANDBOXED"
ENV_MODE = "POSTTRAIN_SANDBOX"
ALLOW_HELP = (
    "Run model-written code (unit_tests) even where no sandbox works: resource limits only, "
    "the code can then read your files and reach the network."
)
UNSANDBOXED_WARNING = (
    "warning: --allow-unsandboxed: model-written code runs WITHOUT a sandbox (resource limits only); "
    "it can read your files and environment, write where you can, reach the network and signal your processes"
)
# Replaced wholesale by the namespace modes, so nothing below them needs its own mount.
REPLACED = ("/proc", "/tmp", "/var/tmp", "/run", "/var/run", "/dev/shm", "/dev/mqueue")


class SandboxUnavailable(BadInput):
    """No sandbox here and no opt-in: model-written code is not run."""


def allow_unsandboxed(enabled: bool = True) -> None:
    """The ``--allow-unsandboxed`` flag: set in the environment, so training launched through
    ``accelerate launch`` (other processes) inherits it too."""
    if enabled:
        os.environ[ENV_ALLOW] = "1"


def unsandboxed_allowed() -> bool:
    return os.environ.get(ENV_ALLOW, "").strip().lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class Capabilities:
    """What this machine allows; ``why_not`` says, per native mode, why it is unavailable."""

    available: tuple[str, ...]
    why_not: tuple[str, ...] = ()


def choose_mode(caps: Capabilities, requested: str = "auto", allow: bool = False) -> str:
    """The mode to use, or :class:`SandboxUnavailable` naming both ways out.

    >>> choose_mode(Capabilities(("namespaces", "bubblewrap")))
    'namespaces'
    >>> choose_mode(Capabilities((), ("not root",)), allow=True)
    'unsandboxed'
    >>> choose_mode(Capabilities((), ("not root",)))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    harness.evaluation.sandbox_modes.SandboxUnavailable: refusing to run model-written code: no sandbox ...
    """
    if requested not in ("auto", *MODES):
        raise BadInput(f"{ENV_MODE}={requested}: unknown sandbox mode; use auto or one of {', '.join(MODES)}")
    if requested == "unsandboxed" or (requested == "auto" and not caps.available):
        if allow:
            return "unsandboxed"
        why = "; ".join(caps.why_not) or "unsandboxed mode was asked for"
        raise SandboxUnavailable(
            f"refusing to run model-written code: no sandbox on this machine ({why}). Either install bubblewrap "
            "(e.g. `apt-get install bubblewrap`; posttrain uses `bwrap` when it is on the PATH) or run where Linux "
            "namespaces work (as root, or with unprivileged user namespaces enabled), or pass --allow-unsandboxed "
            f"(or set {ENV_ALLOW}=1) to run it with resource limits only: it can then read your files and "
            "environment and reach the network"
        )
    if requested == "auto":
        return caps.available[0]
    if requested not in caps.available:
        why = "; ".join(caps.why_not)
        raise SandboxUnavailable(f"{ENV_MODE}={requested}: that sandbox does not work on this machine ({why})")
    return requested


@cache
def world_writable_paths() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(directories, other files) that ``nobody`` could write, outside the ones replaced wholesale.

    Walks mount points and the tree from ``/`` to depth 4 (≈ 11,000 entries, ≈ 0.3 s on the dev
    machine; once per process), at most 50,000 entries. Character and block devices are left: the
    kernel decides what writing them does (``/dev/null``, ``/dev/tty``). Sockets count: a world-
    writable socket is a way out that a network namespace does not close.
    """
    roots = ["/"]
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as handle:
            roots += [line.split()[4].replace("\\040", " ") for line in handle if len(line.split()) > 4]
    except OSError:
        pass
    dirs: list[str] = []
    others: list[str] = []
    seen: set[str] = set()
    budget = [50_000]

    def covered(path: str) -> bool:
        return any(path == r or path.startswith(r.rstrip("/") + "/") for r in (*REPLACED, "/sys", "/dev", *dirs))

    def walk(path: str, depth: int) -> None:
        try:
            entries = os.scandir(path)
        except OSError:
            return
        with entries:
            for entry in entries:
                budget[0] -= 1
                if budget[0] < 0:
                    return
                if entry.path in seen or covered(entry.path):
                    continue
                seen.add(entry.path)
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                mode = info.st_mode
                if stat.S_ISLNK(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                    continue
                if mode & stat.S_IWOTH:
                    (dirs if stat.S_ISDIR(mode) else others).append(entry.path)
                elif stat.S_ISDIR(mode) and depth > 1:
                    walk(entry.path, depth - 1)

    for root in roots:
        if not covered(root) or root == "/":
            walk(root, 4 if root == "/" else 2)
    return tuple(sorted(dirs)), tuple(sorted(others))


def tmpfs_targets() -> list[str]:
    """The directories the namespace modes mount a fresh tmpfs over (those that exist here)."""
    found = [p for p in REPLACED[1:] if os.path.isdir(p) and not os.path.islink(p)]
    return found + list(world_writable_paths()[0])


def _probe_native(mode: str) -> str | None:
    """None when ``mode`` can run a trivial program here, else why not (one sandboxed run, ~30 ms)."""
    from harness.evaluation.sandbox import run_in_mode

    try:
        result = run_in_mode(mode, "", "", None, timeout_s=10.0)
    except OSError as error:
        return f"{mode}: {error}"
    if result.passed:
        return None
    detail = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
    return f"{mode}: {detail}"


@cache
def probe_capabilities() -> Capabilities:
    """Try each mode once per process (cached): root namespaces, user namespaces, bubblewrap."""
    available: list[str] = []
    why_not: list[str] = []
    if not sys.platform.startswith("linux"):
        return Capabilities((), (f"namespaces are Linux-only (this is {sys.platform})",))
    candidates = ["namespaces"] if os.geteuid() == 0 else ["user-namespace"]
    if os.geteuid() != 0:
        why_not.append("namespaces: not root")
    if shutil.which("bwrap"):
        candidates.append("bubblewrap")
    else:
        why_not.append("bubblewrap: no bwrap on the PATH")
    for mode in candidates:
        reason = _probe_native(mode)
        if reason is None:
            available.append(mode)
        else:
            why_not.append(reason)
    return Capabilities(tuple(available), tuple(why_not))


_WARNED: list[bool] = []


def isolation_level() -> str:
    """The mode model-written code runs under here; raises :class:`SandboxUnavailable` without one."""
    mode = choose_mode(probe_capabilities(), os.environ.get(ENV_MODE, "auto").strip() or "auto", unsandboxed_allowed())
    if mode == "unsandboxed" and not _WARNED:
        _WARNED.append(True)
        print(UNSANDBOXED_WARNING, file=sys.stderr)
    return mode
