"""Is the model ready for online RL? The check stage's measurement of pass@8 before GRPO/RLOO trains.

GRPO and RLOO learn only from prompts where the sampled answers score differently: a prompt the model
never solves gives a group of equal rewards, zero advantage and no gradient. So before RL starts from the
base model, the check stage samples ``SAMPLES`` (8) answers to each of up to ``PROMPTS`` (32) RL prompts
and counts the prompts solved at least once (pass@8) by the plan's main reward (the one with the largest
weight; "solved" is a score of at least 0.5 on its 0-1 scale). Below ``training.readiness_min_pass``
(default 0.10: fewer than 1 prompt in 10 solved leaves over 90% of the groups without signal) the run
stops (exit 1) and says to put SFT first: distilled or best-of-N worked solutions, or easier prompts.

Cost: at most 32 prompts × 8 samples = 256 completions of at most ``max_completion_length`` tokens, once
per change of model, prompts or rewards. Prompts go in chunks of 8 and sampling stops as soon as enough are
solved to pass (ceil(0.10 × 32) = 4 prompts), so a model that is ready pays for about a quarter of that.
Skipped when RL starts from an adapter this run trains first (SFT, DPO, KTO: the base model's pass rate
says nothing about it), and for learned rewards, which have no pass.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import asdict, dataclass
from typing import Any

from advisor.guidance import READINESS_PROMPTS as PROMPTS
from advisor.guidance import READINESS_SAMPLES as SAMPLES
from harness.runner.context import RunContext
from posttrain.errors import CheckFailed

# The figures the advisor's caution quotes are imported from it (harness → advisor), so the two agree.
SOLVED, CHUNK = 0.5, 8
RL_METHODS = ("grpo", "rloo")


@dataclass(frozen=True)
class Readiness:
    method: str
    reward: str
    prompts: int  # drawn for the check (at most PROMPTS)
    examined: int  # sampled before the answer was clear (all of them when the model is not ready)
    samples: int
    solved_prompts: int
    pass_at_k: float  # over the examined prompts
    threshold: float
    needed: int  # prompts that must be solved: ceil(threshold × prompts)

    @property
    def ready(self) -> bool:
        return self.solved_prompts >= self.needed


def readiness_inputs(ctx: RunContext) -> dict[str, Any] | None:
    """What the measurement depends on (for the check stage's hash); None when it does not apply."""
    cfg = ctx.config
    reason = skip_reason(ctx)
    if reason is not None:
        return None
    return {
        "model": cfg.model,
        "prompts": ctx.data_hash(cfg.data.prompts),
        "rewards": [r.model_dump() for r in cfg.rewards],
        "threshold": cfg.training.readiness_min_pass,
        "system_prompt": cfg.baselines.system_prompt,
    }


def skip_reason(ctx: RunContext) -> str | None:
    """Why the readiness check does not apply to this plan, or None when it does."""
    cfg = ctx.config
    rl = next((m for m in cfg.methods if m in RL_METHODS), None)
    if rl is None:
        return "no online RL planned"
    if cfg.training.readiness_min_pass <= 0:
        return "turned off (training.readiness_min_pass: 0)"
    before = [m for m in cfg.methods[: cfg.methods.index(rl)] if m in ("sft", "dpo", "kto")]
    if before:
        return f"{rl} starts from the {before[-1]} adapter this run trains first"
    if not cfg.rewards or any(r.name == "reward_model" or r.name.startswith("learned:") for r in cfg.rewards):
        return "a learned reward has no pass/fail"
    return None


def pass_at_k(solved: list[list[bool]]) -> float:
    """Share of prompts with at least one solved sample.

    >>> pass_at_k([[False, True], [False, False], [True, True], [False, False]])
    0.5
    """
    return sum(any(row) for row in solved) / len(solved) if solved else 0.0


def sample_prompts(rows: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """Up to ``PROMPTS`` rows, drawn with the run's seed (the same ones on every rerun).

    >>> rows = [{"prompt": str(i)} for i in range(40)]
    >>> len(sample_prompts(rows, 0)), sample_prompts(rows, 0) == sample_prompts(rows, 0)
    (32, True)
    >>> len(sample_prompts(rows[:5], 0))
    5
    """
    return random.Random(seed).sample(rows, min(PROMPTS, len(rows)))


def measure(ctx: RunContext) -> Readiness:
    """Sample the base model on up to 32 RL prompts and score the samples with the main reward."""
    from harness.data.formats import load_dataset
    from harness.evaluation.generate import generate_batch
    from harness.models import load_model_and_tokenizer
    from harness.training.rewards import load_reward

    cfg = ctx.config
    rl = next(m for m in cfg.methods if m in RL_METHODS)
    main = max(cfg.rewards, key=lambda r: r.weight)
    reward = load_reward(main.name, ctx.exp_dir, cfg.model)
    prompts = ctx.path(cfg.data.prompts) or str(cfg.data.prompts)  # a datasets name passes through
    given = cfg.data.source("prompts")  # with data.prompts' column mapping, as training reads it
    rows = load_dataset(prompts, "rl", columns=given.columns if given else None, split=given.split if given else None)
    picked = sample_prompts(rows, cfg.training.seed)
    conversations = [_conversation(row["prompt"], cfg.baselines.system_prompt) for row in picked]
    model, tokenizer = load_model_and_tokenizer(cfg.model, device=cfg.compute.device, precision=cfg.compute.precision)
    threshold = cfg.training.readiness_min_pass
    needed = math.ceil(threshold * len(picked) - 1e-9)
    solved: list[list[bool]] = []
    for start in range(0, len(picked), CHUNK):
        chunk = picked[start : start + CHUNK]
        outputs = generate_batch(
            model,
            tokenizer,
            conversations[start : start + CHUNK],
            max_new_tokens=(cfg.rloo if rl == "rloo" else cfg.grpo).max_completion_length,  # the method's section
            do_sample=True,
            temperature=1.0,  # GRPO's and RLOO's sampling temperature in TRL
            num_return_sequences=SAMPLES,
            seed=cfg.training.seed + start,
        )
        for row, samples in zip(chunk, outputs, strict=True):
            columns = {k: [v] * len(samples) for k, v in row.items() if k not in ("prompt", "completion")}
            completions = [[{"role": "assistant", "content": text}] for text in samples]
            scores = reward(prompts=[row["prompt"]] * len(samples), completions=completions, **columns)
            solved.append([score is not None and score >= SOLVED for score in scores])
        if sum(any(s) for s in solved) >= needed:
            break  # enough solved to pass: the rest would cost time and change nothing
    return Readiness(
        method=rl,
        reward=main.name,
        prompts=len(picked),
        examined=len(solved),
        samples=SAMPLES,
        solved_prompts=sum(any(s) for s in solved),
        pass_at_k=round(pass_at_k(solved), 4),
        threshold=threshold,
        needed=needed,
    )


def _conversation(prompt: Any, system: str | None) -> list[dict[str, str]]:
    if isinstance(prompt, list):
        return [{"role": str(m["role"]), "content": str(m["content"])} for m in prompt]
    turns = [{"role": "system", "content": system}] if system else []
    return [*turns, {"role": "user", "content": str(prompt)}]


def check_readiness(ctx: RunContext) -> Readiness | None:
    """Measure, record ``readiness.json`` in the check stage's folder, and stop the run when RL cannot learn."""
    reason = skip_reason(ctx)
    if reason is not None:
        if reason != "no online RL planned":
            ctx.say(f"  RL readiness: skipped ({reason})")
        return None
    result = measure(ctx)
    folder = ctx.stage_dir("check")
    (folder / "readiness.json").write_text(json.dumps(asdict(result) | {"ready": result.ready}, indent=2) + "\n")
    line = (
        f"  RL readiness: base model pass@{SAMPLES} {result.pass_at_k:.2f} on {result.examined} of {result.prompts} "
        f"prompts ({result.solved_prompts} solved at least once by {result.reward}; {result.needed} needed, "
        f"threshold {result.threshold:.2f})"
    )
    ctx.say(line)
    if not result.ready:
        raise CheckFailed(
            f"RL readiness: the base model solves {result.solved_prompts} of {result.prompts} RL prompts at least "
            f"once in {SAMPLES} samples (pass@{SAMPLES} {result.pass_at_k:.2f} < {result.threshold:.2f}; "
            f"{result.needed} needed), so "
            f"{result.method} would get almost no learning signal. Put SFT first: worked solutions from a teacher "
            "(`posttrain data distill`) or the model's own passing samples (`posttrain data best-of-n`), then "
            f"`methods: [sft, {result.method}]`; or use easier prompts. (training.readiness_min_pass: 0 skips this.)"
        )
    return result
