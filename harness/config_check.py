"""``posttrain config check``: everything ``posttrain run`` would refuse, found in seconds and before it runs.

Checked, each problem as ``file:line: field: message``:

- the config itself (schema and cross-field rules, :mod:`harness.config`);
- every path it names: present, a regular file (a FIFO, device or socket is refused by name, never
  opened), within the size limit, inside the experiment folder (a symlink placed inside is accepted:
  linking is a deliberate act; ``../../etc/passwd`` in a config someone sent you is not);
- every data file read and checked for its stage, as ``run``'s check stage and the trainer read it
  (:func:`harness.data.check.check_dataset`): SFT rows for ``sft``, pairs for ``dpo``/``reward``,
  prompts for ``grpo``, eval rows for each eval set;
- the fields each eval set's metrics need (``reference`` for exact_match/contains/..., ``tests`` for
  unit_tests, ``choices`` for choice);
- the knowledge folder: present and holding documents;
- the base model: the default installed, a local model directory, or a hub id already in the local
  cache (nothing is downloaded).

Token lengths are not counted here (that loads a tokenizer); ``posttrain data check --max-length`` does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.config import (
    CONFIG_FILE,
    MAPPED_FILES,
    ExperimentConfig,
    _line_of,
    load_config,
    missing_files,
    resolve_path,
)
from posttrain.errors import BadInput

# Row problems listed per file before they are counted; the full list is one `data check` away.
_LISTED = 5
# Which data kind each training method reads, and from which config field.
_STAGE_DATA = (("sft", "sft"), ("dpo", "dpo"), ("reward", "dpo"), ("kto", "kto"), ("grpo", "rl"), ("rloo", "rl"))


@dataclass
class ConfigCheck:
    """What ``config check`` found: errors (exit 2), warnings (exit 1 with ``--strict``), files checked."""

    file: Path
    config: ExperimentConfig
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)


def check_experiment(path: str | Path, max_length: int | None = None) -> ConfigCheck:
    """Run every check on ``experiment.yaml`` (or the folder holding it); see the module doc.

    ``max_length`` also counts tokens (it loads the tokenizer): ``run``'s check stage passes it.
    """
    import yaml

    file = Path(path)
    if file.is_dir():
        file = file / CONFIG_FILE
    config = load_config(file)  # schema errors raise BadInput with file:line here
    text = file.read_text(encoding="utf-8-sig")  # load_config has just read it safely
    node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    result = ConfigCheck(file=file, config=config)

    def at(field_path: str) -> str:
        loc = tuple(int(p) if p.isdigit() else p for p in field_path.split("."))
        return f"{file}:{_line_of(node, loc)}: {field_path}"

    for line in missing_files(config, file):
        field_path, _, message = line.partition(": ")
        result.errors.append(f"{at(field_path)}: {message}")
    missing = {line.partition(": ")[0] for line in missing_files(config, file)}

    exp_dir = file.resolve().parent
    data_files = _data_files(config)
    for field_path, value, _kind in data_files:
        if field_path in missing:
            continue
        problem = _path_problem(file, exp_dir, value, expect_file=True)
        if problem:
            result.errors.append(f"{at(field_path)}: {problem}")
    others: list[tuple[str, str | None]] = [("compute.accelerate_config", config.compute.accelerate_config)]
    others += [(f"rewards.{i}.name", r.name.split(":")[0]) for i, r in enumerate(config.rewards) if ".py:" in r.name]
    for other_field, other in others:  # code and launcher configs: the same refusals as data files
        if other and other_field not in missing and (problem := _path_problem(file, exp_dir, other, expect_file=True)):
            result.errors.append(f"{at(other_field)}: {problem}")
    if config.data.knowledge and "data.knowledge" not in missing:
        problem = _path_problem(file, exp_dir, config.data.knowledge, expect_file=False) or _knowledge_problem(
            resolve_path(file, config.data.knowledge)
        )
        if problem:
            result.errors.append(f"{at('data.knowledge')}: {problem}")
    if result.errors:  # reading a data file that is a FIFO or outside the folder is what we refuse
        return result

    eval_path = resolve_path(file, config.evals[0].path) if config.evals else None
    for field_path, value, kind in data_files:
        local = resolve_path(file, value)
        if local is None or not _looks_local(value):
            continue  # builtin: or a datasets name: the loader checks it when it loads
        overlap = eval_path if kind != "eval" else None
        _check_data(result, at(field_path), local, kind, overlap, field_path, config, max_length)
    for index, eval_set in enumerate(config.evals):
        local = resolve_path(file, eval_set.path)
        if local is not None and _looks_local(eval_set.path):
            _check_metric_fields(result, at(f"evals.{index}.metrics"), local, eval_set)
    if problem := model_problem(config.model, exp_dir):
        result.errors.append(f"{at('model')}: {problem}")
    return result


def _data_files(config: ExperimentConfig) -> list[tuple[str, str, str]]:
    """``(field path, value, kind)`` for every data file the planned stages read."""
    methods = set(config.methods)
    out: list[tuple[str, str, str]] = []
    kinds = {kind for method, kind in _STAGE_DATA if method in methods}
    if "sft" in kinds or config.baselines.few_shot:  # the k-shot baseline draws from data.train too
        out += [(f"data.train.{i}.path", s.path, "sft") for i, s in enumerate(config.data.train)]
    if "dpo" in kinds and config.data.preference:
        out.append(("data.preference", config.data.preference, "dpo"))
    feedback: str | None = getattr(config.data, "feedback", None)  # KTO's unpaired rows, where the schema has it
    unpaired = feedback or config.data.preference
    if "kto" in kinds and unpaired:
        out.append(("data.feedback" if feedback else "data.preference", unpaired, "kto"))
    if "rl" in kinds and config.data.prompts:
        out.append(("data.prompts", config.data.prompts, "rl"))
    if config.data.replay is not None and not config.data.replay.path.startswith("builtin:") and "sft" in kinds:
        out.append(("data.replay.path", config.data.replay.path, "sft"))
    out += [(f"evals.{i}.path", e.path, "eval") for i, e in enumerate(config.evals)]
    return out


def _looks_local(value: str) -> bool:
    # The same rule as harness.config.missing_files: a bare word may be a `datasets` name.
    return "/" in value or Path(value).suffix != ""


def _path_problem(config_file: Path, exp_dir: Path, value: str, expect_file: bool) -> str | None:
    """Why a config path is unsafe to read: a FIFO/device/socket, a directory, too large, outside the folder."""
    from posttrain.safe_files import check_regular_file, data_limit_bytes

    local = resolve_path(config_file, value)
    if local is None or not _looks_local(value):
        return None
    # Lexically, without following links: a link the user placed inside the folder is their choice.
    normal = Path(os.path.normpath(config_file.resolve().parent / local))
    if not normal.is_relative_to(exp_dir):
        return (
            f"{value} lies outside the experiment folder {exp_dir}; copy it in, or place a symlink to it "
            "inside the folder, so the experiment holds what it reads"
        )
    if local.is_dir():
        saved = any((local / name).is_file() for name in ("dataset_info.json", "state.json", "dataset_dict.json"))
        if expect_file and not saved:
            return f"{value} is a directory; name one data file, or a folder written by datasets' save_to_disk"
        return None
    try:  # the same refusals as every reader: not a regular file, or over the size limit (with the variable)
        check_regular_file(local, "data file", data_limit_bytes())
    except BadInput as error:
        return f"{value}: {str(error).removeprefix(f'{local}: ')}"
    return None


def _knowledge_problem(path: Path | None) -> str | None:
    if path is None:
        return None
    from rag_baseline.documents import find_document_files

    try:
        find_document_files(path)
    except BadInput as error:
        return str(error).replace(f"{path}: ", "", 1)
    return None


def _check_data(
    result: ConfigCheck,
    where: str,
    path: Path,
    kind: str,
    eval_path: Path | None,
    field_path: str,
    config: Any,
    max_length: int | None = None,
) -> None:
    from harness.data.check import check_dataset

    source = _source_of(config, field_path)
    try:
        report = check_dataset(
            path,
            kind=kind,
            eval_path=eval_path,
            max_length=max_length,
            columns=getattr(source, "columns", None),
            split=getattr(source, "split", None),
        )
    except BadInput as error:
        result.errors.append(f"{where}: {error}")
        return
    for finding in report.errors[:_LISTED]:
        location = ", ".join(finding.locations[:3]) or str(path)
        result.errors.append(f"{location}: {finding.message}")
    if len(report.errors) > _LISTED:
        result.errors.append(
            f"{where}: … {len(report.errors) - _LISTED} more; run `posttrain data check {path} --kind {kind}`"
        )
    summary = (
        f"{path.name} ({kind}): {report.rows:,} rows, {len(report.errors)} errors, {len(report.warnings)} warnings"
    )
    if report.mapping:
        summary += f" [{report.mapping.split(': ', 1)[-1]}]"
    result.checked.append(summary)
    if report.warnings:
        counts = ", ".join(f"{name} {n}" for name, n in sorted(report.counts().items()) if n)
        result.warnings.append(
            f"{where}: {len(report.warnings)} warnings ({counts}); see `posttrain data check {path}`"
        )


def _source_of(config: ExperimentConfig, field_path: str) -> Any:
    parts = field_path.split(".")
    if parts[:2] == ["data", "train"]:
        return config.data.train[int(parts[2])]
    if parts[0] == "data" and len(parts) == 2 and parts[1] in MAPPED_FILES:
        return config.data.source(parts[1])
    if parts[0] == "evals":
        return config.evals[int(parts[1])]
    return None


def _check_metric_fields(result: ConfigCheck, where: str, path: Path, eval_set: Any) -> None:
    """Each row has what each metric reads: ``reference``, ``tests``, ``choices`` (after its column mapping)."""
    from harness.data.mapping import read_rows
    from harness.evaluation.metrics import METRICS

    try:
        table = read_rows(path, columns=eval_set.columns, split=eval_set.split)
    except BadInput:
        return  # the data check has reported it
    for name in eval_set.metrics:
        metric = METRICS.get(name)
        if metric is None:
            continue
        for needed in metric.needs:
            lacking = [i for i, row in enumerate(table.rows) if row.get(needed) in (None, "", [])]
            if not lacking:
                continue
            shown = ", ".join(table.where(i) for i in lacking[:3])
            more = f" (+{len(lacking) - 3} more)" if len(lacking) > 3 else ""
            result.errors.append(
                f"{where}: metric {name!r} needs field {needed!r}, missing in {len(lacking)} of {len(table.rows)} "
                f"rows: {shown}{more}"
            )


def model_problem(spec: str, exp_dir: Path | None = None) -> str | None:
    """Why the base model cannot be loaded offline, without loading it (None when it can)."""
    from harness.models.default import DEFAULT_MODEL, default_gguf_path, default_model_dir, is_converted

    if spec in (DEFAULT_MODEL, "default", "HuggingFaceTB/SmolLM2-135M-Instruct"):
        if is_converted(default_model_dir()):
            return None
        try:
            default_gguf_path()
        except BadInput as error:
            return str(error)
        return None
    path = Path(spec).expanduser()
    candidates = [path] if path.is_absolute() else [path, *([exp_dir / path] if exp_dir else [])]
    for candidate in candidates:
        if candidate.exists():
            if not (candidate / "config.json").is_file():
                return f"{spec}: the directory has no config.json; is it a Hugging Face model?"
            return None
    if spec.count("/") == 1 and not spec.startswith((".", "/")):
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(spec, "config.json")
        except Exception:  # a malformed id
            cached = None
        if isinstance(cached, str):
            return None
        if os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "TRUE", "yes"):
            return f"{spec}: not in the local Hugging Face cache and HF_HUB_OFFLINE is set; download it first"
        return None  # online: the run downloads it (not checked here, nothing is fetched)
    return f"{spec}: no such model directory, and not a hub id; use '{DEFAULT_MODEL}', a model directory or org/name"
