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
from harness.runner.readiness import check_readiness, readiness_inputs
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
    # judge.labels' content too (only when set, so runs without labels keep their hash): new labels re-grade.
    labels = [
        {"labels_hash": ctx.data_hash(e.judge.labels)} if e.judge and e.judge.labels else {} for e in ctx.config.evals
    ]
    return [e.model_dump() | {"hash": ctx.data_hash(e.path)} | x for e, x in zip(ctx.config.evals, labels, strict=True)]


def _check_inputs(ctx: RunContext) -> dict[str, Any]:
    data = ctx.config.data
    return {
        "train": [ctx.data_hash(s.path) for s in data.train],
        "preference": ctx.data_hash(data.preference),
        "prompts": ctx.data_hash(data.prompts),
        "feedback": ctx.data_hash(data.feedback),
        "read_as": [[s.columns, s.split] for s in data.train] + [data.read_as[k].model_dump() for k in data.read_as],
        "evals": [[ctx.data_hash(e.path), e.columns, e.split] for e in ctx.config.evals],
        "model": ctx.config.model,
        "methods": ctx.config.methods,
        "readiness": readiness_inputs(ctx),  # RL readiness (harness/runner/readiness.py)
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
    from harness.training.methods import registry

    cfg = ctx.config
    rewards_file = ctx.exp_dir / "rewards.py"
    return {
        "model": cfg.model,
        "methods": cfg.methods,
        "lora": cfg.lora.model_dump(),
        # training.seeds too: each extra seed trains the plan again (into train/seed-N/)
        "training": cfg.training.model_dump(exclude={"max_steps"}),  # more steps continue the same run
        "train": [(s.path, s.weight, ctx.data_hash(s.path)) for s in cfg.data.train],
        "preference": ctx.data_hash(cfg.data.preference),
        "prompts": ctx.data_hash(cfg.data.prompts),
        "feedback": ctx.data_hash(cfg.data.feedback),
        "read_as": [[s.columns, s.split] for s in cfg.data.train] + [v.model_dump() for v in cfg.data.read_as.values()],
        # each method's own section (harness/training/methods): a changed KTO beta retrains
        "method_settings": {m: cfg.section(m).model_dump() for m in registry()},
        "replay": cfg.data.replay.model_dump() if cfg.data.replay else None,
        "rewards": [r.model_dump() for r in cfg.rewards],
        "rewards_py": ctx.data_hash(str(rewards_file)) if rewards_file.is_file() else None,
        "system_prompt": cfg.baselines.system_prompt,
    }


def _outside_weights(ctx: RunContext) -> str | None:
    """Content hash of weights trained elsewhere (external, ppo): new weights there rerun what evaluates them."""
    from harness.training.methods import method_named

    weights = ctx.final_adapter
    if weights is None or method_named(ctx.config.methods[-1]).runs_here:
        return None
    return ctx.data_hash(str(weights))


def _tuned_inputs(ctx: RunContext) -> dict[str, Any]:
    cfg = ctx.config
    return {
        "model": cfg.model,
        "weights": _outside_weights(ctx),
        "evals": _eval_inputs(ctx),
        "seeds": [cfg.training.seed, *cfg.training.seeds],  # each extra seed's adapter is evaluated too
        "system_prompt": cfg.baselines.system_prompt,
        "rag": cfg.baselines.rag.model_dump(),
        "knowledge": ctx.data_hash(cfg.data.knowledge),
    }


def _forgetting_inputs(ctx: RunContext) -> dict[str, Any]:
    return {
        "model": ctx.config.model,
        "forgetting": ctx.config.forgetting.model_dump(),
        "weights": _outside_weights(ctx),
    }


def _report_inputs(ctx: RunContext) -> dict[str, Any]:
    return {"advised": ctx.config.advised.model_dump() if ctx.config.advised else None}


# ---- runs ---------------------------------------------------------------------------------------


def run_check(ctx: RunContext) -> None:
    """``config check``'s checks (paths, every data file for its stage, metric fields, the model), token
    lengths too; any error stops the run here, before baselines or training."""
    from harness.config_check import check_experiment

    # One implementation, so `config check` and `run` cannot disagree; read once, each file once.
    result = check_experiment(ctx.config_file, max_length=ctx.config.training.max_length)
    for line in result.checked:
        ctx.say(f"  data check {line}")
    if result.errors:
        raise BadInput("data check failed; nothing was trained:\n" + "\n".join(result.errors))
    check_readiness(ctx)  # RL from the base model: stop early when it solves (almost) no RL prompt


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


def _evaluate_variants(
    ctx: RunContext, variants: list[tuple[str, dict[str, Any]]], folder: tuple[str, ...] = ("eval",)
) -> dict[tuple[str, str], Any]:
    """Score each variant on every eval set into ``RUN/<folder>/<variant>/<set>``; the summaries by (variant, set)."""
    from harness.evaluation.runner import EvalRequest, evaluate

    cfg = ctx.config
    summaries: dict[tuple[str, str], Any] = {}
    for variant, extra in variants:
        for spec in cfg.evals:
            request = EvalRequest(
                data=str(ctx.path(spec.path)),
                metrics=spec.metrics,
                variant=variant,  # type: ignore[arg-type]
                eval_set=spec.name,
                system_prompt=cfg.baselines.system_prompt,
                limit=spec.limit,
                max_new_tokens=spec.max_new_tokens,
                seed=cfg.training.seed,
                columns=spec.columns,  # evals[].columns, e.g. reference: answer
                split=spec.split,
                out=str(ctx.stage_dir(*folder, variant, spec.name)),
                # The judge metric's judge (experiment.yaml evals[].judge; the config check requires one for it).
                judge_model=spec.judge.model if spec.judge else None,
                judge_url=spec.judge.url if spec.judge else None,
                judge_rubric=spec.judge.rubric if spec.judge else None,
                device=cfg.compute.device,  # one device policy: harness.models.device
                precision=cfg.compute.precision,
                **({"model": cfg.model} | extra),  # a tuned variant may bring its own base (external, ppo)
            )
            summary = evaluate(request)
            summaries[(variant, spec.name)] = summary
            ctx.stamp(ctx.run_dir.joinpath(*folder, variant, spec.name))
            scores = ", ".join(
                f"{m} {s.mean:.3f} [{s.ci95[0]:.2f}, {s.ci95[1]:.2f}]" for m, s in summary.metrics.items()
            )
            ctx.say(f"  {variant:<9} {spec.name}: {scores}")
    return summaries


def run_baselines(ctx: RunContext) -> None:
    cfg = ctx.config
    variants: list[tuple[str, dict[str, Any]]] = [("prompt", {})]
    train = [ctx.path(s.path) for s in cfg.data.train]
    if cfg.baselines.few_shot > 0:
        if not train:
            ctx.not_run("kshot", "k-shot prompting: not run — no training data to draw examples from (data.train)")
        elif train[0] is None or not train[0].is_file():
            source = cfg.data.train[0].path
            ctx.not_run("kshot", f"k-shot prompting: not run — {source} is not a local file to draw examples from")
        else:
            pool = cfg.data.train[0]  # read with its column mapping, as training reads it
            kshot = {"few_shot": cfg.baselines.few_shot, "train": str(train[0]), "train_columns": pool.columns}
            variants.append(("kshot", kshot))
    retriever = _retriever(ctx)
    if retriever is not None:
        variants.append(
            ("rag", {"retriever": retriever[0], "retriever_id": retriever[1], "top_k": cfg.baselines.rag.top_k})
        )
    else:
        ctx.not_run("rag", "RAG: not run — no knowledge documents (set data.knowledge to a folder of documents)")
    variants += _hosted_variants(cfg, retriever)
    _evaluate_variants(ctx, variants)
    _judge_agreement(ctx)


def _judge_agreement(ctx: RunContext) -> None:
    """evals[].judge.labels: the same judge grades answers people graded, for the report's agreement."""
    from harness.evaluation.judge_agreement import FOLDER, judge_labels, write_agreement
    from harness.evaluation.scorers import JudgeScorer

    for spec in ctx.config.evals:
        labels = ctx.path(spec.judge.labels) if spec.judge and "judge" in spec.metrics else None
        if labels is None or spec.judge is None:
            continue
        scorer = JudgeScorer(spec.judge.model, spec.judge.url, spec.judge.rubric)
        folder = ctx.run_dir / FOLDER / spec.name
        write_agreement(judge_labels(labels, scorer), folder)
        ctx.stamp(folder)
        ctx.say(f"  judge agreement {spec.name}: {labels} graded by the judge")


def _hosted_variants(cfg: Any, retriever: tuple[Any, str] | None) -> list[tuple[str, dict[str, Any]]]:
    """``baselines.endpoints``: each hosted model as api-NAME (prompt) and, with knowledge, api-NAME-rag."""
    from harness.evaluation.endpoint import EndpointSpec

    variants: list[tuple[str, dict[str, Any]]] = []
    for e in cfg.baselines.endpoints:
        spec = EndpointSpec(
            url=e.url, model=e.model, price_input_per_m=e.price_input_per_m, price_output_per_m=e.price_output_per_m
        )
        variants.append((f"api-{e.name}", {"endpoint": spec}))
        if e.rag and retriever is not None:
            rag = {"retriever": retriever[0], "retriever_id": retriever[1], "top_k": cfg.baselines.rag.top_k}
            variants.append((f"api-{e.name}-rag", {"endpoint": spec, **rag}))
    return variants


def run_train(ctx: RunContext) -> None:
    """Train the plan in order, as :func:`harness.training.resolve.resolve_plan` lays it out (seeds too)."""
    from harness.training import train
    from harness.training.resolve import resolve_plan

    for step in resolve_plan(ctx.config, ctx.exp_dir, ctx.run_dir / "train"):
        if step.request is None:  # trained elsewhere: external is checked and recorded, ppo is handed off
            from harness.training.handoff import outside_step

            outside_step(ctx, step.method, step.chained)
            continue
        summary = train(step.request)
        ctx.stamp(step.out)
        seed = "" if step.seed == ctx.config.training.seed else f"(seed {step.seed}) "
        ctx.say(f"  {seed}{summary.line()}")


def _tuned_model(ctx: RunContext, weights: Path) -> dict[str, Any]:
    """model/adapter for the tuned variants: weights trained elsewhere may carry their own base model."""
    from harness.training.handoff import base_for

    return {"model": base_for(weights, ctx.config.model, ctx.exp_dir), "adapter": str(weights)}


def run_tuned(ctx: RunContext) -> None:
    adapter = ctx.final_adapter
    if adapter is None:
        ctx.say("  no training planned; nothing to evaluate")
        return
    if ctx.config.methods[-1] == "ppo" and not adapter.is_dir():
        from harness.training.methods.ppo import HandOff, stop_message

        raise HandOff(stop_message(ctx.exp_dir.name))
    variants: list[tuple[str, dict[str, Any]]] = [("tuned", _tuned_model(ctx, adapter))]
    retriever = _retriever(ctx)
    if retriever is not None:
        variants.append(
            (
                "tuned_rag",
                {
                    **_tuned_model(ctx, adapter),
                    "retriever": retriever[0],
                    "retriever_id": retriever[1],
                    "top_k": ctx.config.baselines.rag.top_k,
                },
            )
        )
    summaries = _evaluate_variants(ctx, variants)
    if ctx.config.training.seeds:
        _evaluate_seeds(ctx, summaries)


def _evaluate_seeds(ctx: RunContext, main: dict[tuple[str, str], Any]) -> None:
    """``training.seeds``: each extra seed's final adapter as the plain tuned variant on every eval set, into
    ``RUN/tuned/seed-N/``, and ``RUN/tuned/seeds.json`` with every metric's score per seed (main first, on
    the scale of the tuned variant's summary.json), so the report can show the spread training adds."""
    from harness.runner.rundir import SEEDS, SeedResults
    from harness.training.resolve import final_adapters

    cfg = ctx.config
    adapters = final_adapters(cfg, ctx.exp_dir, ctx.run_dir / "train")
    extra = [seed for seed in cfg.training.seeds if seed in adapters]
    scores: dict[str, dict[str, list[float]]] = {
        e.name: {m: [s.mean] for m, s in main[("tuned", e.name)].metrics.items()} for e in cfg.evals
    }
    for seed in extra:
        ctx.say(f"  seed {seed}: {adapters[seed]}")
        summaries = _evaluate_variants(ctx, [("tuned", _tuned_model(ctx, adapters[seed]))], ("tuned", f"seed-{seed}"))
        for e in cfg.evals:
            for metric, summary in summaries[("tuned", e.name)].metrics.items():
                scores[e.name].setdefault(metric, []).append(summary.mean)
    record = SeedResults(seeds=[cfg.training.seed, *extra], evals=scores)  # the reader's model (runner.rundir)
    folder = ctx.stage_dir("tuned")
    (folder / SEEDS).write_text(record.model_dump_json(indent=2) + "\n", encoding="utf-8")
    ctx.stamp(folder)


def run_forgetting(ctx: RunContext) -> None:
    from harness.forgetting import run_forgetting_check

    adapter = ctx.final_adapter
    if adapter is None:
        return
    cfg = ctx.config
    with no_progress_bars():  # lm-eval draws one bar per request type and model
        result = run_forgetting_check(
            model=_tuned_model(ctx, adapter)["model"],
            adapter=str(adapter),
            tasks=cfg.forgetting.tasks,
            limit=cfg.forgetting.limit,
            out_dir=ctx.stage_dir("forgetting"),
            device=cfg.compute.device,  # one device policy: harness.models.device
            precision=cfg.compute.precision,
        )
    ctx.stamp(ctx.run_dir / "forgetting")
    for task, d in result.tasks.items():
        ctx.say(
            f"  {task}: base {d.base.acc:.3f} → tuned {d.tuned.acc:.3f} "
            f"(Δ {d.delta:+.3f}, 95% CI {d.ci95[0]:+.3f} to {d.ci95[1]:+.3f}, p={d.p_value:.3f})"
        )


def run_report(ctx: RunContext) -> None:
    from harness.report import write_report

    paths = write_report(ctx.run_dir)  # also writes verdict.txt: the decision, then the verdict
    from rich.markup import escape

    for problem in paths.data.problems:  # left out of the report, which shows the rest
        ctx.say(f"  [yellow]could not read[/] {escape(problem)}")
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
