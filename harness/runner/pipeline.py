"""``posttrain run``: the stages in order, skipping what is done, resuming what was interrupted."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.runner.context import RunContext, open_run, write_provenance
from harness.runner.manifest import Manifest, hash_json
from harness.runner.stages import STAGE_NAMES, STAGES, Stage, stage_named
from posttrain.errors import BadInput


@dataclass
class StageOutcome:
    name: str
    status: str  # ran | skipped | disabled
    wall_s: float = 0.0
    cpu_s: float = 0.0  # user + sys of this process and its children: comparable on a loaded machine


@dataclass
class RunResult:
    run_dir: Path
    outcomes: list[StageOutcome] = field(default_factory=list)

    @property
    def report_html(self) -> Path:
        return self.run_dir / "report.html"


def select_stages(only: list[str] | None, start: str | None, force: list[str] | None) -> tuple[set[str], set[str]]:
    """Which stages may run and which must rerun even when unchanged.

    >>> sorted(select_stages(["train"], None, None)[0])
    ['train']
    >>> run, forced = select_stages(None, "tuned", None)
    >>> sorted(run), sorted(forced)
    (['forgetting', 'report', 'tuned'], ['forgetting', 'report', 'tuned'])
    """
    for name in [*(only or []), *([start] if start else []), *(force or [])]:
        stage_named(name)
    selected = set(only) if only else set(STAGE_NAMES)
    forced = set(force or [])
    if start:
        after = STAGE_NAMES[STAGE_NAMES.index(start) :]
        selected &= set(after)
        forced |= set(after)
    return selected, forced


def stage_hash(ctx: RunContext, stage: Stage) -> str:
    """Own inputs plus when each upstream stage last finished: a rerun upstream reruns downstream."""
    upstream = {dep: ctx.manifest.stages.get(dep, {}).get("finished") for dep in stage.reads}
    return hash_json({"inputs": stage.inputs(ctx), "upstream": upstream})


def run_experiment(
    exp_dir: Path,
    only: list[str] | None = None,
    start: str | None = None,
    force: list[str] | None = None,
    new_run: bool = False,
    say: Callable[[str], None] = print,
) -> RunResult:
    """Run an experiment folder's stages into ``runs/<id>/`` (the latest run unless ``new_run``)."""
    from harness.quiet import bars_only_on_a_terminal, quiet_libraries

    quiet_libraries()
    selected, forced = select_stages(only, start, force)
    config, run_dir, identity = open_run(exp_dir, new=new_run, say=say)
    ctx = RunContext(exp_dir=exp_dir.resolve(), config=config, run_dir=run_dir, manifest=Manifest(run_dir), say=say)
    ctx.manifest.set_identity(identity)
    write_provenance(ctx)
    result = RunResult(run_dir=run_dir)
    for stage in STAGES:
        if not stage.enabled(ctx):
            # Outputs of a stage the config no longer asks for are not current: the report leaves them out.
            if ctx.manifest.stages.get(stage.name, {}).get("status") == "done":
                ctx.manifest.set_status(stage.name, "disabled")
            result.outcomes.append(StageOutcome(stage.name, "disabled"))
            continue
        if stage.name not in selected:
            _mark_if_outdated(ctx, stage)
            continue
        missing = [d for d in stage.depends if _needed(ctx, d) and not _finished(ctx, d)]
        if missing:
            raise BadInput(f"stage {stage.name} needs {', '.join(missing)} first; run `posttrain run` without --only")
        digest = stage_hash(ctx, stage)
        if stage.name not in forced and ctx.manifest.is_done(stage.name, digest):
            say(f"[dim]✓ {stage.name}: unchanged, skipped[/]")
            result.outcomes.append(StageOutcome(stage.name, "skipped"))
            continue
        say(f"[bold]▶ {stage.name}[/]: {stage.description}")
        previous = ctx.manifest.stages.get(stage.name)
        if previous and (previous.get("hash") != digest or stage.name in forced):
            set_aside(ctx, stage)  # same hash and unfinished: an interrupted run, which resumes instead
        ctx.manifest.mark(stage.name, digest, "running")
        ctx.stage, ctx.digest = stage.name, digest
        started, cpu_started = time.perf_counter(), _cpu_seconds()
        with bars_only_on_a_terminal():
            stage.run(ctx)
        _release_memory()
        wall, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_started
        ctx.manifest.mark(stage.name, digest, "done", wall_s=round(wall, 2), cpu_s=round(cpu, 2))
        result.outcomes.append(StageOutcome(stage.name, "ran", round(wall, 2), round(cpu, 2)))
        say(f"[dim]  {stage.name} done in {wall:.0f} s ({cpu:.0f} s CPU)[/]")
    return result


def _release_memory() -> None:
    """What a stage leaves behind goes before the next starts: the eval model it kept, freed heap pages.

    The demo's SFT stage started with the baselines' model still loaded (540 MB) and peaked ~0.5 GB higher.
    """
    from harness.allocator import return_freed_memory

    runner = sys.modules.get("harness.evaluation.runner")  # imported only if a stage evaluated
    if runner is not None:
        runner.release_loaded()
    return_freed_memory()


def set_aside(ctx: RunContext, stage: Stage) -> None:
    """Move the stage's earlier outputs to ``superseded/<folder>-<time>/``: stale, but not ours to delete."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for folder in stage.outputs:
        path = ctx.run_dir / folder
        if not path.exists():
            continue
        target, n = ctx.run_dir / "superseded" / f"{folder}-{stamp}", 1
        while target.exists():  # twice in one second (tests do that)
            n += 1
            target = target.with_name(f"{folder}-{stamp}-{n}")
        target.parent.mkdir(exist_ok=True)
        path.rename(target)
        ctx.say(f"  starting afresh: the earlier {folder}/ is kept as {target.relative_to(ctx.run_dir)}/")


def _mark_if_outdated(ctx: RunContext, stage: Stage) -> None:
    """A stage left out by --only/--from whose inputs changed since it ran no longer counts as done."""
    entry = ctx.manifest.stages.get(stage.name)
    if entry and entry.get("status") == "done" and entry.get("hash") != stage_hash(ctx, stage):
        ctx.manifest.set_status(stage.name, "outdated")
        ctx.say(f"[yellow]! {stage.name}[/]: its inputs changed since it ran; its results are left out until it reruns")


def _cpu_seconds() -> float:
    """CPU time used so far by this process and its finished children (user + sys)."""
    import os

    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _needed(ctx: RunContext, name: str) -> bool:
    return stage_named(name).enabled(ctx)


def _finished(ctx: RunContext, name: str) -> bool:
    return ctx.manifest.stages.get(name, {}).get("status") == "done"
