"""Process plumbing for the sandbox: feed the runner its inputs, read its output as it streams.

Output is read incrementally from non-blocking pipes and only a bounded tail is kept, so a program
that prints without end costs the evaluator at most ``2 * KEPT_OUTPUT`` bytes per stream before it
is killed at the output limit.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time

KEPT_OUTPUT = 20_000  # bytes of stdout/stderr kept for the report (the tail: where tracebacks are)
_RESULT_LIMIT = 4096  # bytes read from the result pipe; the token is 16
_GRACE_S = 0.5  # after the program exits, how long to drain output still held by its children


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


class _Tail:
    """The last ``keep`` bytes written, with a count of all of them."""

    def __init__(self, keep: int) -> None:
        self.keep, self.data, self.total = keep, bytearray(), 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self.data += chunk
        if len(self.data) > 2 * self.keep:
            del self.data[: len(self.data) - self.keep]

    def text(self) -> str:
        return bytes(self.data[-self.keep :]).decode("utf-8", "replace")


def stream(
    proc: subprocess.Popen[bytes], result_r: int, timeout_s: float, output_limit: int
) -> tuple[_Tail, _Tail, bytes, str]:
    """Read stdout, stderr and the result pipe as they come, until all close (or time, or a flood).

    Returns the output tails, the result bytes, and why it stopped early ("" when it did not).
    """
    assert proc.stdout is not None and proc.stderr is not None
    out, err, result = _Tail(KEPT_OUTPUT), _Tail(KEPT_OUTPUT), bytearray()
    sinks = {proc.stdout.fileno(): out, proc.stderr.fileno(): err}
    selector = selectors.DefaultSelector()
    for fd in (*sinks, result_r):
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout_s
    exited_at: float | None = None
    stopped = ""
    try:
        while selector.get_map():
            now = time.monotonic()
            if now >= deadline:
                stopped = "timed out"
                break
            if exited_at is not None and now - exited_at > _GRACE_S:
                break  # children of an exited program still hold the pipes: stop waiting for them
            wait = min(deadline - now, 0.05)
            for key, _ in selector.select(wait):
                fd = int(key.fd)  # type: ignore[call-overload]
                try:
                    chunk = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    selector.unregister(fd)
                elif fd == result_r:
                    result += chunk[: max(0, _RESULT_LIMIT - len(result))]
                else:
                    sinks[fd].add(chunk)
            if out.total + err.total > output_limit:
                stopped = "output flood"
                break
            if exited_at is None and proc.poll() is not None:
                exited_at = time.monotonic()
                kill_group(proc)  # what the program left behind (a fork bomb's leaves)
    finally:
        selector.close()
    return out, err, bytes(result), stopped


def feed(payload: bytes) -> int:
    """The read end of a pipe that delivers ``payload`` once, then EOF.

    A pipe, not a file: once the runner has read it, nothing is left, even for a program that opens
    another process's fd 0 (bubblewrap's init, PID 1 in its box, keeps the stdin it was given).
    """
    read_end, write_end = os.pipe()
    with contextlib.suppress(OSError):  # F_SETPIPE_SZ (Linux): room for the whole payload, no writer thread
        import fcntl

        fcntl.fcntl(write_end, 1031, min(max(len(payload), 65536), 1 << 20))  # 1031 = F_SETPIPE_SZ
    os.set_blocking(write_end, False)
    try:
        written = os.write(write_end, payload)
    except BlockingIOError:
        written = 0
    if written == len(payload):
        os.close(write_end)
        return read_end
    os.set_blocking(write_end, True)

    def write_rest() -> None:  # a payload past the pipe's capacity: written as the runner reads
        with contextlib.suppress(OSError):
            view = memoryview(payload)[written:]
            while view:
                view = view[os.write(write_end, view) :]
        os.close(write_end)

    import threading

    threading.Thread(target=write_rest, daemon=True, name="sandbox-stdin").start()
    return read_end
