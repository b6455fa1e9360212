"""Row-level data checks as pure functions: each takes rows and returns row indices with reasons.

``posttrain data check`` reports what these find; ``posttrain data filter`` drops the rows they name.
Row text excludes system messages: a system prompt shared by every row would otherwise make every
pair of rows look alike.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.data.formats import FORMAT_KIND, KINDS, prompt_text, response_text, row_errors

NEAR_THRESHOLD = 0.8  # Jaccard similarity of word 3-grams; 1 word in 25 changed gives (25-3)/(25+3) ≈ 0.79
# Leaks are looked for more eagerly: a missed leak invalidates every comparison, a false alarm costs a look.
EVAL_NEAR_THRESHOLD = 0.7
SHORT_RESPONSE_WORDS = 2  # fewer words than this: "Yes." passes as 1 word, so it is flagged; a warning only
LONG_RESPONSE_WORDS = 2048  # and more than 8 × the median response: an outlier, not merely long-form data
LONG_RESPONSE_FACTOR = 8
ECHO_MIN_CHARS = 20  # a prompt shorter than this ("Hi") appears inside many sound answers
_SHINGLE_BATCH = 4096  # texts shingled at once; see _signatures
DISTINCT_SAMPLE = 5000  # distinct-n grows with corpus size; a fixed sample keeps it comparable across files

Flagged = list[tuple[int, str]]
_NOT_ALNUM = re.compile(r"[\W_]+")


@dataclass
class Duplicates:
    """Groups of row indices: ``exact`` (identical text) and ``near`` (Jaccard ≥ threshold, not exact)."""

    exact: list[list[int]] = field(default_factory=list)
    near: list[list[int]] = field(default_factory=list)

    def redundant_rows(self) -> list[int]:
        """Rows to drop to keep one row per group (the first)."""
        return sorted(i for group in self.exact + self.near for i in group[1:])


@dataclass
class Overlap:
    """Train rows whose prompt matches an eval prompt: ``(train_index, eval_index, similarity)``."""

    exact: list[tuple[int, int, float]] = field(default_factory=list)
    near: list[tuple[int, int, float]] = field(default_factory=list)

    def train_rows(self) -> list[int]:
        return sorted({i for i, _, _ in self.exact + self.near})


def _squash(text: str) -> str:
    return " ".join(text.split())


def _fold(text: str) -> str:
    """Case-insensitive, whitespace- and punctuation-insensitive form for leak matching.

    >>> _fold("  What is 2+2?\\n") == _fold("what is 2 + 2")
    True
    """
    return _NOT_ALNUM.sub("", text.casefold())


def _content_text(value: Any) -> str:
    if isinstance(value, list):
        return "\n".join(
            str(m.get("content") or "") for m in value if isinstance(m, dict) and m.get("role") != "system"
        )
    return "" if value is None else str(value)


def example_text(row: dict[str, Any]) -> str:
    """All user-visible text of a row (no system turns), for duplicate detection.

    >>> example_text({"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "q"},
    ...                            {"role": "assistant", "content": "a"}]})
    'q\\na'
    """
    parts = [_content_text(row[k]) for k in ("messages", "prompt", "completion", "chosen", "rejected") if k in row]
    return "\n".join(p for p in parts if p)


def prompt_only_text(row: dict[str, Any]) -> str:
    """The prompt without system turns (shared system prompts would make every prompt look alike)."""
    if "prompt" in row:
        return _content_text(row["prompt"])
    messages = row.get("messages")
    if isinstance(messages, list):
        last = max(
            (i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == "assistant"),
            default=len(messages),
        )
        return _content_text(messages[:last])
    return prompt_text(row)


# ---------------------------------------------------------------- structure


def structural_errors(rows: Sequence[dict[str, Any]], fmt: str, kind: str | None = None) -> Flagged:
    """``(row, reason)`` for every missing/mistyped field, bad turn order, empty text, chosen == rejected.

    >>> structural_errors([{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]},
    ...                    {"messages": [{"role": "assistant", "content": "a"}, {"role": "user", "content": ""}]}],
    ...                   "messages", "sft")
    [(1, 'messages[1].content: empty')]
    """
    kind = kind if kind in KINDS else FORMAT_KIND[fmt]
    return [(i, e) for i, row in enumerate(rows) for e in row_errors(row, fmt, kind)]


# ---------------------------------------------------------------- duplicates and leaks


def _groups(keys: Sequence[str]) -> list[list[int]]:
    seen: dict[bytes, list[int]] = {}
    for i, key in enumerate(keys):
        seen.setdefault(hashlib.blake2b(key.encode("utf-8", "replace"), digest_size=16).digest(), []).append(i)
    return [g for g in seen.values() if len(g) > 1]


def find_duplicates(rows: Sequence[dict[str, Any]], threshold: float = NEAR_THRESHOLD) -> Duplicates:
    """Exact duplicates (same text up to whitespace) and near duplicates (MinHash LSH, Jaccard ≥ threshold).

    >>> rows = [{"prompt": "tell me a story about a cat", "completion": "once upon a time a cat sat down"},
    ...         {"prompt": "tell me a story about a cat", "completion": "once upon a time a cat sat down"},
    ...         {"prompt": "Tell me a story about a cat!", "completion": "Once upon a time, a cat sat down."},
    ...         {"prompt": "what is two plus two", "completion": "four"}]
    >>> d = find_duplicates(rows)
    >>> d.exact, d.near, d.redundant_rows()
    ([[0, 1]], [[0, 2]], [1, 2])
    """
    texts = [_squash(example_text(r)) for r in rows]
    exact = _groups(texts)
    # Near duplicates are searched among one representative per exact group.
    skip = {i for g in exact for i in g[1:]}
    keep = [i for i in range(len(rows)) if i not in skip]
    near = _near_groups([texts[i] for i in keep], threshold)
    return Duplicates(exact=exact, near=[sorted(keep[j] for j in g) for g in near])


def _near_groups(texts: Sequence[str], threshold: float) -> list[list[int]]:
    from harness.data.minhash import build_lsh, candidate_pairs, shingle_jaccard

    if len(texts) < 2:
        return []
    lsh = build_lsh(_signatures(texts), threshold)
    candidates = sorted(candidate_pairs(lsh))
    del lsh
    grams = _shingles_of(texts, sorted({x for pair in candidates for x in pair}))
    pairs = [(i, j) for i, j in candidates if shingle_jaccard(grams[i], grams[j]) >= threshold]
    parent = list(range(len(texts)))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j in pairs:
        parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for i in sorted({x for pair in pairs for x in pair}):
        groups.setdefault(root(i), []).append(i)
    return [g for g in groups.values() if len(g) > 1]


def _signatures(texts: Sequence[str]) -> Any:
    """MinHash signatures of ``texts``, shingled a batch at a time.

    Shingling holds ~8 uint64 arrays of one entry per word; for 100,000 five-turn conversations
    (~30M words) that is ~2 GB at once. Per batch of 4,096 texts it is ~80 MB, and only the
    signatures (128 × 4 bytes per text: 51 MB for 100,000) are kept.
    """
    import numpy as np

    from harness.data.minhash import NUM_PERM, shingle_hashes, signatures_of_shingles

    out = np.empty((len(texts), NUM_PERM), dtype=np.uint32)
    for start in range(0, len(texts), _SHINGLE_BATCH):
        out[start : start + _SHINGLE_BATCH] = signatures_of_shingles(
            *shingle_hashes(texts[start : start + _SHINGLE_BATCH])
        )
    return out


def _shingles_of(texts: Sequence[str], wanted: list[int]) -> dict[int, Any]:
    """Shingle hashes of the candidate texts only (to confirm LSH candidates exactly)."""
    from harness.data.minhash import shingle_hashes

    out = {}
    for start in range(0, len(wanted), _SHINGLE_BATCH):
        batch = wanted[start : start + _SHINGLE_BATCH]
        grams, off = shingle_hashes([texts[i] for i in batch])
        for k, i in enumerate(batch):
            out[i] = grams[off[k] : off[k + 1]].copy()  # a copy frees the batch's array
    return out


def find_eval_overlap(
    rows: Sequence[dict[str, Any]], eval_rows: Sequence[dict[str, Any]], threshold: float = EVAL_NEAR_THRESHOLD
) -> Overlap:
    """Train rows whose prompt equals (up to case, spacing, punctuation) or nearly matches an eval prompt.

    >>> train = [{"prompt": "What is the capital of France?", "completion": "Paris"},
    ...          {"prompt": "Name the largest planet in our solar system please", "completion": "Jupiter"},
    ...          {"prompt": "Say hi", "completion": "hi"}]
    >>> evals = [{"prompt": "what is the capital of france", "reference": "Paris"},
    ...          {"prompt": "Name the largest planet in our solar system, please.", "reference": "Jupiter"}]
    >>> o = find_eval_overlap(train, evals)
    >>> [(i, j) for i, j, _ in o.exact], o.train_rows()
    ([(0, 0), (1, 1)], [0, 1])
    """
    from harness.data.minhash import build_lsh, query_lsh, shingle_hashes, shingle_jaccard, signatures_of_shingles

    overlap = Overlap()
    if not rows or not eval_rows:
        return overlap
    train_prompts = [prompt_only_text(r) for r in rows]
    eval_prompts = [prompt_only_text(r) for r in eval_rows]
    by_fold: dict[str, int] = {}
    for j, text in enumerate(eval_prompts):
        key = _fold(text)
        if key:
            by_fold.setdefault(key, j)
    exact_rows = set()
    for i, text in enumerate(train_prompts):
        j = by_fold.get(_fold(text), -1)
        if j >= 0:
            overlap.exact.append((i, j, 1.0))
            exact_rows.add(i)
    eval_grams, eval_off = shingle_hashes(eval_prompts)
    lsh = build_lsh(signatures_of_shingles(eval_grams, eval_off), threshold)
    rest = [i for i in range(len(rows)) if i not in exact_rows]
    grams, off = shingle_hashes([train_prompts[i] for i in rest])
    sigs = signatures_of_shingles(grams, off)
    for k, i in enumerate(rest):
        best, best_sim = -1, 0.0
        for j in query_lsh(lsh, sigs[k]):
            sim = shingle_jaccard(grams[off[k] : off[k + 1]], eval_grams[eval_off[j] : eval_off[j + 1]])
            if sim > best_sim:
                best, best_sim = j, sim
        if best >= 0 and best_sim >= threshold:
            overlap.near.append((i, best, round(best_sim, 3)))
    return overlap


# ---------------------------------------------------------------- responses and encodings


def response_length_outliers(rows: Sequence[dict[str, Any]]) -> Flagged:
    """Very short responses (< 2 words) and very long ones (> 2048 words and > 8 × the median).

    >>> response_length_outliers([{"prompt": "p", "completion": "ok"}, {"prompt": "p", "completion": "a fine answer"}])
    [(0, 'very short response (1 word)')]
    """
    lengths = [len(response_text(r).split()) for r in rows]
    if not lengths:
        return []
    median = sorted(lengths)[len(lengths) // 2]
    long_limit = max(LONG_RESPONSE_WORDS, LONG_RESPONSE_FACTOR * median)
    out: Flagged = []
    for i, n in enumerate(lengths):
        if n < SHORT_RESPONSE_WORDS:
            out.append((i, f"very short response ({n} word{'s' if n != 1 else ''})"))
        elif n > long_limit:
            out.append((i, f"very long response ({n} words; median {median})"))
    return out


def prompt_echoes(rows: Sequence[dict[str, Any]]) -> Flagged:
    """Responses that repeat the prompt: equal to it, or containing it whole.

    >>> prompt_echoes([{"prompt": "Translate: good morning to you", "completion": "Translate: good morning to you"},
    ...                {"prompt": "Translate: good morning to you", "completion": "Bonjour à vous"}])
    [(0, 'response repeats the prompt')]
    """
    out: Flagged = []
    for i, row in enumerate(rows):
        response = _fold(response_text(row))
        if not response:
            continue
        prompt = _fold(_answered_turn(row))
        if not prompt:
            continue
        if response == prompt or (len(prompt) >= ECHO_MIN_CHARS and prompt in response):
            out.append((i, "response repeats the prompt"))
    return out


def preference_pair_problems(rows: Sequence[dict[str, Any]]) -> tuple[list[int], list[int]]:
    """Pairs DPO learns little or the wrong thing from: ``(ties, length_only)``, as row indices.

    A tie (chosen and rejected the same text, ignoring whitespace) gives no gradient; a pair where one
    answer is the other cut short or extended teaches "be longer" (or shorter), not "be better".

    >>> preference_pair_problems([{"chosen": "a b", "rejected": "a  b"}, {"chosen": "Paris. It is big.",
    ...                            "rejected": "Paris."}, {"chosen": "Paris", "rejected": "Rome"}])
    ([0], [1])
    """
    ties: list[int] = []
    length_only: list[int] = []
    for i, row in enumerate(rows):
        if "chosen" not in row or "rejected" not in row:
            continue
        chosen, rejected = _squash(_answer_text(row["chosen"])), _squash(_answer_text(row["rejected"]))
        if chosen == rejected:
            ties.append(i)
        elif chosen and rejected and (chosen.startswith(rejected) or rejected.startswith(chosen)):
            length_only.append(i)
    return ties, length_only


def _answer_text(value: Any) -> str:
    if isinstance(value, list):  # the answer is the last turn; earlier turns are the shared prompt
        return _content_text(value[-1:])
    return "" if value is None else str(value)


def untrained_conversations(rows: Sequence[dict[str, Any]]) -> list[int]:
    """``messages`` rows whose assistant turns all have weight 0: they train nothing.

    >>> untrained_conversations([{"messages": [{"role": "user", "content": "q"},
    ...                                        {"role": "assistant", "content": "a", "weight": 0}]}])
    [0]
    """
    out = []
    for i, row in enumerate(rows):
        messages = row.get("messages")
        if not isinstance(messages, list):
            continue
        answers = [m for m in messages if isinstance(m, dict) and m.get("role") == "assistant"]
        if answers and all(m.get("weight", 1) == 0 for m in answers):
            out.append(i)
    return out


def _answered_turn(row: dict[str, Any]) -> str:
    """The user turn the last answer replies to (the whole prompt for prompt rows).

    In a conversation the answer echoes the question it answers, not the whole history; folding the
    history of every 5-turn conversation was also most of this check's cost.
    """
    messages = row.get("messages")
    if "prompt" not in row and isinstance(messages, list):
        for k in range(len(messages) - 1, -1, -1):
            if _role(messages[k]) == "assistant":
                for m in reversed(messages[:k]):
                    if _role(m) == "user":
                        return _content_text([m])
                return ""
    return prompt_only_text(row)


def _role(message: Any) -> str:
    return str(message.get("role", "")) if isinstance(message, dict) else ""


# Mojibake: UTF-8 read as Latin-1/cp1252 turns "é" into "Ã©" and "’" into "â€™".
# cp1252's letters for bytes 0x80-0x9f (the second byte of many UTF-8 sequences)
_CP1252_HIGH = (
    "\u20ac\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u017d\u2018\u2019"
    "\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u017e\u0178"
)
_MOJIBAKE = re.compile(f"[ÃÂ][\x80-\xbf{_CP1252_HIGH}]|â€|Ã¢â")
_REPLACEMENT = re.compile("\ufffd")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def encoding_problems(rows: Sequence[dict[str, Any]]) -> Flagged:
    """Broken or mixed encodings: replacement characters, mojibake, control characters, lone surrogates.

    >>> rows = [{"prompt": "cafÃ© au lait", "completion": "ok"}, {"prompt": "caf\\ufffd", "completion": "ok"},
    ...         {"prompt": "café", "completion": "fine"}]
    >>> for i, why in encoding_problems(rows): print(i, why)
    0 mojibake (UTF-8 read as Latin-1/cp1252): ...Ã©...
    1 replacement character U+FFFD (bytes lost in decoding)
    """
    out: Flagged = []
    for i, row in enumerate(rows):
        text = example_text(row)
        if (m := _MOJIBAKE.search(text)) is not None:
            out.append((i, f"mojibake (UTF-8 read as Latin-1/cp1252): ...{m.group(0)}..."))
        elif _REPLACEMENT.search(text):
            out.append((i, "replacement character U+FFFD (bytes lost in decoding)"))
        elif _SURROGATE.search(text):
            out.append((i, "lone UTF-16 surrogate (a broken \\uD8xx escape)"))
        elif (c := _CONTROL.search(text)) is not None:
            out.append((i, f"control character U+{ord(c.group(0)):04X}"))
    return out


# ---------------------------------------------------------------- distributions


def diversity(rows: Sequence[dict[str, Any]], sample: int = DISTINCT_SAMPLE) -> dict[str, float | int]:
    """distinct-1/2 of responses (unique n-grams / all n-grams, over the first ``sample`` rows) and the share
    of unique prompts (all rows).

    >>> diversity([{"prompt": "a", "completion": "x y"}, {"prompt": "a", "completion": "x z"}])
    {'distinct_1': 0.75, 'distinct_2': 1.0, 'sample_rows': 2, 'unique_prompt_share': 0.5}
    """
    import numpy as np

    from harness.data.minhash import word_hashes

    responses = [response_text(r) for r in rows[:sample]]
    words, doc = word_hashes(responses)
    result: dict[str, float | int] = {}
    for n in (1, 2):
        if len(words) < n:
            result[f"distinct_{n}"] = 0.0
            continue
        with np.errstate(over="ignore"):
            grams = words if n == 1 else words[:-1] * np.uint64(1_000_003) + words[1:]
        valid = np.ones(len(grams), bool) if n == 1 else doc[:-1] == doc[1:]
        grams = grams[valid]
        result[f"distinct_{n}"] = round(len(np.unique(grams)) / max(1, len(grams)), 4)
    result["sample_rows"] = len(responses)
    prompts = {_squash(prompt_only_text(r)) for r in rows}
    result["unique_prompt_share"] = round(len(prompts) / max(1, len(rows)), 4)
    return result


def column_counts(rows: Sequence[dict[str, Any]], columns: Sequence[str] = ("source", "task")) -> dict[str, dict]:
    """Rows per value of the ``source``/``task`` columns, when present.

    >>> column_counts([{"source": "a"}, {"source": "b"}, {"source": "a"}, {}])
    {'source': {'a': 2, 'b': 1, '(missing)': 1}}
    """
    out: dict[str, dict] = {}
    for column in columns:
        if not any(column in r for r in rows[:1000]) and not any(column in r for r in rows):
            continue
        counts = Counter(str(r.get(column, "(missing)")) for r in rows)
        out[column] = dict(counts.most_common())
    return out


def word_length_summary(values: Sequence[int]) -> dict[str, float | int]:
    """min, median, p95, max and mean of a list of lengths.

    >>> word_length_summary([1, 2, 3, 4, 100])
    {'min': 1, 'median': 3, 'p95': 100, 'max': 100, 'mean': 22.0}
    """
    if not values:
        return {}
    ordered = sorted(values)
    n = len(ordered)
    return {
        "min": ordered[0],
        "median": ordered[n // 2],
        "p95": ordered[min(n - 1, int(0.95 * n))],
        "max": ordered[-1],
        "mean": round(sum(ordered) / n, 1),
    }
