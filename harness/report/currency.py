"""Which outputs of a run the report may use: those made by the run's current stage entries.

``posttrain run`` stamps every output folder with the stage that made it and the hash of that
stage's inputs (``stage.json``), and keeps the latest hash and status of each stage in
``manifest.json``. An output is current when its stamp equals a finished stage's entry; anything
else — results of earlier settings, an eval set since renamed, a variant the config no longer asks
for, a stage that was interrupted — is left out of the report and listed as stale.

A run directory whose manifest records no experiment identity (made by hand, or before stamps
existed) is read as it is: there is nothing to match its outputs against.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.runner.manifest import MANIFEST, read_json_file, read_stamp


class CurrentOutputs:
    """Decides, folder by folder, whether an output belongs to the run's current state."""

    def __init__(self, run: Path):
        self.run = run
        self.stages: dict[str, Any] | None = None
        self.stale: list[str] = []  # "relative/folder: why", in the order met
        file = run / MANIFEST
        if file.is_file():
            raw = read_json_file(file, "run manifest")
            stages = raw.get("stages") if isinstance(raw, dict) else None
            if isinstance(stages, dict) and isinstance(raw.get("identity"), dict):
                self.stages = stages

    @property
    def checked(self) -> bool:
        return self.stages is not None

    def why_stale(self, folder: Path) -> str | None:
        """``None`` when ``folder`` is current, else the reason in words."""
        if self.stages is None:
            return None
        stamp = read_stamp(folder)
        if stamp is None:
            return "no record of the inputs that made it"
        stage = str(stamp.get("stage"))
        entry = self.stages.get(stage)
        if not isinstance(entry, dict):
            return f"its stage '{stage}' is not in the manifest"
        status = entry.get("status")
        if status == "disabled":
            return f"the config no longer runs the {stage} stage"
        if status == "outdated":
            return f"the {stage} stage's inputs changed since it ran"
        if status != "done":
            return f"the {stage} stage has not finished ({status})"
        if entry.get("hash") != stamp.get("inputs"):
            return f"made by an earlier {stage} stage, with other settings than its latest run"
        return None

    def keep(self, folder: Path) -> bool:
        """Whether to use ``folder``; a stale one is recorded in :attr:`stale`."""
        reason = self.why_stale(folder)
        if reason is not None:
            self.stale.append(f"{folder.relative_to(self.run).as_posix()}: {reason}")
        return reason is None

    def not_run(self) -> list[str]:
        """Reasons recorded by the current stages for variants that could not run (k-shot, RAG)."""
        reasons = []
        eval_dir = self.run / "eval"
        for folder in sorted(p for p in eval_dir.iterdir() if p.is_dir()) if eval_dir.is_dir() else []:
            stamp = read_stamp(folder)
            if stamp and stamp.get("not_run") and self.why_stale(folder) is None:
                reasons.append(str(stamp["not_run"]))
        return reasons

    def note(self) -> str | None:
        """One short line for the report, naming what was left out."""
        if not self.stale:
            return None
        names = ", ".join(line.split(":", 1)[0] for line in self.stale)
        return f"Left out as stale (not made by this run's current settings): {names}."
