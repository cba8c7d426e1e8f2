"""Synthetic passage vectors for the vector index alone: build time, single-query latency and recall@10 of the
index that ``VectorIndex.build`` picks, against exact search (``IndexFlatIP``) as the oracle.

The vectors imitate MiniLM's on news rather than being uniform: a shared direction and a power-law spectrum
fitted to the RealTimeQA corpus's passage vectors. On them an inverted file needs a few more probes than on the
real vectors (31k RealTimeQA passages, 256 lists, 319 questions: recall@10 0.93 at 8 probes, 0.98 at 32; these
vectors: 0.78 and 0.98), so the ``nprobe`` tuned here errs on the safe side.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from rag.backends.local.vectors import FLAT_LIMIT, VectorIndex, _faiss, omp_threads

DIM = 384


def synthetic_vectors(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    """``n`` L2-normalized float32 rows around a shared direction (norm 0.32) with a power-law spectrum (variance
    along the i-th principal axis 0.27 i^-1.1). Other seeds draw more rows (queries) of the same distribution."""
    structure = np.random.default_rng(1234)
    mean = 0.32 * _unit(structure.standard_normal(dim).astype(np.float32))
    rotation, _ = np.linalg.qr(structure.standard_normal((dim, dim)))
    scale = np.sqrt(0.27 * np.arange(1, dim + 1) ** -1.1)
    basis = (scale[:, None] * rotation.T).astype(np.float32)
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    step = 100_000
    for lo in range(0, n, step):
        m = min(step, n - lo)
        out[lo : lo + m] = _unit(mean + rng.standard_normal((m, dim), dtype=np.float32) @ basis)
    return out


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@dataclass(frozen=True)
class VectorBench:
    """One run: the ``kind`` of index built, build seconds, single-query milliseconds, recall@10 vs exact."""

    n: int
    kind: str
    nlist: int
    nprobe: int
    build_s: float
    search_p50_ms: float
    search_p95_ms: float
    exact_p50_ms: float
    recall_at_10: float


def exact_top_k(vectors: np.ndarray, queries: np.ndarray, top_k: int = 10) -> np.ndarray:
    """Row numbers of the exact ``top_k`` neighbours by inner product, ``[len(queries), top_k]``, best first."""
    flat = _faiss().IndexFlatIP(vectors.shape[1])
    flat.add(np.ascontiguousarray(vectors, dtype=np.float32))
    with omp_threads(os.cpu_count() or 1):
        _, ids = flat.search(np.ascontiguousarray(queries, dtype=np.float32), top_k)
    return ids


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of the exact top k (``truth [q, k]``) found in ``found [q, >=k]``."""
    k = truth.shape[1]
    return float(np.mean([len(set(f[:k].tolist()) & set(t.tolist())) / k for f, t in zip(found, truth, strict=True)]))


def bench_vectors(n: int, queries: int = 200, flat_limit: int = FLAT_LIMIT, seed: int = 0,
                  vectors: np.ndarray | None = None, probe: np.ndarray | None = None) -> VectorBench:
    """Build the index ``VectorIndex.build`` picks for ``n`` synthetic vectors (or ``vectors``), then time
    ``queries`` single-query searches (or ``probe``) and compare their top 10 with exact search."""
    data = vectors if vectors is not None else synthetic_vectors(n, seed=seed)
    probe = probe if probe is not None else synthetic_vectors(queries, seed=seed + 1)
    ids = np.arange(len(data), dtype=np.int64)
    t0 = time.perf_counter()
    index = VectorIndex.build(data.shape[1], ids, data, flat_limit=flat_limit)
    build_s = time.perf_counter() - t0
    truth = exact_top_k(data, probe)
    found, times = _single_queries(index, probe)
    if index.kind == "flat":
        exact_times = times
    else:
        exact = VectorIndex.build(data.shape[1], ids, data, flat_limit=len(data))
        exact_times = _single_queries(exact, probe[:50])[1]
        del exact
    return VectorBench(len(data), index.kind, int(getattr(index.index, "nlist", 0)),
                       int(getattr(index.index, "nprobe", 0)), build_s, _pct(times, 50), _pct(times, 95),
                       _pct(exact_times, 50), recall_at_k(found, truth))


def _single_queries(index: VectorIndex, probe: np.ndarray) -> tuple[np.ndarray, list[float]]:
    found, times = [], []
    for q in probe:
        t0 = time.perf_counter()
        _, ids = index.search(q[None, :], 10)
        times.append((time.perf_counter() - t0) * 1000)
        found.append(ids[0])
    return np.vstack(found), times


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")
