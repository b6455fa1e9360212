"""The stages of ``posttrain run``, in order, each with the inputs that decide whether it reruns.

check → baselines → train → tuned → forgetting → report. A stage's hash covers its own inputs and
when its upstream stages last finished, so a changed config reruns exactly what depends on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.quiet import no_progress_bars
from harness.runner.context import RunContext
from posttrain.errors import BadInput


@dataclass(frozen=True)
class Stage:
    name: str
    description: str
    depends: tuple[str, ...]  # must have finished first
    inputs: Callable[[RunContext], dict[str, Any]]
    run: Callable[[RunContext], None]
    enabled: Callable[[RunContext], bool] = lambda ctx: True
    # Folders of the run this stage writes and resumes from; when its inputs change (or it is forced)
    # the earlier ones are set aside, so the new settings start afresh and nothing is deleted.
    outputs: tuple[str, ...] = ()

    @property
    def reads(self) -> tuple[str, ...]:
        """Upstream stages whose outputs this one reads; 'check' only gates, it produces nothing read."""
        return tuple(d for d in self.depends if d != "check")


# ---- inputs -------------------------------------------------------------------------------------


def _eval_inputs(ctx: RunContext) -> list[dict[str, Any]]:
    return [e.model_dump() | {"hash": ctx.data_hash(e.path)} for e in ctx.config.evals]


def _check_inputs(ctx: RunContext) -> dict[str, Any]:
    data = ctx.config.data
    return {
        "train": [ctx.data_hash(s.path) for s in data.train],
        "preference": ctx.data_hash(data.preference),
        "prompts": ctx.data_hash(data.prompts),
        "evals": [ctx.data_hash(e.path) for e in ctx.config.evals],
        "methods": ctx.config.methods,
    }


def _baseline_inputs(ctx: RunContext) -> dict[str, Any]:
    cfg = ctx.config
    return {
        "model": cfg.model,
        "evals": _eval_inputs(ctx),
        "baselines": cfg.baselines.model_dump(),
        "train": [ctx.data_hash(s.path) for s in cfg.data.train],  # k-shot examples come from here
        "knowledge": ctx.data_hash(cfg.data.knowledge),
    }


def _train_inputs(ctx: RunContext) -> dict[str, Any]:
    cfg = ctx.config
    rewards_file = ctx.exp_dir / "rewards.py"
    return {
        "model": cfg.model,
        "methods": cfg.methods,
        "lora": cfg.lora.model_dump(),
        "training": cfg.training.model_dump(exclude={"max_steps"}),  # more steps continue the same run
        "train": [(s.path, s.weight, ctx.data_hash(s.path)) for s in cfg.data.train],
        "preference": ctx.data_hash(cfg.data.preference),
        "prompts": ctx.data_hash(cfg.data.prompts),
        "replay": cfg.data.replay.model_dump() if cfg.data.replay else None,
        "rewards": [r.model_dump() for r in cfg.rewards],
        "rewards_py": ctx.data_hash(str(rewards_file)) if rewards_file.is_file() else None,
        "system_prompt": cfg.baselines.system_prompt,
    }


def _tuned_inputs(ctx: RunContext) -> dict[str, Any]:
    cfg = ctx.config
    return {
        "model": cfg.model,
        "evals": _eval_inputs(ctx),
        "system_prompt": cfg.baselines.system_prompt,
        "rag": cfg.baselines.rag.model_dump(),
        "knowledge": ctx.data_hash(cfg.data.knowledge),
    }


def _forgetting_inputs(ctx: RunContext) -> dict[str, Any]:
    return {"model": ctx.config.model, "forgetting": ctx.config.forgetting.model_dump()}


def _report_inputs(ctx: RunContext) -> dict[str, Any]:
    return {"advised": ctx.config.advised.model_dump() if ctx.config.advised else None}


# ---- runs ---------------------------------------------------------------------------------------


def run_check(ctx: RunContext) -> None:
    """Check every data file; any error stops the run here, before baselines or training."""
    from harness.data.check import check_dataset

    cfg = ctx.config
    eval_path = ctx.path(cfg.evals[0].path)
    files: list[tuple[str, str, Path | None]] = []
    if "sft" in cfg.methods:
        files += [("sft", s.path, ctx.path(s.path)) for s in cfg.data.train]
    if {"dpo", "reward"} & set(cfg.methods):
        files.append(("dpo", str(cfg.data.preference), ctx.path(cfg.data.preference)))
    if "grpo" in cfg.methods:
        files.append(("rl", str(cfg.data.prompts), ctx.path(cfg.data.prompts)))
    files += [("eval", e.path, ctx.path(e.path)) for e in cfg.evals]
    problems: list[str] = []
    for kind, raw, path in files:
        if path is None:  # builtin: or a datasets name; the loader checks it when it loads
            continue
        overlap = eval_path if kind != "eval" else None
        report = check_dataset(path, kind=kind, eval_path=overlap, max_length=cfg.training.max_length)
        for finding in report.errors:
            where = ", ".join(finding.locations[:3]) or raw
            problems.append(f"{where}: {finding.message}")
        warnings = len(report.warnings)
        ctx.say(f"  data check {raw} ({kind}): {report.rows} rows, {len(report.errors)} errors, {warnings} warnings")
    if problems:
        raise BadInput("data check failed; nothing was trained:\n" + "\n".join(problems))


def _retriever(ctx: RunContext) -> tuple[Any, str] | None:
    knowledge = ctx.path(ctx.config.data.knowledge)
    if knowledge is None:
        return None
    from rag_baseline.index import build_index
    from rag_baseline.retrieve import Retriever

    rag = ctx.config.baselines.rag
    store = ctx.exp_dir / ".posttrain" / "rag"
    info = build_index(knowledge, store, rag.chunk_size, rag.chunk_overlap, chroma_url=rag.chroma_url)
    return Retriever(store, chroma_url=rag.chroma_url), f"docs:{info.fingerprint}"


def _evaluate_variants(ctx: RunContext, variants: list[tuple[str, dict[str, Any]]]) -> None:
    from harness.evaluation.runner import EvalRequest, evaluate

    cfg = ctx.config
    for variant, extra in variants:
        for spec in cfg.evals:
            request = EvalRequest(
                data=str(ctx.path(spec.path)),
                model=cfg.model,
                metrics=spec.metrics,
                variant=variant,  # type: ignore[arg-type]
                eval_set=spec.name,
                system_prompt=cfg.baselines.system_prompt,
                limit=spec.limit,
                max_new_tokens=spec.max_new_tokens,
                seed=cfg.training.seed,
                out=str(ctx.stage_dir("eval", variant, spec.name)),
                **extra,
            )
            summary = evaluate(request)
            scores = ", ".join(
                f"{m} {s.mean:.3f} [{s.ci95[0]:.2f}, {s.ci95[1]:.2f}]" for m, s in summary.metrics.items()
            )
            ctx.say(f"  {variant:<9} {spec.name}: {scores}")


def run_baselines(ctx: RunContext) -> None:
    cfg = ctx.config
    variants: list[tuple[str, dict[str, Any]]] = [("prompt", {})]
    train = [ctx.path(s.path) for s in cfg.data.train]
    if cfg.baselines.few_shot > 0 and train and train[0] is not None:
        variants.append(("kshot", {"few_shot": cfg.baselines.few_shot, "train": str(train[0])}))
    retriever = _retriever(ctx)
    if retriever is not None:
        variants.append(
            ("rag", {"retriever": retriever[0], "retriever_id": retriever[1], "top_k": cfg.baselines.rag.top_k})
        )
    _evaluate_variants(ctx, variants)


def run_train(ctx: RunContext) -> None:
    from harness.config import TrainSource, resolved_rewards
    from harness.training import train
    from harness.training.request import TrainRequest

    cfg = ctx.config
    previous: Path | None = None
    for method in cfg.methods:
        if method == "sft":
            sources = [TrainSource(path=str(ctx.path(s.path) or s.path), weight=s.weight) for s in cfg.data.train]
        elif method in ("dpo", "reward"):
            sources = [TrainSource(path=str(ctx.path(cfg.data.preference)))]
        else:
            sources = [TrainSource(path=str(ctx.path(cfg.data.prompts)))]
        out = ctx.run_dir / "train" / method
        request = TrainRequest(
            method=method,
            model=cfg.model,
            data=sources,
            out=str(out),
            adapter=str(previous) if previous is not None and method != "reward" else None,
            system_prompt=cfg.baselines.system_prompt,
            lora=cfg.lora,
            training=cfg.training.for_method(method),
            rewards=resolved_rewards(cfg.rewards, ctx.run_dir / "train" / "reward"),
            replay=cfg.data.replay if method == "sft" else None,
            compute=cfg.compute,
            base_dir=str(ctx.exp_dir),
        )
        summary = train(request)
        ctx.say(f"  {summary.line()}")
        if method != "reward":
            previous = out


def run_tuned(ctx: RunContext) -> None:
    adapter = ctx.final_adapter
    if adapter is None:
        ctx.say("  no training planned; nothing to evaluate")
        return
    variants: list[tuple[str, dict[str, Any]]] = [("tuned", {"adapter": str(adapter)})]
    retriever = _retriever(ctx)
    if retriever is not None:
        variants.append(
            (
                "tuned_rag",
                {
                    "adapter": str(adapter),
                    "retriever": retriever[0],
                    "retriever_id": retriever[1],
                    "top_k": ctx.config.baselines.rag.top_k,
                },
            )
        )
    _evaluate_variants(ctx, variants)


def run_forgetting(ctx: RunContext) -> None:
    from harness.forgetting import run_forgetting_check

    adapter = ctx.final_adapter
    if adapter is None:
        return
    cfg = ctx.config
    with no_progress_bars():  # lm-eval draws one bar per request type and model
        result = run_forgetting_check(
            model=cfg.model,
            adapter=str(adapter),
            tasks=cfg.forgetting.tasks,
            limit=cfg.forgetting.limit,
            out_dir=ctx.stage_dir("forgetting"),
        )
    for task, d in result.tasks.items():
        ctx.say(
            f"  {task}: base {d.base.acc:.3f} → tuned {d.tuned.acc:.3f} "
            f"(Δ {d.delta:+.3f}, 95% CI {d.ci95[0]:+.3f} to {d.ci95[1]:+.3f}, p={d.p_value:.3f})"
        )


def run_report(ctx: RunContext) -> None:
    from harness.report import write_report

    paths = write_report(ctx.run_dir)
    verdict = paths.data.verdict
    lines = [verdict.sentence, *([verdict.advice] if verdict.advice else [])]
    (ctx.run_dir / "verdict.txt").write_text("\n".join(lines) + "\n")
    ctx.say(f"  report: {paths.html}")


STAGES: tuple[Stage, ...] = (
    Stage("check", "check data files", (), _check_inputs, run_check),
    Stage("baselines", "prompt, k-shot and RAG baselines", ("check",), _baseline_inputs, run_baselines),
    Stage(
        "train",
        "LoRA training in plan order",
        ("check",),
        _train_inputs,
        run_train,
        enabled=lambda ctx: bool(ctx.config.methods),
        outputs=("train",),
    ),
    Stage(
        "tuned",
        "evaluate the fine-tuned model (± RAG)",
        ("train",),
        _tuned_inputs,
        run_tuned,
        enabled=lambda ctx: ctx.final_adapter is not None,
    ),
    Stage(
        "forgetting",
        "general skills: base vs adapter (lm-eval)",
        ("train",),
        _forgetting_inputs,
        run_forgetting,
        enabled=lambda ctx: ctx.final_adapter is not None and bool(ctx.config.forgetting.tasks),
    ),
    Stage("report", "report.md + report.html", ("baselines", "tuned", "forgetting"), _report_inputs, run_report),
)
STAGE_NAMES = tuple(s.name for s in STAGES)


def stage_named(name: str) -> Stage:
    for stage in STAGES:
        if stage.name == name:
            return stage
    raise BadInput(f"unknown stage '{name}'; stages are: {', '.join(STAGE_NAMES)}")
