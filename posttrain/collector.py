"""Python's cyclic garbage collector in a compute command: quiet while the libraries load, skipped at exit.

Importing torch, transformers and peft leaves ~400,000 tracked objects, nearly all alive until the process
ends. With CPython's default thresholds (700, 10, 10) the collector runs ~1,000 times while they are
created, and each full collection scans the whole heap again: `posttrain eval` on the support-assistant
set spent 1.52 s in 1,085 collections (1.16 s of it in full ones), and at exit the interpreter's last
collections took another 1.3–1.6 s (one full collection of that heap takes ~0.3 s on this machine).

- :func:`quiet_startup` (the console script, compute commands only) raises the first threshold to
  100,000 allocations: young cycles are still collected, full collections wait (6 collections, 0.32 s).
- :func:`settle` (once, when the first model has loaded) moves every object alive then into the permanent
  generation (``gc.freeze``), so later collections scan only what the work itself allocates, and puts the
  default thresholds back for the rest of the command.
- :func:`before_exit` freezes the heap again, so the interpreter's shutdown does not scan it (0.23–0.29 s
  from the last line of output to the exit, where it was 1.3–1.6 s).

Nothing here runs unless :func:`quiet_startup` did: a test process that calls the loaders keeps the
collector as it was (a frozen heap there would keep every earlier test's garbage).
"""

from __future__ import annotations

import gc

STARTUP_THRESHOLDS = (100_000, 20, 20)


class _State:
    started = False  # quiet_startup ran in this process
    quiet = False  # and settle has not yet
    defaults: tuple[int, int, int] = gc.get_threshold()


_state = _State()


def quiet_startup() -> None:
    """Collect rarely until :func:`settle`: a compute command's start-up allocates mostly what it keeps."""
    _state.defaults = gc.get_threshold()
    gc.set_threshold(*STARTUP_THRESHOLDS)
    _state.started = _state.quiet = True


def settle() -> None:
    """The libraries and the first model are loaded: freeze what is alive, collect as usual from here on."""
    if not _state.quiet:
        return
    _state.quiet = False
    gc.freeze()
    gc.set_threshold(*_state.defaults)


def before_exit() -> None:
    """The command is done and its output written: spare the interpreter's shutdown a scan of the heap."""
    if _state.started:
        gc.freeze()
