"""The one resolver: ``experiment.yaml`` + its folder (+ flags) → the ordered training requests.

``posttrain run`` (the train stage), ``posttrain run --dry-run`` and ``posttrain train --config`` all call
:func:`resolve_plan`, so they train the same thing: each method reads its data field, the policy adapter
trained just before it (SFT for DPO/KTO/RL) is where a chaining method starts, ``reward_model`` rewards
score with this plan's own ``reward`` output, and each method's section applies its own settings.

Layout under ``root`` (``runs/<id>/train`` for a run, ``--out`` for ``posttrain train --config``): the main
run at ``root/<method>``; each extra ``training.seeds`` entry N trains the whole plan again into
``root/seed-N/<method>``, chained within that seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.config import (
    ComputeSettings,
    ExperimentConfig,
    LoraSettings,
    ReplaySettings,
    RewardSpec,
    TrainingSettings,
    TrainSource,
    resolved_rewards,
)
from harness.training.flags import apply_flags, unused_flags
from harness.training.methods import method_named, registry
from harness.training.request import METHODS, TrainRequest, check_method, relative_to, validated
from posttrain.errors import BadInput

SEED_DIR = "seed-{}"


@dataclass(frozen=True)
class TrainOverrides:
    """What flags set on top of the config (None: not given). ``values`` holds the schema flags by name."""

    model: str | None = None
    data: list[str] | None = None
    eval: str | None = None
    adapter: str | None = None
    merge: bool = False
    rewards: list[str] | None = None
    replay: float | None = None
    launcher: str | None = None
    num_processes: int | None = None
    precision: str | None = None
    progress: bool = True
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PlannedStep:
    """One step of the plan: trained here (``request``) or elsewhere (ppo, external: ``request`` is None)."""

    method: str
    seed: int
    out: Path
    chained: Path | None  # the policy adapter trained just before, in this seed's plan
    request: TrainRequest | None


def seed_root(root: Path, seed: int, main_seed: int) -> Path:
    """Where one seed's plan trains: ``root`` for the main seed, ``root/seed-N`` for an extra one.

    >>> seed_root(Path("t"), 42, 42), seed_root(Path("t"), 7, 42)
    (PosixPath('t'), PosixPath('t/seed-7'))
    """
    return root if seed == main_seed else root / SEED_DIR.format(seed)


def resolve_plan(
    config: ExperimentConfig,
    exp_dir: Path,
    root: Path,
    overrides: TrainOverrides | None = None,
    methods: list[str] | None = None,
    seeds: bool = True,
) -> list[PlannedStep]:
    """Every step of the plan in order, main seed first, then each extra seed's whole plan.

    ``methods`` keeps only those steps (a method outside the plan trains alone, from the base model);
    ``seeds=False`` leaves out the extra seeds.
    """
    given = overrides or TrainOverrides()
    wanted = list(methods) if methods else list(config.methods)
    for name in wanted:
        method_named(name)  # an unknown name: "did you mean"
    plan = list(config.methods) if set(wanted) <= set(config.methods) else wanted
    problems = unused_flags(given.values, [m for m in wanted if method_named(m).runs_here])
    if problems:
        raise BadInput("\n".join(problems))
    if given.data and len(wanted) != 1:
        raise BadInput(f"--data: the plan has {len(wanted)} methods ({', '.join(wanted)}); give --method too")
    main = _main_training(config, given)
    steps: list[PlannedStep] = []
    extra = [s for s in config.training.seeds if s != main.seed] if seeds else []  # --seed may pick one of them
    for seed in [main.seed, *extra]:
        here = seed_root(root, seed, main.seed)
        previous: Path | None = None
        for method in plan:
            spec = method_named(method)
            if seed != main.seed and not spec.runs_here:
                continue  # seeds repeat what posttrain trains (the config refuses seeds after ppo/external)
            out = here / method
            chained = previous if spec.chains_policy else None
            if method in wanted:
                request = _request(config, exp_dir, here, method, seed, chained, given) if spec.runs_here else None
                steps.append(PlannedStep(method, seed, out, chained, request))
            if spec.policy:
                previous = out
    return steps


def resolve_requests(
    config: ExperimentConfig,
    exp_dir: Path,
    root: Path,
    overrides: TrainOverrides | None = None,
    methods: list[str] | None = None,
    seeds: bool = True,
) -> list[TrainRequest]:
    """The requests of :func:`resolve_plan`'s steps that posttrain trains, in order.

    A method named in ``methods`` that posttrain does not train (ppo, external) is refused.
    """
    for name in methods or []:
        check_method(name)
    return [s.request for s in resolve_plan(config, exp_dir, root, overrides, methods, seeds) if s.request]


def final_adapters(config: ExperimentConfig, exp_dir: Path, root: Path) -> dict[int, Path]:
    """Each seed's last policy output under ``root`` (the weights its ``tuned`` evaluation reads).

    A plan whose last policy is trained elsewhere (ppo, external) has no seed runs (the config refuses them).
    """
    last: dict[int, Path] = {}
    for step in resolve_plan(config, exp_dir, root):
        if registry()[step.method].policy:
            last[step.seed] = step.out
    return last


def request_from_flags(method: str, out: str | Path, given: TrainOverrides) -> TrainRequest:
    """A request without a config: the flags over the schema's defaults."""
    check_method(method)
    if not given.data:
        raise BadInput("--data: missing; give a training file (or a --config that names one)")
    training, lora, section = apply_flags(
        method, given.values, TrainingSettings(), LoraSettings(), registry()[method].settings()
    )
    problems = unused_flags(given.values, [method])
    if problems:
        raise BadInput("\n".join(problems))
    return _validated_request(
        method=method,
        model=given.model or "smollm2-135m",
        data=[TrainSource(path=p) for p in given.data],
        out=str(out),
        eval=given.eval,
        adapter=given.adapter,
        merge=given.merge,
        lora=lora,
        training=training,
        rewards=[RewardSpec(name=name) for name in given.rewards or []],
        replay=_replay(None, given.replay, None) if method == "sft" else None,
        compute=_compute(ComputeSettings(), given),
        progress=given.progress,
        **{method: section},
    )


def _main_training(config: ExperimentConfig, given: TrainOverrides) -> TrainingSettings:
    seed = given.values.get("seed")
    return config.training if seed is None else config.training.model_copy(update={"seed": seed, "seeds": []})


def _request(
    config: ExperimentConfig,
    exp_dir: Path,
    here: Path,
    method: str,
    seed: int,
    chained: Path | None,
    given: TrainOverrides,
) -> TrainRequest:
    base_training = config.training_for(method).model_copy(update={"seeds": []})  # one request is one seed
    training, lora, section = apply_flags(method, given.values, base_training, config.lora, config.section(method))
    training = training.model_copy(update={"seed": seed})
    sections = {name: config.section(name) for name in registry() if name in TrainRequest.model_fields}
    rewards = [RewardSpec(name=name) for name in given.rewards] if given.rewards else config.rewards
    return _validated_request(
        method=method,
        model=given.model or config.model,
        data=[TrainSource(path=p) for p in given.data] if given.data else _sources(config, exp_dir, method),
        out=str(here / method),
        eval=given.eval,
        adapter=given.adapter or (str(chained) if chained is not None else None),
        merge=given.merge,
        system_prompt=config.baselines.system_prompt,
        lora=lora,
        training=training,
        rewards=resolved_rewards(rewards, here / "reward"),  # this seed's own reward stage
        replay=_replay(config.data.replay, given.replay, exp_dir) if method == "sft" else None,
        compute=_compute(config.compute, given),
        base_dir=str(exp_dir),
        progress=given.progress,
        **(sections | {method: section}),
    )


def _validated_request(**fields: Any) -> TrainRequest:
    from pydantic import ValidationError

    from posttrain.errors import validation_lines

    try:
        return TrainRequest(**fields)
    except ValidationError as error:
        raise BadInput("\n".join(validation_lines(error))) from None


def _sources(config: ExperimentConfig, exp_dir: Path, method: str) -> list[TrainSource]:
    """The method's data field, each path under the experiment folder, read with its columns and split."""
    field_path = method_named(method).data_field or "data"
    if field_path == "data.train":
        found = [s.model_copy(update={"path": relative_to(s.path, exp_dir)}) for s in config.data.train]
    else:
        given = config.data.source(field_path.removeprefix("data."))
        found = [given.model_copy(update={"path": relative_to(given.path, exp_dir)})] if given else []
    if not found:
        raise BadInput(f"--data: missing; the config has no {field_path} for --method {method}")
    return found


def _replay(current: ReplaySettings | None, fraction: float | None, exp_dir: Path | None) -> ReplaySettings | None:
    if fraction is not None:
        if fraction == 0:
            return None
        current = validated(
            ReplaySettings, {**(current or ReplaySettings()).model_dump(), "fraction": fraction}, "--replay"
        )
    if current is not None and current.path != "builtin:general" and exp_dir is not None:
        current = current.model_copy(update={"path": relative_to(current.path, exp_dir)})
    return current


def _compute(current: ComputeSettings, given: TrainOverrides) -> ComputeSettings:
    update = {
        k: v
        for k, v in {
            "launcher": given.launcher,
            "num_processes": given.num_processes,
            "precision": given.precision,
        }.items()
        if v is not None
    }
    return validated(ComputeSettings, {**current.model_dump(), **update}, "--launcher") if update else current


def build_request(
    *,
    method: str | None,
    out: str | Path,
    model: str | None = None,
    data: list[str] | None = None,
    eval: str | None = None,
    config: str | Path | None = None,
    adapter: str | None = None,
    merge: bool = False,
    rewards: list[str] | None = None,
    replay: float | None = None,
    launcher: str | None = None,
    num_processes: int | None = None,
    precision: str | None = None,
    progress: bool = True,
    **values: Any,
) -> TrainRequest:
    """One request from flags (``values``: the schema flags of :mod:`harness.training.flags`), with an
    optional ``experiment.yaml`` under them (flags win).

    With ``config``, ``out`` is the folder the plan trains into, as ``runs/<id>/train/`` is for
    ``posttrain run``: the request is the plan's step for ``method`` (its first step without one), at
    ``out/<method>``, started from the adapter the plan chains into it — the same request the run makes.

    >>> r = build_request(method="sft", out="o", data=["a.jsonl"], learning_rate=1e-3, max_steps=5)
    >>> (r.training.learning_rate, r.training.max_steps, r.data[0].path)
    (0.001, 5, 'a.jsonl')
    >>> build_request(method="sft", out="o", data=["a.jsonl"], learning_rate=0)
    Traceback (most recent call last):
    ...
    posttrain.errors.BadInput: --learning-rate: Input should be greater than 0 (got 0)
    >>> build_request(method="dop", out="o", data=["a.jsonl"])
    Traceback (most recent call last):
    ...
    posttrain.errors.BadInput: --method dop: unknown; did you mean dpo? Methods: sft, dpo, kto, grpo, rloo, \
reward, ppo, external
    """
    from harness.training.flags import train_flags

    known = {f.dest for f in train_flags()}
    unknown = set(values) - known
    if unknown:
        raise TypeError(f"unknown override(s): {', '.join(sorted(unknown))}")
    overrides = TrainOverrides(
        model=model, data=data, eval=eval, adapter=adapter, merge=merge, rewards=rewards, replay=replay,
        launcher=launcher, num_processes=num_processes, precision=precision, progress=progress, values=values,
    )  # fmt: skip
    if config is None:
        if method is None:
            raise BadInput(f"--method: missing; give --method {'|'.join(METHODS)} (or a --config with methods)")
        return request_from_flags(method, out, overrides)
    from harness.config import load_config

    config_path = Path(config)
    cfg = load_config(config_path)
    exp_dir = (config_path if config_path.is_dir() else config_path.parent).resolve()
    if method is None and not cfg.methods:
        raise BadInput(f"--method: missing; give --method {'|'.join(METHODS)} (or a --config with methods)")
    chosen = method or cfg.methods[0]
    return resolve_requests(cfg, exp_dir, Path(out), overrides, methods=[chosen], seeds=False)[0]
