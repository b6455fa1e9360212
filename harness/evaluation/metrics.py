"""Metrics: pure functions ``fn(output, row) -> float`` in a registry, chosen by name per eval set.

Each metric says which row fields it needs (``reference``, ``tests``, ``choices``) so a bad eval set
fails before any model runs. ``choice`` here compares an already chosen answer with the reference;
the runner picks that answer by log-likelihood (:mod:`harness.evaluation.scorers`). ``judge`` needs a
judge model, so its registry entry only declares it; :mod:`harness.evaluation.scorers` runs it.
"""

from __future__ import annotations

import difflib
import re
import string
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from posttrain.errors import BadInput

Row = Mapping[str, Any]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize(text: str) -> str:
    """SQuAD-style normalisation: lower case, no punctuation, no articles, single spaces.

    >>> normalize("  The Answer:  Paris! ")
    'answer paris'
    """
    text = text.lower().translate(_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(output: str, row: Row) -> float:
    """1.0 when the normalised output equals the normalised reference.

    >>> exact_match("Paris.", {"reference": "paris"})
    1.0
    >>> exact_match("It is Paris", {"reference": "Paris"})
    0.0
    """
    return float(normalize(output) == normalize(str(row["reference"])))


def contains(output: str, row: Row) -> float:
    """1.0 when the normalised reference appears in the normalised output (word-aligned).

    >>> contains("I think it is Paris, France.", {"reference": "Paris"})
    1.0
    >>> contains("Parisian", {"reference": "Paris"})
    0.0
    """
    out, ref = f" {normalize(output)} ", f" {normalize(str(row['reference']))} "
    return float(ref in out)


def regex(output: str, row: Row) -> float:
    """1.0 when the reference, read as a regular expression, matches anywhere in the output.

    >>> regex("Answer: 42 apples", {"reference": r"\\b42\\b"})
    1.0
    >>> regex("Answer: 421", {"reference": r"\\b42\\b"})
    0.0
    """
    try:
        return float(re.search(str(row["reference"]), output) is not None)
    except re.error as error:
        raise BadInput(f"regex metric: reference {row['reference']!r} is not a valid regex: {error}") from None


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?|-?\.\d+")


def last_number(text: str) -> Fraction | None:
    """The last number or fraction in ``text`` as an exact fraction (the fallback parser).

    >>> last_number("so 3 apples cost $1,250.50 in total")
    Fraction(2501, 2)
    >>> last_number("x = -3/4.")
    Fraction(-3, 4)
    >>> last_number("no digits") is None
    True
    """
    found = _NUMBER.findall(text)
    if not found:
        return None
    token = found[-1].replace(",", "").replace(" ", "")
    try:
        return Fraction(token)
    except (ValueError, ZeroDivisionError):
        return None


def _math_verify(output: str, reference: str) -> bool | None:
    """math-verify's verdict, or None when it cannot read the reference."""
    try:
        from math_verify import parse, verify
    except ImportError:  # pragma: no cover - math-verify is a dependency
        return None
    # math-verify times out with signal.alarm, which only works in the main thread.
    limit = 5 if threading.current_thread() is threading.main_thread() else None
    try:
        gold = parse(reference, parsing_timeout=limit)
        if not gold:
            return None
        return bool(verify(gold, parse(output, parsing_timeout=limit), timeout_seconds=limit))
    except Exception:  # a parser failure on odd text is a miss, not a crash
        return None


# "Answer: N", also when a small model puts it at the end of a sentence rather than on its own line.
_ANSWER_STATED = re.compile(r"\bAnswer:[ \t*]*([^\n]*)")


def stated_answer(text: str) -> str:
    """What the output states after its last ``Answer:``, else the whole output.

    >>> stated_answer("Answer: 12\\nThen 5 more people came")
    '12'
    >>> stated_answer("3 + 4 = 7")
    '3 + 4 = 7'
    """
    stated = [s for s in _ANSWER_STATED.findall(text) if s.strip()]
    return stated[-1].strip() if stated else text


def numbers_agree(output: str, reference: str) -> bool:
    """The one number check of posttrain: the ``numeric`` metric and the ``numeric`` reward both use it.

    The stated answer (after the last ``Answer:``, else the whole output) against the reference, by
    math-verify, then by the last number of each as an exact fraction.

    >>> numbers_agree("Answer: 7\\nor 9", "7"), numbers_agree("It is 8", "7"), numbers_agree("seven", "7")
    (True, False, False)
    """
    answer = stated_answer(output)
    if _math_verify(answer, reference):
        return True
    gold, pred = last_number(reference), last_number(answer)
    return gold is not None and pred is not None and gold == pred


def numeric(output: str, row: Row) -> float:
    """1.0 when the stated answer equals the reference numerically (:func:`numbers_agree`).

    >>> numeric("The total is 0.5", {"reference": "1/2"})
    1.0
    >>> numeric("$\\\\frac{3}{4}$", {"reference": "0.75"})
    1.0
    >>> numeric("I get 41", {"reference": "42"})
    0.0
    """
    return float(numbers_agree(output, str(row["reference"])))


def f1(output: str, row: Row) -> float:
    """Token F1 between the normalised output and reference (SQuAD).

    >>> f1("the cat sat", {"reference": "a cat sat down"})
    0.8
    >>> f1("", {"reference": "x"})
    0.0
    """
    pred, gold = normalize(output).split(), normalize(str(row["reference"])).split()
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return float(pred == gold)
    precision, recall = common / len(pred), common / len(gold)
    return round(2 * precision * recall / (precision + recall), 6)


def _lcs(a: list[str], b: list[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(output: str, row: Row) -> float:
    """ROUGE-L F-measure over normalised tokens (longest common subsequence).

    >>> rouge_l("the cat sat on the mat", {"reference": "cat on mat"})
    0.857143
    >>> rouge_l("dog", {"reference": "cat"})
    0.0
    """
    pred, gold = normalize(output).split(), normalize(str(row["reference"])).split()
    lcs = _lcs(pred, gold)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(pred), lcs / len(gold)
    return round(2 * precision * recall / (precision + recall), 6)


def choice_index(answer: str, choices: list[str]) -> int | None:
    """Which choice ``answer`` names: the choice text, a letter (A, B, ...) or a 0-based index.

    >>> choice_index("B", ["red", "blue"])
    1
    >>> choice_index("Blue.", ["red", "blue"])
    1
    >>> choice_index("0", ["red", "blue"])
    0
    >>> choice_index("green", ["red", "blue"]) is None
    True
    """
    norm = normalize(answer)
    for i, text in enumerate(choices):
        if norm == normalize(text):
            return i
    letter = answer.strip().rstrip(").:").upper()
    if len(letter) == 1 and "A" <= letter < chr(ord("A") + len(choices)):
        return ord(letter) - ord("A")
    if answer.strip().isdigit() and int(answer) < len(choices):
        return int(answer)
    return None


def choice(output: str, row: Row) -> float:
    """1.0 when the chosen answer names the same choice as the reference.

    >>> choice("blue", {"reference": "B", "choices": ["red", "blue"]})
    1.0
    >>> choice("A", {"reference": "blue", "choices": ["red", "blue"]})
    0.0
    """
    choices = [str(c) for c in row["choices"]]
    gold = choice_index(str(row["reference"]), choices)
    return float(gold is not None and choice_index(output, choices) == gold)


def unit_tests(output: str, row: Row) -> float:
    """1.0 when the row's ``tests`` ran to their end and passed on the output's code, in the sandbox.

    The harness decides, not the exit status (``sys.exit(0)`` scores 0). A row may give
    ``entry_point`` (HumanEval: ``tests`` define ``check(candidate)``, called on that function).
    """
    from harness.evaluation.sandbox import check_answer

    entry = row.get("entry_point")
    prompt = row.get("prompt") if isinstance(row.get("prompt"), str) else None
    return float(check_answer(output, str(row["tests"]), str(entry) if entry else None, prompt).passed)


def _needs_judge(output: str, row: Row) -> float:
    raise BadInput("the judge metric needs a judge model; call it through harness.evaluation.scorers.JudgeScorer")


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[[str, Row], float]
    needs: tuple[str, ...]
    description: str
    uses_model: bool = False


METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric("exact_match", exact_match, ("reference",), "normalised output equals the reference"),
        Metric("contains", contains, ("reference",), "the reference appears in the output"),
        Metric("regex", regex, ("reference",), "the reference regular expression matches the output"),
        Metric("numeric", numeric, ("reference",), "same number as the reference (math-verify)"),
        Metric("f1", f1, ("reference",), "token F1 against the reference"),
        Metric("rouge_l", rouge_l, ("reference",), "ROUGE-L F against the reference"),
        Metric("choice", choice, ("reference", "choices"), "multiple choice picked by log-likelihood", True),
        Metric("unit_tests", unit_tests, ("tests",), "the row's tests run to their end on the output's code"),
        Metric("judge", _needs_judge, (), "an LLM judge scores the output with a rubric (0..1)", True),
    ]
}


def get_metric(name: str) -> Metric:
    """The registered metric, or :class:`BadInput` with "did you mean" and the list.

    >>> get_metric("f1").name
    'f1'
    >>> get_metric("exact-match")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    posttrain.errors.BadInput: unknown metric 'exact-match'; did you mean 'exact_match'? known metrics: exact_match, ...
    """
    if name in METRICS:
        return METRICS[name]
    close = difflib.get_close_matches(name, list(METRICS), n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else ";"
    raise BadInput(f"unknown metric '{name}'{hint} known metrics: {', '.join(METRICS)}")


def check_rows(metric_names: list[str], rows: Sequence[Row], where: Callable[[int], str] | None = None) -> None:
    """Raise one :class:`BadInput` naming the first row that lacks a field a metric needs.

    ``where(i)`` says where row ``i`` came from (``file:line``); by default ``row N``.

    >>> check_rows(["f1"], [{"prompt": "q", "reference": "a"}, {"prompt": "q2"}], lambda i: f"eval.jsonl:{i + 1}")
    Traceback (most recent call last):
    ...
    posttrain.errors.BadInput: eval.jsonl:2: field 'reference' is missing; metric 'f1' needs it
    """
    metrics = [get_metric(name) for name in metric_names]
    for index, row in enumerate(rows):
        for metric in metrics:
            for field in metric.needs:
                value = row.get(field)
                if value is None or (field == "choices" and not value):
                    place = where(index) if where else f"row {index + 1}"
                    raise BadInput(f"{place}: field '{field}' is missing; metric '{metric.name}' needs it")


def score(name: str, output: str, row: Row) -> float:
    """Score one output with the named metric.

    >>> score("contains", "It is 42.", {"reference": "42"})
    1.0
    """
    return get_metric(name).fn(output, row)
