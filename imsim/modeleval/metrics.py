"""Model metrics against the float model (pure numpy): embedding similarity and perplexity."""
from __future__ import annotations

import numpy as np


def _unit_rows(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    norm = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norm > 0, norm, 1.0)


def row_cosines(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of X with the same row of Y (n,)."""
    return np.sum(_unit_rows(X) * _unit_rows(Y), axis=1)


def pairwise_similarities(X: np.ndarray) -> np.ndarray:
    """Cosine similarities of all row pairs i < j, in row-major order (n(n-1)/2,)."""
    U = _unit_rows(X)
    i, j = np.triu_indices(U.shape[0], k=1)
    return np.sum(U[i] * U[j], axis=1)


def average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n of x, ties sharing their average rank."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(x.size, dtype=np.float64)
    sorted_x = x[order]
    start = 0
    for end in range(1, x.size + 1):
        if end == x.size or sorted_x[end] != sorted_x[start]:
            ranks[order[start:end]] = (start + end + 1) / 2.0  # average of ranks start+1..end
            start = end
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation of x and y (Pearson correlation of their average ranks)."""
    rx, ry = average_ranks(x), average_ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    den = float(np.sqrt(np.sum(rx * rx) * np.sum(ry * ry)))
    return float(np.sum(rx * ry) / den) if den > 0 else float("nan")


def embedding_metrics(emb: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """cos_mean / cos_min (each embedding vs the float model's) and the Spearman correlation of
    all pairwise similarities vs the float model's (`spearman`)."""
    cos = row_cosines(emb, ref)
    return {"cos_mean": float(cos.mean()), "cos_min": float(cos.min()),
            "spearman": spearman(pairwise_similarities(emb), pairwise_similarities(ref))}


def perplexity(logits: np.ndarray, ids: np.ndarray) -> float:
    """exp(mean cross-entropy) of next-token predictions: logits (T, V) predict ids[1:] (T,)."""
    z = np.asarray(logits[:-1], dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    nll = -logp[np.arange(z.shape[0]), np.asarray(ids[1:])]
    return float(np.exp(nll.mean()))
