"""What sits beside every adapter: ``train_summary.json`` and ``provenance.json`` (config, versions, data)."""

from __future__ import annotations

import importlib.metadata
import json
import platform
import time
from pathlib import Path
from typing import Any

from harness.training.callbacks import TrainSummary
from harness.training.request import TrainRequest

PACKAGES = ("posttrain", "torch", "transformers", "trl", "peft", "accelerate", "datasets")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape a training run ("missing" when absent)."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "missing"
    return versions


def write_outputs(request: TrainRequest, out: Path, summary: TrainSummary, **extra: Any) -> None:
    """Write the summary and the provenance; the summary last, since its presence marks a finished run."""
    from harness.models import resolve_model
    from harness.training.prepare import data_hashes

    provenance = {
        "fingerprint": request.fingerprint(),
        "request": request.model_dump(mode="json"),
        "model_path": str(resolve_model(request.model)),
        "versions": package_versions(),
        "data_hashes": data_hashes(request),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **extra,
    }
    if any(spec.name == "unit_tests" for spec in request.rewards):  # the reward ran model-written code
        from harness.evaluation.sandbox_modes import isolation_level

        provenance["sandbox"] = isolation_level()
    (out / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
    (out / "train_summary.json").write_text(summary.model_dump_json(indent=2) + "\n", encoding="utf-8")
