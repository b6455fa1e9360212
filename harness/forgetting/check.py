"""Run lm-eval on the base model and on base + adapter, item by item, and report each task's delta.

The shipped probe (``tasks/``: group ``posttrain_general``) runs offline; any other lm-eval task
name passes through to lm-eval and needs its dataset to be reachable. Both runs see the same items
in the same order, so the comparison is paired: the delta's interval comes from a paired bootstrap
and its p-value from McNemar's exact test on the items that changed.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.forgetting.schema import ForgettingResult, TaskAccuracy, TaskDelta
from harness.stats import compare_paired
from posttrain.errors import BadInput, CheckFailed

if TYPE_CHECKING:
    from harness.models.device import Placement

PROBE_GROUP = "posttrain_general"
PROBE_TASKS_DIR = Path(__file__).resolve().parent / "tasks"
# Outputs closer than this are "identical": an adapter whose B matrices are zero adds exact
# zeros, while a trained one moves log-likelihoods by far more than float rounding (~1e-7).
IDENTICAL_TOLERANCE = 1e-6


class AdapterNotApplied(CheckFailed):
    """Base and adapter gave identical outputs on every item: the adapter did nothing."""


def run_forgetting_check(
    model: str | Path,
    adapter: str | Path,
    tasks: Sequence[str] = (PROBE_GROUP,),
    limit: int | None = None,
    out_dir: str | Path | None = None,
    batch_size: int = 16,
    device: str = "auto",
    precision: str = "auto",
) -> ForgettingResult:
    """Evaluate ``model`` with and without ``adapter`` on ``tasks``; write ``forgetting.json`` to ``out_dir``.

    ``adapter`` is a PEFT adapter dir, or a full model dir trained elsewhere that replaces ``model``. Both runs
    go where :func:`harness.models.device.resolve_placement` says for ``device`` / ``precision``.
    Raises :class:`AdapterNotApplied` when the two runs gave identical log-likelihoods on every item.
    """
    from harness.models import resolve_model
    from harness.models.device import resolve_placement

    model_dir = resolve_model(str(model))
    adapter_dir = Path(adapter)
    full_model = (adapter_dir / "config.json").is_file() and not (adapter_dir / "adapter_config.json").is_file()
    if not (adapter_dir / "adapter_config.json").is_file() and not full_model:
        raise BadInput(f"{adapter_dir}: no adapter_config.json; pass the PEFT adapter directory of a training run")
    placement = resolve_placement(device, precision, purpose="infer")
    manager = _task_manager(tasks)
    _check_datasets(tasks, manager)  # fail on an unreachable dataset before loading any model
    base = _evaluate(model_dir, None, tasks, limit, manager, batch_size, placement)
    if full_model:
        tuned = _evaluate(adapter_dir, None, tasks, limit, manager, batch_size, placement)
    else:
        tuned = _evaluate(model_dir, adapter_dir, tasks, limit, manager, batch_size, placement)
    result = compare_runs(base, tuned)
    update = {"model": str(model_dir), "adapter": str(adapter_dir), "limit": limit, "ran_on": placement.line()}
    result = result.model_copy(update=update)
    if out_dir is not None:
        write_result(result, Path(out_dir))
        _write_items(base, tuned, Path(out_dir) / "items.jsonl")
    return result


ItemRows = dict[str, list[tuple[float, list[Any]]]]  # task -> [(correct 0/1, raw outputs)] by doc_id


def compare_runs(base: ItemRows, tuned: ItemRows) -> ForgettingResult:
    """Pair items by task and position; raise when nothing differs. Pure.

    >>> base = {"t": [(1.0, [-1.0, -2.0]), (0.0, [-3.0, -1.0])]}
    >>> tuned = {"t": [(0.0, [-2.5, -2.0]), (0.0, [-3.0, -1.5])]}
    >>> r = compare_runs(base, tuned)
    >>> r.tasks["t"].base.acc, r.tasks["t"].tuned.acc, r.tasks["t"].delta
    (0.5, 0.0, -0.5)
    >>> compare_runs(base, base)
    Traceback (most recent call last):
    ...
    harness.forgetting.check.AdapterNotApplied: adapter was not applied: ...
    """
    if set(base) != set(tuned):
        raise CheckFailed(f"the base and adapter runs scored different tasks: {sorted(base)} vs {sorted(tuned)}")
    changed, items = 0, 0
    rows: dict[str, TaskDelta] = {}
    all_a: list[float] = []
    all_b: list[float] = []
    for task in sorted(base):
        pairs = list(zip(base[task], tuned[task], strict=True))
        a = [p[0][0] for p in pairs]
        b = [p[1][0] for p in pairs]
        changed += sum(_differs(x[1], y[1]) for x, y in pairs)
        items += len(pairs)
        rows[task] = _delta(a, b)
        all_a += a
        all_b += b
    if changed == 0:
        raise AdapterNotApplied(
            f"adapter was not applied: base and adapter gave identical log-likelihoods on all {items} items "
            "of the forgetting check; check that the adapter directory holds trained weights "
            "(adapter_model.safetensors) for this base model"
        )
    return ForgettingResult(tasks=rows, adapter_applied=True, overall=_delta(all_a, all_b) if len(rows) > 1 else None)


def _delta(a: list[float], b: list[float]) -> TaskDelta:
    paired, _test = compare_paired(a, b)
    n = len(a)
    return TaskDelta(
        base=TaskAccuracy(acc=sum(a) / n, n=n),
        tuned=TaskAccuracy(acc=sum(b) / n, n=n),
        delta=paired.difference,
        ci95=paired.ci95,
        p_value=paired.p,
    )


def _differs(x: list[Any], y: list[Any]) -> bool:
    if len(x) != len(y):
        return True
    for u, v in zip(x, y, strict=True):
        if isinstance(u, float) and isinstance(v, float):
            if abs(u - v) > IDENTICAL_TOLERANCE:
                return True
        elif u != v:
            return True
    return False


def write_result(result: ForgettingResult, out_dir: Path) -> Path:
    """Write ``forgetting.json`` atomically (a crash never leaves half a file)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "forgetting.json"
    staging = path.with_suffix(".json.tmp")
    staging.write_text(json.dumps(result.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
    os.replace(staging, path)
    return path


def _write_items(base: ItemRows, tuned: ItemRows, path: Path) -> None:
    with path.open("w", encoding="utf-8") as out:
        for task in sorted(base):
            for doc_id, (x, y) in enumerate(zip(base[task], tuned[task], strict=True)):
                out.write(json.dumps({"task": task, "doc_id": doc_id, "base": x[0], "tuned": y[0]}) + "\n")


@functools.cache
def _manager(include_paths: tuple[str, ...], include_defaults: bool) -> Any:
    from lm_eval.tasks import TaskManager

    # Indexing all of lm-eval's task YAMLs takes 10-60 s, so it happens at most once per process.
    return TaskManager(include_path=list(include_paths), include_defaults=include_defaults)


def _task_manager(tasks: Sequence[str]) -> Any:
    """A TaskManager that knows the shipped probe and ``tasks``, indexing no more of lm-eval than needed."""
    from harness.forgetting.task_index import never_named, task_folders, task_names

    _quiet_lm_eval()
    if not tasks:
        raise BadInput(f"forgetting.tasks: empty; list lm-eval tasks such as '{PROBE_GROUP}'")
    local = _manager((str(PROBE_TASKS_DIR),), False)
    if all(t in local.all_tasks for t in tasks):
        return local
    public = [t for t in tasks if t not in local.all_tasks]
    folders = task_folders(public)  # plain public tasks: only their own folders are indexed
    if folders is not None:
        narrow = _manager((str(PROBE_TASKS_DIR), *folders), False)
        if all(t in narrow.all_tasks for t in tasks):
            return narrow
    # A name no task file mentions is unknown without indexing; groups and tags need lm-eval's full index.
    unknown = [t for t in public if never_named(t)]
    manager = None if unknown else _manager((str(PROBE_TASKS_DIR),), True)
    if manager is not None:
        unknown = [t for t in tasks if t not in manager.all_tasks]
    if unknown:
        import difflib

        names = [*local.all_tasks, *task_names()] if manager is None else list(manager.all_tasks)
        hints = [f"{t} (did you mean {', '.join(difflib.get_close_matches(t, names, 3)) or '-'}?)" for t in unknown]
        raise BadInput(f"forgetting.tasks: unknown lm-eval task {'; '.join(hints)}; '{PROBE_GROUP}' runs offline")
    return manager


def _check_datasets(tasks: Sequence[str], manager: Any) -> None:
    from lm_eval.tasks import get_task_dict

    try:
        get_task_dict(list(tasks), manager)
    except Exception as error:  # datasets raises ConnectionError, FileNotFoundError, DatasetNotFoundError ...
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise BadInput(
            f"forgetting.tasks {', '.join(tasks)}: the dataset could not be loaded ({first}); connect to the "
            f"network once to cache it, or use '{PROBE_GROUP}' (shipped, offline)"
        ) from None


def _evaluate(
    model_dir: Path,
    adapter: Path | None,
    tasks: Sequence[str],
    limit: int | None,
    manager: Any,
    batch_size: int,
    placement: Placement,
) -> ItemRows:
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(
        pretrained=str(model_dir),
        peft=str(adapter) if adapter else None,
        batch_size=batch_size,
        device=placement.device,
        dtype=placement.dtype,
    )
    try:
        with _skip_environment_probe():
            output: Any = simple_evaluate(
                model=lm,
                tasks=list(tasks),
                task_manager=manager,
                limit=limit,
                log_samples=True,
                bootstrap_iters=0,  # our own paired statistics replace lm-eval's unpaired stderr
                random_seed=0,
                numpy_random_seed=0,
                torch_random_seed=0,
                fewshot_random_seed=0,
            )
    finally:
        del lm
    if output is None:
        raise CheckFailed("lm-eval returned no results (non-main process?)")
    return {task: _items(samples) for task, samples in output["samples"].items()}


def _items(samples: list[dict[str, Any]]) -> list[tuple[float, list[Any]]]:
    """(correct, outputs) per document, in doc_id order; one filter per task (the first lm-eval ran)."""
    first_filter = samples[0].get("filter") if samples else None
    rows = []
    for sample in sorted((s for s in samples if s.get("filter") == first_filter), key=lambda s: s["doc_id"]):
        metric = sample["metrics"][0]  # acc for multiple choice, exact_match for generation
        outputs = [r[0] if isinstance(r, (list, tuple)) else r for r in sample["filtered_resps"]]
        rows.append((float(sample[metric]), outputs))
    return rows


@contextlib.contextmanager
def _skip_environment_probe() -> Iterator[None]:
    """Leave out what lm-eval adds to its results after each evaluation and posttrain never reads.

    That is the working directory's git commit (git prints "fatal: not a git repository" outside one)
    and torch's environment report (1.3 s of subprocesses here); a run's versions.json records the
    versions instead.
    """
    import lm_eval.evaluator as evaluator

    saved = evaluator.get_git_commit_hash, evaluator.add_env_info
    evaluator.get_git_commit_hash = lambda: None
    evaluator.add_env_info = lambda storage: None
    try:
        yield
    finally:
        evaluator.get_git_commit_hash, evaluator.add_env_info = saved


def _quiet_lm_eval() -> None:
    # lm-eval logs each task's set-up at INFO and warns about the custom loader; only errors matter here.
    for name in ("lm_eval", "lm-eval", "lm_eval.api.task", "lm_eval.evaluator"):
        logging.getLogger(name).setLevel(logging.ERROR)
