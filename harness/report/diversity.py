"""Output diversity: distinct-n and self-similarity. RL and synthetic data can narrow what a model
says; these two numbers, before and after training, show whether it did. Pure functions.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

_WORD = re.compile(r"\w+|[^\w\s]")


def tokens(text: str) -> list[str]:
    """Lower-cased words and punctuation marks.

    >>> tokens("Hello, World!")
    ['hello', ',', 'world', '!']
    """
    return _WORD.findall(text.lower())


def ngrams(words: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """Consecutive n-word tuples.

    >>> ngrams(["a", "b", "c"], 2)
    [('a', 'b'), ('b', 'c')]
    """
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def distinct_n(outputs: Sequence[str], n: int = 2) -> float:
    """Unique n-grams divided by all n-grams, pooled over every output (Li et al., 2016).

    1.0 means no n-gram repeats anywhere; a model that says the same thing to every prompt
    drifts toward 0.

    >>> distinct_n(["the cat sat", "the cat ran"], n=1)  # 4 unique of 6 words
    0.6666666666666666
    >>> distinct_n(["same answer"] * 4, n=2)
    0.25
    >>> distinct_n([], n=2)
    0.0
    """
    grams = [g for text in outputs for g in ngrams(tokens(text), n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def jaccard(x: set[tuple[str, ...]], y: set[tuple[str, ...]]) -> float:
    """Shared over all distinct n-grams.

    >>> jaccard({("a",)}, {("a",), ("b",)})
    0.5
    """
    union = x | y
    return len(x & y) / len(union) if union else 1.0


def self_similarity(outputs: Sequence[str], n: int = 2, max_pairs: int = 5000) -> float:
    """Mean pairwise Jaccard similarity of the outputs' n-gram sets (a light Self-BLEU).

    1.0 means every output is the same; unrelated outputs score near 0. Pairs are taken in order
    and capped at ``max_pairs`` so 1,000 outputs (499,500 pairs) stay cheap.

    >>> self_similarity(["a b c", "a b c", "a b c"])
    1.0
    >>> self_similarity(["a b", "c d"])
    0.0
    >>> self_similarity(["only one"])
    0.0
    """
    sets = [set(ngrams(tokens(text), n)) or {(text,)} for text in outputs]
    pairs = list(itertools.islice(itertools.combinations(range(len(sets)), 2), max_pairs))
    if not pairs:
        return 0.0
    return sum(jaccard(sets[i], sets[j]) for i, j in pairs) / len(pairs)
