"""Two embedders on the same texts: speed of each, and how far their vectors agree (per-text cosine, and the
overlap of the top 10 passages each retrieves for the same questions among those texts)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from rag.embed import warm_up


def compare_embedders(first, second, texts: Sequence[str], questions: Sequence[str],  # noqa: ANN001 - Embedders
                      top_k: int = 10) -> dict[str, float]:
    """``{first_per_s, second_per_s, speedup, cosine_mean, cosine_min, overlap_at_10}`` on ``texts``.

    The cosines compare the two vectors of each text, which means something only when both embed into the same
    space (one model at two precisions); they are ``None`` when the dimensions differ. ``overlap_at_10`` is the mean share of the first's top ``top_k`` texts for each question that the second
    also ranks in its top ``top_k``."""
    warm_up(first)
    warm_up(second)
    a, first_s = _timed_embed(first, texts)
    b, second_s = _timed_embed(second, texts)
    cosine = np.sum(a * b, axis=1) if a.shape == b.shape else None
    qa, qb = first.embed(list(questions)), second.embed(list(questions))
    k = min(top_k, len(texts))
    top_a = np.argsort(-(qa @ a.T), axis=1)[:, :k]
    top_b = np.argsort(-(qb @ b.T), axis=1)[:, :k]
    overlap = np.mean([len(set(x.tolist()) & set(y.tolist())) / k for x, y in zip(top_a, top_b, strict=True)])
    return {"texts": len(texts), "questions": len(questions), "first_per_s": len(texts) / first_s,
            "second_per_s": len(texts) / second_s, "speedup": first_s / second_s,
            "cosine_mean": None if cosine is None else float(cosine.mean()),
            "cosine_min": None if cosine is None else float(cosine.min()), "overlap_at_10": float(overlap)}


def _timed_embed(embedder, texts: Sequence[str]) -> tuple[np.ndarray, float]:  # noqa: ANN001
    t0 = time.perf_counter()
    vectors = embedder.embed(list(texts))
    return vectors, max(time.perf_counter() - t0, 1e-9)
