"""The report: statistics, forgetting deltas, Markdown and self-contained HTML.

``write_report(run_dir)`` is the entry point ``posttrain run`` calls last; it returns
``ReportPaths(data, markdown, html)``. Imports stay lazy so ``posttrain --help`` loads nothing here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.report.render import ReportPaths


def write_report(run_dir: str | Path, out_dir: str | Path | None = None) -> ReportPaths:
    """Collect ``run_dir`` and write ``report.md`` and ``report.html``; see :mod:`harness.report.render`."""
    from harness.report.render import write_report as _write_report

    return _write_report(run_dir, out_dir)


__all__ = ["write_report"]
