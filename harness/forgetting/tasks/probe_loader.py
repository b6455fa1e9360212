"""Loads the shipped probe's JSONL files for lm-eval (``custom_dataset: !function probe_loader.load``).

lm-eval resolves ``data_files`` against the working directory, not the YAML's folder; loading the
file here, relative to this module, lets the probe run from any directory and never touches the
Hugging Face datasets cache.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def load(file: str, **_: Any) -> Any:
    """Return ``DatasetDict({"test": rows})`` for one probe file; extra metadata keys are ignored."""
    import datasets

    rows = [json.loads(line) for line in (HERE / file).read_text(encoding="utf-8").splitlines() if line.strip()]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})
