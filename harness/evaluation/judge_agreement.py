"""Judge–human agreement: does the ``judge`` metric's judge grade answers the way people do?

An eval set with the ``judge`` metric may name ``judge.labels``: answers people already graded
(``{id, prompt, reference?, output, human_score}``, ``human_score`` 1 good / 0 bad). The run asks the
same judge, with the same rubric, to grade those answers and writes one row per label to
``RUN/judge_agreement/<eval set>/labels.jsonl``; the report turns them into raw agreement and
Cohen's kappa with a bootstrap interval. The statistics here are pure functions, no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from posttrain.errors import BadInput
from posttrain.safe_files import read_text

# The judge's 0..1 grade counts as "good" from here on (5 of 10), so it can be set against a 1/0 label.
GOOD_FROM = 0.5
# Below this kappa the judge's scores are not evidence: Landis & Koch call 0.41-0.60 only "moderate".
WEAK_KAPPA = 0.4
WEAK_WARNING = "the judge disagrees with your labels; its scores are not evidence"
LABEL_KEYS = ("human_score", "human_label", "label")  # the scaffold writes human_score
FOLDER = "judge_agreement"


class Agreement(NamedTuple):
    """``n`` labelled answers, raw agreement, Cohen's kappa and its 95% bootstrap interval."""

    n: int
    agreement: float
    kappa: float
    ci95: tuple[float, float]


def cohen_kappa(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Cohen's kappa of two raters' 0/1 labels: (p_o − p_e) / (1 − p_e); nan when p_e = 1.

    The textbook example (50 items; both yes 20, a yes b no 5, a no b yes 10, both no 15):
    p_o = 0.7, p_e = 0.5·0.6 + 0.5·0.4 = 0.5, kappa = 0.4.

    >>> a = [1] * 25 + [0] * 25
    >>> b = [1] * 20 + [0] * 5 + [1] * 10 + [0] * 15
    >>> round(cohen_kappa(a, b), 6)
    0.4
    >>> cohen_kappa([1, 0, 1, 0], [1, 0, 1, 0]), cohen_kappa([1, 0, 1, 0], [0, 1, 0, 1])
    (1.0, -1.0)
    >>> cohen_kappa([1, 1], [1, 1])  # one class only: chance agreement is 1, kappa undefined
    nan
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"kappa needs two label lists of the same length, got {x.size} and {y.size}")
    if x.size == 0:
        return float("nan")
    observed = float(np.mean(x == y))
    pa, pb = float(x.mean()), float(y.mean())
    chance = pa * pb + (1.0 - pa) * (1.0 - pb)
    if chance >= 1.0 - 1e-12:
        return float("nan")
    return (observed - chance) / (1.0 - chance)


def kappa_ci(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of Cohen's kappa, resampling labelled answers (pairs stay together).

    Resamples with one class only (kappa undefined) are left out, as in ``bootstrap_ci``'s seeded scheme.

    >>> kappa_ci([1, 0] * 20, [1, 0] * 20)
    (1.0, 1.0)
    >>> low, high = kappa_ci([1] * 25 + [0] * 25, [1] * 20 + [0] * 5 + [1] * 10 + [0] * 15)
    >>> 0.1 < low < 0.4 < high < 0.7
    True
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, x.size, size=(n_resamples, x.size))
    values = np.array([cohen_kappa(x[p], y[p]) for p in picks])
    values = values[~np.isnan(values)]
    if values.size == 0:
        return (float("nan"), float("nan"))
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return (float(low), float(high))


def agreement(human: Sequence[float] | np.ndarray, judge: Sequence[float] | np.ndarray, seed: int = 0) -> Agreement:
    """Raw agreement and kappa of the judge's good/bad calls against people's labels.

    >>> r = agreement([1, 1, 0, 0], [1, 1, 0, 1])
    >>> r.n, r.agreement, round(r.kappa, 3)
    (4, 0.75, 0.5)
    """
    x, y = np.asarray(human, dtype=float), np.asarray(judge, dtype=float)
    raw = float(np.mean(x == y)) if x.size else float("nan")
    return Agreement(int(x.size), raw, cohen_kappa(x, y), kappa_ci(x, y, seed=seed))


def is_weak(kappa: float) -> bool:
    """Weak agreement, or none measurable (nan): the judge's scores are not evidence."""
    return not kappa >= WEAK_KAPPA


def read_labels(path: Path) -> list[dict[str, Any]]:
    """The labelled answers, checked: each row needs ``prompt`` (or ``id``), ``output`` and a 1/0 label."""
    if not path.exists():
        raise BadInput(f"{path}: judge.labels names no file")
    rows = []
    # read_text refuses FIFOs, devices and oversize files by name, as every data reader does
    for number, line in enumerate(read_text(path, "judge labels file").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise BadInput(f"{path}:{number}: not valid JSON: {error.msg}") from None
        except (ValueError, RecursionError):  # 5,000-digit numbers, nesting deeper than the parser goes
            raise BadInput(f"{path}:{number}: a number too long or nesting too deep to read") from None
        if not isinstance(row, dict):
            raise BadInput(f"{path}:{number}: expected a JSON object per line")
        key = next((k for k in LABEL_KEYS if k in row), None)
        if key is None:
            raise BadInput(f"{path}:{number}: no human label (field human_score: 1 good, 0 bad)")
        label = row[key]
        if isinstance(label, bool):
            label = float(label)
        if not isinstance(label, int | float) or float(label) not in (0.0, 1.0):
            raise BadInput(f"{path}:{number}: field {key} must be 1 (good) or 0 (bad), got {label!r}")
        if not isinstance(row.get("output"), str):
            raise BadInput(f"{path}:{number}: field output (the answer people graded) is missing or not text")
        if not isinstance(row.get("prompt"), str | list) and not row.get("id"):
            raise BadInput(f"{path}:{number}: field prompt (the question answered) is missing")
        rows.append(row | {"human": float(label), "line": number})
    if not rows:
        raise BadInput(f"{path}: no labelled answers")
    return rows


def judge_labels(path: Path, scorer: Any) -> list[dict[str, Any]]:
    """Ask ``scorer`` (a :class:`~harness.evaluation.scorers.JudgeScorer`) to grade every labelled answer."""
    from harness.data.formats import eval_messages
    from harness.evaluation.prompting import question_of

    rows = read_labels(path)
    questions = [question_of(eval_messages(r)) if "prompt" in r else str(r["id"]) for r in rows]
    grades = scorer.score(questions, [r["output"] for r in rows], [r.get("reference") for r in rows])
    return [
        {
            "id": str(r.get("id") or f"line-{r['line']}"),
            "human": r["human"],
            "judge_grade": grade,
            "judge": 1.0 if grade >= GOOD_FROM else 0.0,
        }
        for r, grade in zip(rows, grades, strict=True)
    ]


def write_agreement(rows: list[dict[str, Any]], folder: Path) -> Path:
    """Write the graded labels for the report; return the file."""
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / "labels.jsonl"
    file.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return file
