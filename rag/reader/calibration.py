"""Mapping the reader's raw relevance logits to probabilities (Platt scaling) and picking the abstention threshold.
Pure numpy, so that it is unit-tested without a model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Platt:
    """p = sigmoid(a * logit + b)."""

    a: float = 1.0
    b: float = 0.0

    @classmethod
    def from_config(cls, config: dict) -> Platt:
        method = config.get("method", "platt")
        if method != "platt":
            raise ValueError(f"Invalid calibration method: {method!r}. Must be 'platt'")
        return cls(float(config.get("a", 1.0)), float(config.get("b", 0.0)))

    def to_config(self) -> dict:
        return {"method": "platt", "a": round(self.a, 6), "b": round(self.b, 6)}

    def probability(self, logits: np.ndarray | Sequence[float]) -> np.ndarray:
        z = self.a * np.asarray(logits, dtype=np.float64) + self.b
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def fit_platt(logits: Sequence[float], labels: Sequence[int], steps: int = 100) -> Platt:
    """The Platt scaling that maximizes the likelihood of ``labels`` (0/1) given ``logits`` (Newton's method on
    Platt's smoothed targets, so that separable data gives a finite slope)."""
    x = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if len(x) == 0 or y.min() == y.max():
        raise ValueError("Platt scaling needs both positive and negative examples")
    pos, neg = y.sum(), len(y) - y.sum()
    t = np.where(y > 0, (pos + 1) / (pos + 2), 1 / (neg + 2))
    a, b = 1.0, 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(a * x + b, -50, 50)))
        w = p * (1 - p) + 1e-12
        g = np.array([np.sum((p - t) * x), np.sum(p - t)])
        h = np.array([[np.sum(w * x * x), np.sum(w * x)], [np.sum(w * x), np.sum(w)]]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(h, g)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-9:
            break
    return Platt(float(a), float(b))


def abstention_threshold(answerable_best: Sequence[float], max_false_abstention: float = 0.05) -> float:
    """The highest threshold on a question's best sentence probability that declines at most
    ``max_false_abstention`` of the answerable questions (``answerable_best``: one best probability each)."""
    best = np.sort(np.asarray(answerable_best, dtype=np.float64))
    if len(best) == 0:
        raise ValueError("no answerable questions to pick an abstention threshold on")
    allowed = int(np.floor(max_false_abstention * len(best)))  # questions that may fall below the threshold
    return float(best[allowed]) if allowed < len(best) else float(best[-1])


def abstention_rate(best: Sequence[float], threshold: float) -> float:
    arr = np.asarray(best, dtype=np.float64)
    return float((arr < threshold).mean()) if len(arr) else 0.0
