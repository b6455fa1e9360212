"""Progress while indexing: documents read, chunks embedded, chunks/s and time left.

On a terminal a rich progress bar (cleared when done); when stderr is piped or captured (CI, logs,
``posttrain run > log``) one plain line every ``interval_s`` seconds — 10 s by default, or
``POSTTRAIN_PROGRESS_INTERVAL`` — so a long index never looks hung and a log stays short. Messages
(skipped files) are printed in both modes.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

DEFAULT_INTERVAL_S = 10.0
INTERVAL_ENV = "POSTTRAIN_PROGRESS_INTERVAL"


class IndexProgress:
    """Reports the two phases of an index build: reading documents, then embedding chunks."""

    def __init__(self, stream: TextIO | None = None, interval_s: float | None = None, enabled: bool = True):
        self.stream = stream or sys.stderr
        if interval_s is None:
            try:
                interval_s = float(os.environ.get(INTERVAL_ENV, DEFAULT_INTERVAL_S))
            except ValueError:
                interval_s = DEFAULT_INTERVAL_S
        self.interval_s = interval_s
        self.enabled = enabled
        self._tty = enabled and _is_tty(self.stream)
        self._bar: Any = None
        self._task: Any = None
        self._phase = ""
        self._total = 0
        self._done = 0
        self._chunks_read = 0
        self._started = 0.0
        self._last_line = 0.0
        self.seconds: dict[str, float] = {}  # wall time of each finished phase

    @classmethod
    def quiet(cls) -> IndexProgress:
        """A reporter that prints nothing (library use, tests)."""
        return cls(enabled=False)

    def note(self, message: str) -> None:
        """A one-off message, such as a skipped file."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.console.print(message, markup=False, highlight=False)
        else:
            print(message, file=self.stream, flush=True)

    def start(self, phase: str, total: int) -> None:
        """Begin ``phase`` ("reading" documents or "embedding" chunks) of ``total`` items."""
        self.finish()
        self._phase, self._total, self._done = phase, total, 0
        self._started = self._last_line = time.perf_counter()
        if not self.enabled or not self._tty:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        unit = "documents" if phase == "reading" else "chunks"
        self._bar = Progress(
            TextColumn(f"[bold]{phase}[/] {unit}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeRemainingColumn(),
            console=Console(file=self.stream),
            transient=True,
        )
        self._bar.start()
        self._task = self._bar.add_task(phase, total=total, detail="")

    def advance(self, items: int, chunks: int = 0) -> None:
        """``items`` more done; while reading, ``chunks`` is how many chunks they gave."""
        self._done += items
        self._chunks_read += chunks
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=self._done, detail=self._detail())
            return
        now = time.perf_counter()
        if now - self._last_line >= self.interval_s and self._done < self._total:
            self._last_line = now
            print(self.line(), file=self.stream, flush=True)

    def line(self) -> str:
        """The plain progress line, e.g. ``indexing: embedded 4,096/10,601 chunks, 61 chunks/s, ~1.8 min left``."""
        elapsed = max(time.perf_counter() - self._started, 1e-9)
        if self._phase == "reading":
            return f"indexing: read {self._done:,}/{self._total:,} documents ({self._chunks_read:,} chunks so far)"
        rate = self._done / elapsed
        left = (self._total - self._done) / rate if rate > 0 else float("inf")
        eta = f"~{left / 60:.1f} min left" if left >= 90 else f"~{left:.0f} s left"
        return f"indexing: embedded {self._done:,}/{self._total:,} chunks, {rate:.0f} chunks/s, {eta}"

    def _detail(self) -> str:
        if self._phase == "reading":
            return f"{self._chunks_read:,} chunks"
        elapsed = max(time.perf_counter() - self._started, 1e-9)
        return f"{self._done / elapsed:.0f} chunks/s"

    def finish(self) -> None:
        """Close the current phase (and its bar)."""
        if self._phase and self._phase not in self.seconds:
            self.seconds[self._phase] = elapsed = time.perf_counter() - self._started
            # A closing line for a phase long enough to have earned progress lines, so a log shows its rate.
            if self.enabled and not self._tty and self._total and elapsed >= self.interval_s:
                print(self.line(), file=self.stream, flush=True)
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
