"""Diversity-aware selection: keep N examples that cover the pool, not N from its densest corner.

Embeddings (unit vectors) are clustered into N groups with k-means; each group contributes the member
closest to its centroid, so the selection follows the pool's topics in proportion to how distinct
they are rather than how frequent. Representatives, not outliers: farthest-point sampling would pick
the oddest rows first, which in a scraped pool are often the broken ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Rows of the distance matrix computed at once: 4096 × N centroids × 4 bytes stays small for N ≤ 10^4.
_CHUNK = 4096


def _nearest(vectors: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest centroid (largest dot product on unit vectors) and that similarity."""
    labels = np.empty(len(vectors), dtype=np.int64)
    sims = np.empty(len(vectors), dtype=np.float32)
    for start in range(0, len(vectors), _CHUNK):
        block = vectors[start : start + _CHUNK] @ centroids.T
        labels[start : start + _CHUNK] = block.argmax(axis=1)
        sims[start : start + _CHUNK] = block.max(axis=1)
    return labels, sims


def _kmeans_pp(vectors: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding: each next centre drawn with probability proportional to squared distance."""
    first = int(rng.integers(len(vectors)))
    chosen = [first]
    # For unit vectors |a - b|^2 = 2 - 2 a·b.
    dist = np.maximum(2.0 - 2.0 * (vectors @ vectors[first]), 0.0)
    for _ in range(1, k):
        total = float(dist.sum())
        pick = int(rng.choice(len(vectors), p=dist / total)) if total > 0 else int(rng.integers(len(vectors)))
        chosen.append(pick)
        dist = np.minimum(dist, np.maximum(2.0 - 2.0 * (vectors @ vectors[pick]), 0.0))
    return vectors[chosen].copy()


def kmeans_select(vectors: Any, k: int, seed: int = 0, iterations: int = 10) -> list[int]:
    """Indexes of ``k`` rows, one per k-means cluster (the member nearest its centroid), sorted.

    >>> groups = np.array([[1, 0, 0]] * 5 + [[0, 1, 0]] * 3 + [[0, 0, 1]] * 2, dtype=np.float32)
    >>> picked = kmeans_select(groups + 0.01 * np.arange(10)[:, None], 3)
    >>> sorted({int(groups[i].argmax()) for i in picked})  # one from each group
    [0, 1, 2]
    """
    data = np.asarray(vectors, dtype=np.float32)
    if k >= len(data):
        return list(range(len(data)))
    data = data / np.maximum(np.linalg.norm(data, axis=1, keepdims=True), 1e-12)
    rng = np.random.default_rng(seed)
    centroids = _kmeans_pp(data, k, rng)
    labels, _ = _nearest(data, centroids)
    for _ in range(iterations):
        sums = np.zeros_like(centroids)
        np.add.at(sums, labels, data)
        counts = np.bincount(labels, minlength=k)
        filled = counts > 0
        centroids[filled] = sums[filled] / np.maximum(np.linalg.norm(sums[filled], axis=1, keepdims=True), 1e-12)
        new_labels, _ = _nearest(data, centroids)
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
    sims = np.einsum("ij,ij->i", data, centroids[labels])
    picked: list[int] = []
    for cluster in range(k):
        members = np.flatnonzero(labels == cluster)
        if len(members):
            picked.append(int(members[sims[members].argmax()]))
    # Clusters that ended empty: fill with the rows farthest from everything picked so far.
    if len(picked) < k:
        best = (data @ data[picked].T).max(axis=1)
        best[picked] = np.inf
        for _ in range(k - len(picked)):
            far = int(best.argmin())
            picked.append(far)
            best = np.maximum(best, data @ data[far])  # similarity to the nearest picked row
            best[far] = np.inf
    return sorted(picked)
