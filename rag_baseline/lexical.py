"""BM25 over a collection's chunk texts: the keyword half of hybrid retrieval.

Dense embeddings find paraphrases but miss rare exact words — identifiers, option names, error codes
(``work_mem``, ``40P01``, ``PQnotifies``) — that a keyword index ranks first. The index is built in
memory from the texts the collection already stores, the first time a retriever searches, so it can
never disagree with the collection and needs no file of its own (the PostgreSQL manual's 13,941 chunks
take about 2 s). Scores are Okapi BM25 (k1 = 1.2, b = 0.75, the Lucene idf); tokens are lower-cased
runs of letters (of any script), digits and ``_``, without a short list of English stop words.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

K1, B = 1.2, 0.75
_TOKEN = re.compile(r"\w+")  # letters of any script, digits and _
_STOP = (
    "a about all also an and any are as at be been but by can could did do does for from had has have how i if "
    "in into is it its me my no not of on or our so than that the their them then there these they this those "
    "to us was we were what when where which who whom why will with would you your"
)
STOP_WORDS = frozenset(_STOP.split())


def tokens(text: str) -> list[str]:
    """The words BM25 counts: lower case, no stop words, a plural ``s`` dropped (``dogs`` finds ``dog``).

    >>> tokens("What is the default of work_mem, in MB? Can I bring my dogs?")
    ['default', 'work_mem', 'mb', 'bring', 'dog']
    >>> tokens("Größe der Rückgabe")  # accented words stay whole
    ['größe', 'der', 'rückgabe']
    """
    return [_singular(w) for w in _TOKEN.findall(text.lower()) if w not in STOP_WORDS]


def _singular(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")) else word


class Bm25:
    """BM25 scores of every text for a query; ``top(query, n)`` gives the best ``n`` positions."""

    def __init__(self, texts: list[str]):
        import numpy as np
        from scipy.sparse import csc_matrix

        counts = [Counter(tokens(t)) for t in texts]
        vocabulary: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        freqs: list[int] = []
        for row, count in enumerate(counts):
            for word, n in count.items():
                rows.append(row)
                cols.append(vocabulary.setdefault(word, len(vocabulary)))
                freqs.append(n)
        lengths = np.array([sum(c.values()) for c in counts], dtype=np.float64)
        mean_length = float(lengths.mean()) if len(texts) and lengths.sum() else 1.0
        tf = np.array(freqs, dtype=np.float64)
        row_index = np.array(rows, dtype=np.int64)
        col_index = np.array(cols, dtype=np.int64)
        df = np.bincount(col_index, minlength=len(vocabulary)).astype(np.float64)
        idf = np.log(1 + (len(texts) - df + 0.5) / (df + 0.5))
        # Each (text, word) weight is fixed at build time; a query's score is the sum of its words' columns.
        weight = idf[col_index] * tf * (K1 + 1) / (tf + K1 * (1 - B + B * lengths[row_index] / mean_length))
        self._weights: Any = csc_matrix((weight, (row_index, col_index)), shape=(len(texts), len(vocabulary)))
        self._vocabulary = vocabulary
        self.size = len(texts)

    def scores(self, query: str) -> Any:
        """One BM25 score per text (a numpy array); 0 where no query word occurs."""
        import numpy as np

        columns = sorted({self._vocabulary[w] for w in tokens(query) if w in self._vocabulary})
        if not columns:
            return np.zeros(self.size)
        return np.asarray(self._weights[:, columns].sum(axis=1)).ravel()

    def top(self, query: str, n: int) -> list[int]:
        """Positions of the ``n`` best-scoring texts, best first; texts that share no word are left out.

        >>> Bm25(["the cat sat", "a dog ran", "cat and cat"]).top("cat", 5)
        [2, 0]
        """
        import numpy as np

        scores = self.scores(query)
        found = np.flatnonzero(scores > 0)
        if len(found) > n:
            found = found[np.argpartition(-scores[found], n - 1)[:n]]
        return [int(i) for i in found[np.lexsort((found, -scores[found]))]]
