"""Best-of-N (rejection) sampling: sample N answers per prompt, score them, keep the best.

The best answer becomes an SFT row; with ``pairs`` the best and the worst become a DPO pair, unless
they scored the same (then every sample scored the same: no preference to learn). Sampling is
batched: each prompt's N samples come from one ``generate`` call with ``num_return_sequences=N``.
Rows are appended one fsynced line at a time, so an interrupted run resumes after its last prompt.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.datagen.prompts import Prompt, load_prompts
from harness.datagen.resumable import ResumableJsonl
from posttrain.errors import BadInput


class ScoreStats(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n: int = Field(description="Scores counted.")
    mean: float | None = Field(description="Mean score.")
    std: float | None = Field(description="Population standard deviation.")
    min: float | None = Field(description="Lowest score.")
    median: float | None = Field(description="Median score.")
    max: float | None = Field(description="Highest score.")
    histogram: dict[str, int] = Field(description="Count per score value (or per bin when values are many).")


class BestOfNSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    out: str = Field(description="The SFT file (best answer per prompt).")
    pairs_out: str | None = Field(description="The DPO pairs file, when asked for.")
    model: str = Field(description="The model that sampled.")
    reward: str = Field(description="The reward that scored.")
    n: int = Field(description="Samples per prompt.")
    prompts: int = Field(description="Prompts in the input.")
    resumed: int = Field(description="Prompts already in --out from an earlier run, skipped.")
    written: int = Field(description="SFT rows written by this run.")
    below_min_reward: int = Field(description="Prompts whose best score was under --min-reward; not written.")
    unscored: int = Field(description="Prompts where the reward returned no score for any sample.")
    pairs: int = Field(description="Usable DPO pairs in the pairs file (best scored above worst).")
    tied_prompts: int = Field(description="Prompts where every sample scored the same: no pair.")
    sample_scores: ScoreStats = Field(description="All samples' scores: what one sample gets on average.")
    best_scores: ScoreStats = Field(description="The kept best answers' scores.")
    samples_per_s: float = Field(description="Samples generated per second of sampling wall time.")
    wall_s: float = Field(description="Wall time of this run.")
    sandbox: str | None = Field(None, description="Isolation the unit_tests reward's code ran under.")


def score_stats(values: list[float]) -> ScoreStats:
    """Summary of a score list; values with ≤ 10 distinct levels are counted per level, else in 10 bins.

    >>> s = score_stats([0.0, 1.0, 1.0, 0.0, 1.0])
    >>> s.mean, s.histogram
    (0.6, {'0': 2, '1': 3})
    """
    if not values:
        return ScoreStats(n=0, mean=None, std=None, min=None, median=None, max=None, histogram={})
    levels = sorted(set(values))
    histogram: dict[str, int] = {}
    if len(levels) <= 10:
        for level in levels:
            histogram[f"{level:g}"] = sum(1 for v in values if v == level)
    else:
        low, high = levels[0], levels[-1]
        width = (high - low) / 10
        for b in range(10):
            lo = low + b * width
            hi = lo + width
            label = f"[{lo:.3g}, {hi:.3g}{']' if b == 9 else ')'}"
            histogram[label] = sum(1 for v in values if lo <= v < hi or (b == 9 and v == high))
    return ScoreStats(
        n=len(values),
        mean=round(statistics.fmean(values), 6),
        std=round(statistics.pstdev(values), 6),
        min=levels[0],
        median=statistics.median(values),
        max=levels[-1],
        histogram=histogram,
    )


def pick_best_worst(scores: list[float | None]) -> tuple[int, int] | None:
    """Indexes of the best and the worst scored sample (first on ties); None when nothing was scored.

    >>> pick_best_worst([0.0, 1.0, None, 0.0, 1.0])
    (1, 0)
    >>> pick_best_worst([None, None]) is None
    True
    """
    scored = [(s, i) for i, s in enumerate(scores) if s is not None and not math.isnan(s)]
    if not scored:
        return None
    best = max(scored, key=lambda si: (si[0], -si[1]))[1]
    worst = min(scored, key=lambda si: (si[0], si[1]))[1]
    return best, worst


def _rows_for(
    prompt: Prompt, samples: list[str], scores: list[float | None], meta: dict[str, Any]
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    picked = pick_best_worst(scores)
    if picked is None:
        return None, None
    best, worst = picked
    best_score = scores[best]
    assert best_score is not None  # pick_best_worst only returns scored samples
    sft = {
        "id": prompt.id,
        "messages": [*prompt.messages, {"role": "assistant", "content": samples[best]}],
        "source": "best_of_n",
        "reward": best_score,
        "sample_rewards": scores,
        **meta,
    }
    pair = None
    if scores[worst] != best_score and samples[best].strip() != samples[worst].strip():
        pair = {
            "id": prompt.id,
            "prompt": prompt.messages,
            "chosen": [{"role": "assistant", "content": samples[best]}],
            "rejected": [{"role": "assistant", "content": samples[worst]}],
            "chosen_reward": best_score,
            "rejected_reward": scores[worst],
            "source": "best_of_n",
            **meta,
        }
    return sft, pair


def _read_rewards(path: Path) -> tuple[list[float], list[float]]:
    """All sample scores and the best scores recorded in an SFT file this module wrote."""
    samples: list[float] = []
    best: list[float] = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                samples.extend(float(s) for s in row.get("sample_rewards", []) if s is not None)
                best.append(float(row["reward"]))
    return samples, best


def _count_lines(path: Path | None) -> int:
    if path is None or not path.exists():
        return 0
    with open(path, encoding="utf-8") as handle:
        return sum(1 for line in handle if line.strip())


def best_of_n(
    prompts_path: str | Path,
    model: str,
    n: int,
    reward: str,
    out: str | Path,
    *,
    pairs: str | Path | None = None,
    temperature: float = 0.7,
    top_p: float = 1.0,
    max_new_tokens: int = 128,
    min_reward: float | None = None,
    prompts_per_batch: int = 8,
    seed: int = 0,
    limit: int | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> BestOfNSummary:
    """``posttrain data best-of-n``: sample, score, keep the best (and write best-vs-worst pairs)."""
    if n < 2:
        raise BadInput(f"-n {n}: best-of-N needs at least 2 samples per prompt")
    if not temperature > 0:
        raise BadInput(f"--temperature {temperature}: sampling needs a temperature above 0")
    if not 0 < top_p <= 1:
        raise BadInput(f"--top-p {top_p}: must be in (0, 1]")
    if pairs is not None and Path(pairs).resolve() == Path(out).resolve():
        raise BadInput(f"--pairs {pairs}: must differ from --out")
    start = time.perf_counter()
    prompts = load_prompts(prompts_path, limit=limit)

    sandbox = None
    if reward == "unit_tests":  # refuse (no sandbox, no opt-in) before the model loads
        from harness.evaluation.sandbox_modes import isolation_level

        sandbox = isolation_level()
    from harness.datagen.scoring import make_scorer
    from harness.evaluation.generate import generate_batch
    from harness.models import load_model_and_tokenizer

    policy, tokenizer = load_model_and_tokenizer(model)
    scorer = make_scorer(reward, model=model, tokenizer=tokenizer)
    meta = {
        "model": model,
        "reward_name": reward,
        "sampling": {"n": n, "temperature": temperature, "top_p": top_p, "max_new_tokens": max_new_tokens},
        **({"sandbox": sandbox} if sandbox else {}),
    }
    below = unscored = 0
    sampling_s = 0.0
    sampled = 0
    pairs_sink = ResumableJsonl(pairs) if pairs is not None else None
    try:
        with ResumableJsonl(out) as sink:
            todo = [p for p in prompts if p.id not in sink]
            for batch_no, offset in enumerate(range(0, len(todo), prompts_per_batch)):
                batch = todo[offset : offset + prompts_per_batch]
                tick = time.perf_counter()
                samples = generate_batch(
                    policy,
                    tokenizer,
                    [p.messages for p in batch],
                    max_new_tokens=max_new_tokens,
                    do_sample=True,
                    temperature=temperature,
                    top_p=top_p,
                    num_return_sequences=n,
                    seed=seed + batch_no,  # a resumed run samples differently from a rerun of one batch; fine
                )
                sampling_s += time.perf_counter() - tick
                sampled += sum(len(s) for s in samples)
                flat_prompts = [p for p, s in zip(batch, samples, strict=True) for _ in s]
                flat_scores = scorer(flat_prompts, [text for s in samples for text in s])
                at = 0
                for prompt, texts in zip(batch, samples, strict=True):
                    scores = flat_scores[at : at + len(texts)]
                    at += len(texts)
                    sft, pair = _rows_for(prompt, texts, scores, meta)
                    if sft is None:
                        unscored += 1
                        continue
                    if min_reward is not None and sft["reward"] < min_reward:
                        below += 1
                        continue
                    if pair is not None and pairs_sink is not None:
                        pairs_sink.append(pair)  # before the SFT row: a resume never loses a pair
                    sink.append(sft)
                if on_batch is not None:
                    on_batch(min(offset + len(batch), len(todo)), len(todo))
            resumed, written = sink.resumed, sink.written
    finally:
        if pairs_sink is not None:
            pairs_sink.close()
    sample_values, best_values = _read_rewards(Path(out))
    # Counted from the files, so a resumed run reports on the whole data set, not only this run's part.
    tied = _count_tied(Path(out))
    return BestOfNSummary(
        out=str(out),
        pairs_out=str(pairs) if pairs is not None else None,
        model=model,
        reward=reward,
        n=n,
        prompts=len(prompts),
        resumed=resumed,
        written=written,
        below_min_reward=below,
        unscored=unscored,
        pairs=_count_lines(Path(pairs) if pairs is not None else None),
        tied_prompts=tied,
        sample_scores=score_stats(sample_values),
        best_scores=score_stats(best_values),
        samples_per_s=round(sampled / sampling_s, 3) if sampling_s else 0.0,
        wall_s=round(time.perf_counter() - start, 3),
        sandbox=sandbox,
    )


def _count_tied(path: Path) -> int:
    """Rows of an SFT file whose samples all scored the same (no usable pair)."""
    tied = 0
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                scores = [s for s in json.loads(line).get("sample_rewards", []) if s is not None]
                tied += len(set(scores)) <= 1
    return tied
