"""Near-duplicate search: numpy MinHash signatures over word n-grams, indexed with datasketch's MinHashLSH.

datasketch hashes shingles one at a time in Python (about 1 µs each); a 100 MB file holds ~17 M word
3-grams, so that alone would take longer than the whole check may. Here the hashing is vectorised:

1. every text becomes bytes; ASCII letters are lower-cased, punctuation and spaces split words;
2. each word gets a polynomial hash from prefix sums (hash of bytes ``s..e`` is
   ``(H[e] - H[s]) * P^-s`` modulo 2^64, so no Python loop over words), then a splitmix64 mix;
3. n consecutive word hashes in the same text combine into one n-gram hash;
4. a MinHash value per permutation is the top 32 bits of ``a_p * x mod 2^64`` (multiply-shift, a
   universal family for odd ``a_p``), minimised per text with ``np.minimum.reduceat``.

The signatures go into :class:`datasketch.MinHashLSH` as ``LeanMinHash`` objects; a candidate pair it
returns is kept only when the exact Jaccard similarity of the two shingle sets reaches the threshold,
so LSH's false positives are dropped and the MinHash estimate's noise (±0.03 at 128 permutations)
does not decide borderline pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

NUM_PERM = 128
SEED = 20240601
SHINGLE = 3  # word 3-grams: one changed word alters 3 shingles, so a 200-word text stays ~0.97 similar
# Texts are hashed in batches of about this many bytes: ~8 arrays of 8 bytes per input byte = 64 MB.
_BATCH_BYTES = 1 << 20
# Rows of the n-gram × permutation matrix per block: 8192 × 128 × 8 bytes = 8 MB, cache-friendly.
_BLOCK = 8192
_P = np.uint64(0x100000001B3)  # odd, so it has an inverse modulo 2^64
_P_INV = np.uint64(pow(int(_P), -1, 2**64))
_MASK64 = (1 << 64) - 1

# byte -> lower-cased byte, or 0 for a separator. Bytes >= 0x80 (UTF-8 of non-ASCII letters) are word bytes.
_LUT = np.zeros(256, dtype=np.uint8)
for _b in range(256):
    _c = chr(_b)
    if _c.isascii() and _c.isalnum():
        _LUT[_b] = ord(_c.lower())
    elif _b >= 0x80:
        _LUT[_b] = _b


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, vectorised: spreads every input bit over all output bits."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * np.uint64(0xBF58476D1CE4E5B9)
        x = x ^ (x >> np.uint64(27))
        x = x * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _powers(base: np.uint64, n: int) -> np.ndarray:
    out = np.full(n, base, dtype=np.uint64)
    out[0] = 1
    with np.errstate(over="ignore"):
        return np.cumprod(out, dtype=np.uint64)


def word_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Hash every word of every text. Returns ``(hashes, doc_of_each_word)``.

    Words compare case-insensitively and ignore punctuation:

    >>> h, d = word_hashes(["Hello, world!", "hello WORLD", "other"])
    >>> bool(h[0] == h[2]) and bool(h[1] == h[3]) and bool(h[0] != h[1]), d.tolist()
    (True, [0, 0, 1, 1, 2])
    """
    hashes: list[np.ndarray] = []
    docs: list[np.ndarray] = []
    start = 0
    while start < len(texts):
        size, stop = 0, start
        while stop < len(texts) and (size < _BATCH_BYTES or stop == start):
            size += len(texts[stop]) + 1
            stop += 1
        h, d = _batch_word_hashes(texts[start:stop])
        hashes.append(h)
        docs.append(d + start)
        start = stop
    if not hashes:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    return np.concatenate(hashes), np.concatenate(docs)


def _batch_word_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    encoded = [t.encode("utf-8", "replace") for t in texts]
    lengths = np.fromiter((len(b) + 1 for b in encoded), dtype=np.int64, count=len(encoded))
    doc_starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    raw = np.frombuffer(b"\x00".join(encoded) + b"\x00", dtype=np.uint8)
    mapped = _LUT[raw]
    is_word = mapped != 0
    edges = np.diff(np.concatenate(([False], is_word, [False])).astype(np.int8))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)  # exclusive
    if not len(starts):
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    n = len(mapped)
    with np.errstate(over="ignore"):
        prefix = np.zeros(n + 1, dtype=np.uint64)
        np.cumsum(mapped.astype(np.uint64) * _powers(_P, n), out=prefix[1:])
        # hash(s..e) = (prefix[e] - prefix[s]) / P^s: the same word hashes the same wherever it stands.
        raw_hash = (prefix[ends] - prefix[starts]) * _powers(_P_INV, n)[starts]
    doc = np.searchsorted(doc_starts, starts, side="right") - 1
    return _mix(raw_hash), doc.astype(np.int64)


def shingle_hashes(texts: Sequence[str], n: int = SHINGLE) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of the word ``n``-grams of each text, and offsets: text ``i`` owns ``h[off[i]:off[i+1]]``.

    A text with fewer than ``n`` words is represented by its words.

    >>> h, off = shingle_hashes(["a b c d", "a b c", "x"], n=3)
    >>> off.tolist(), bool(h[0] == h[2])
    ([0, 2, 3, 4], True)
    """
    words, doc = word_hashes(texts)
    count = len(texts)
    if len(words) >= n:
        with np.errstate(over="ignore"):
            grams = words[: len(words) - n + 1].copy()
            for k in range(1, n):
                grams = _mix(grams * np.uint64(31) + words[k : len(words) - n + 1 + k])
        gram_doc = doc[: len(words) - n + 1]
        same = gram_doc == doc[n - 1 :]
        grams, gram_doc = grams[same], gram_doc[same]
    else:
        grams, gram_doc = np.zeros(0, np.uint64), np.zeros(0, np.int64)
    per_doc = np.bincount(gram_doc, minlength=count)
    short = np.flatnonzero(per_doc == 0)
    if len(short):  # texts shorter than n words: use their words
        take = np.isin(doc, short)
        grams = np.concatenate((grams, words[take]))
        gram_doc = np.concatenate((gram_doc, doc[take]))
        order = np.argsort(gram_doc, kind="stable")
        grams, gram_doc = grams[order], gram_doc[order]
        per_doc = np.bincount(gram_doc, minlength=count)
    offsets = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(per_doc, out=offsets[1:])
    return grams, offsets


def _permutations(num_perm: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)  # odd


def signatures(texts: Sequence[str], num_perm: int = NUM_PERM, seed: int = SEED, n: int = SHINGLE) -> np.ndarray:
    """MinHash signatures, shape ``(len(texts), num_perm)``, uint32. A text without words gets all 2^32-1.

    >>> s = signatures(["the cat sat on the mat today", "the cat sat on the mat today", "dogs bark"])
    >>> float(jaccard(s[0], s[1])), float(jaccard(s[0], s[2])) < 0.2
    (1.0, True)
    """
    return signatures_of_shingles(*shingle_hashes(texts, n), num_perm=num_perm, seed=seed)


def signatures_of_shingles(
    grams: np.ndarray, offsets: np.ndarray, num_perm: int = NUM_PERM, seed: int = SEED
) -> np.ndarray:
    """MinHash signatures of texts given as shingle hashes (see :func:`shingle_hashes`)."""
    texts = range(len(offsets) - 1)
    a = _permutations(num_perm, seed)
    out = np.full((len(texts), num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
    counts = np.diff(offsets)
    doc = 0
    buf = np.empty((_BLOCK, num_perm), dtype=np.uint64)
    while doc < len(texts):
        # Take whole texts until the block is full; one text longer than a block is done in pieces.
        first = doc
        lo = offsets[doc]
        while doc < len(texts) and (offsets[doc + 1] - lo <= _BLOCK or doc == first):
            doc += 1
        hi = offsets[doc]
        if hi == lo:
            continue
        if hi - lo > _BLOCK:  # a single long text
            best = np.full(num_perm, np.iinfo(np.uint64).max, dtype=np.uint64)
            for s in range(lo, hi, _BLOCK):
                chunk = grams[s : min(hi, s + _BLOCK)]
                with np.errstate(over="ignore"):
                    np.multiply(chunk[:, None], a[None, :], out=buf[: len(chunk)])
                best = np.minimum(best, buf[: len(chunk)].min(axis=0))
            out[first] = (best >> np.uint64(32)).astype(np.uint32)
            continue
        block = buf[: hi - lo]
        with np.errstate(over="ignore"):
            np.multiply(grams[lo:hi, None], a[None, :], out=block)
        nonempty = np.flatnonzero(counts[first:doc]) + first
        mins = np.minimum.reduceat(block, offsets[nonempty] - lo, axis=0)
        # min(top 32 bits of y) == top 32 bits of min(y): the shift is monotone, so it runs once per text.
        out[nonempty] = (mins >> np.uint64(32)).astype(np.uint32)
    return out


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """The MinHash estimate of Jaccard similarity: the share of permutations whose minima agree."""
    return float(np.mean(a == b))


def shingle_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two texts' shingle hash arrays (used to confirm LSH candidates).

    >>> h, off = shingle_hashes(["a b c d e", "a b c d f"])
    >>> shingle_jaccard(h[off[0]:off[1]], h[off[1]:off[2]])
    0.5
    """
    a, b = np.unique(a), np.unique(b)
    if not len(a) and not len(b):
        return 0.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def has_words(sig: np.ndarray) -> np.ndarray:
    return np.any(sig != np.iinfo(np.uint32).max, axis=-1)


def build_lsh(sigs: np.ndarray, threshold: float, keys: Sequence[int] | None = None) -> Any:
    """A datasketch ``MinHashLSH`` holding the given signatures (texts without words are left out).

    Tuned for recall: the bands are chosen for ``threshold - 0.1`` with false negatives weighted 0.95,
    which with 128 permutations gives 21 bands of 6 rows; a pair at Jaccard 0.8 becomes a candidate with
    probability 1 - (1 - 0.8^6)^21 = 0.998 (0.928 at 0.7). Callers confirm candidates exactly.
    """
    from datasketch import LeanMinHash, MinHashLSH

    lsh = MinHashLSH(threshold=max(0.05, threshold - 0.1), num_perm=sigs.shape[1], weights=(0.05, 0.95))
    indices = range(len(sigs)) if keys is None else keys
    with lsh.insertion_session() as session:
        for i in indices:
            if has_words(sigs[i]):
                session.insert(int(i), LeanMinHash(seed=SEED, hashvalues=sigs[i], scheme="affine32"))
    return lsh


def candidate_pairs(lsh: Any, max_bucket: int = 64) -> set[tuple[int, int]]:
    """Pairs ``(i, j)``, ``i < j``, that share at least one LSH band: the near-duplicate candidates.

    Reading the buckets once is ~5× cheaper than querying every key. A bucket larger than
    ``max_bucket`` (rows from one template) pairs each member with its smallest key only, so the
    work stays linear; union-find over confirmed pairs still joins the whole group.
    """
    pairs: set[tuple[int, int]] = set()
    for table, counts in zip(lsh.hashtables, lsh.get_counts(), strict=True):
        for bucket, count in counts.items():
            if count < 2:
                continue
            keys = sorted(table.get(bucket))
            if len(keys) <= max_bucket:
                pairs.update((a, b) for k, a in enumerate(keys) for b in keys[k + 1 :])
            else:
                pairs.update((keys[0], b) for b in keys[1:])
    return pairs


def query_lsh(lsh: Any, sig: np.ndarray) -> list[int]:
    from datasketch import LeanMinHash

    if not has_words(sig):
        return []
    return [int(k) for k in lsh.query(LeanMinHash(seed=SEED, hashvalues=sig, scheme="affine32"))]
