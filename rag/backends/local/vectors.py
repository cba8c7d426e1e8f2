"""FAISS: inner product on normalized vectors, ids are passage ids.

The index type follows the collection's size: exact search (``IndexFlatIP``) up to ``FLAT_LIMIT`` vectors, an
inverted file (``IndexIVFFlat``) beyond, which keeps 1M-passage searches in milliseconds and, unlike HNSW,
supports removal. Both sit behind the same ``add / remove / search / save / load``.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

FLAT_LIMIT = 100_000


def _faiss():  # noqa: ANN202 - the faiss module
    try:
        import faiss
    except ImportError as err:  # pragma: no cover - a dependency of the package
        raise ImportError("FAISS is not available: pip install faiss-cpu") from err
    # Batches of 20+ queries (eval, benchmarks) go through BLAS: 4x faster than the default of 128,000 rows.
    faiss.cvar.distance_compute_blas_threshold = 20
    return faiss


@contextmanager
def omp_threads(n: int) -> Iterator[None]:
    """Run FAISS with ``n`` OpenMP threads inside the block, then restore the count.

    FAISS and torch share one OpenMP runtime, and the count is per calling thread: a global
    ``omp_set_num_threads(1)`` would also leave the embedder on one core. Searches run single-threaded, since
    one query gains nothing from more threads and idle ones would spin against torch's right after a query is
    embedded; training uses every core."""
    faiss = _faiss()
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def train_size(nlist: int) -> int:
    """Training vectors for ``nlist`` lists: k-means time grows with nlist x sample; FAISS wants >= 39 a list."""
    return nlist * 50


def ivf_params(n: int) -> tuple[int, int]:
    """``(nlist, nprobe)`` for ``n`` vectors: about 2 sqrt(n) lists, 1/24 of them probed (at least 48).

    Tuned with ``bench/ivf_sweep.py`` on synthetic vectors shaped like MiniLM's (``rag.bench.synthetic``):
    recall@10 against exact search 0.973 at 100k (632 lists, 48 probes; 32 probes gave 0.946) and ~0.97 at 1M
    (2,000 lists, 83 probes); on the real RealTimeQA passages (31k, 353 lists, 48 probes, 319 questions) 0.984.
    """
    nlist = max(16, min(int(2 * math.sqrt(n)), n // 39))
    return nlist, min(nlist, max(48, nlist // 24))


class VectorIndex:
    """Passage vectors in FAISS; ``kind`` is ``flat`` or ``ivf``."""

    def __init__(self, dim: int, index=None) -> None:  # noqa: ANN001 - a faiss index
        faiss = _faiss()
        self.dim = dim
        self.index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    @property
    def kind(self) -> str:
        return "ivf" if "IVF" in type(self.index).__name__ else "flat"

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @classmethod
    def build(cls, dim: int, ids: np.ndarray, vectors: np.ndarray, flat_limit: int = FLAT_LIMIT) -> VectorIndex:
        """A fresh index of the type that suits ``len(ids)``."""
        faiss = _faiss()
        if len(ids) <= flat_limit:
            index = cls(dim)
            index.add(ids, vectors)
            return index
        nlist, nprobe = ivf_params(len(ids))
        quantizer = faiss.IndexFlatIP(dim)
        ivf = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(0)
        sample = vectors[rng.choice(len(vectors), size=min(len(vectors), train_size(nlist)), replace=False)]
        with omp_threads(os.cpu_count() or 1):
            ivf.train(np.ascontiguousarray(sample, dtype=np.float32))
            ivf.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))
        ivf.nprobe = nprobe
        ivf.quantizer_trains_alone = 0
        log.info("built IVF index: %d vectors, nlist=%d, nprobe=%d", len(ids), nlist, nprobe)
        return cls(dim, ivf)

    def needs_rebuild(self, flat_limit: int = FLAT_LIMIT) -> bool:
        """True when a flat index has outgrown exact search, or an IVF one has grown far past its training."""
        if self.kind == "flat":
            return len(self) > flat_limit
        return len(self) > 4 * self.index.nlist * 39 * 4

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray | list[int]) -> int:
        if not len(ids):
            return 0
        return int(self.index.remove_ids(np.asarray(ids, dtype=np.int64)))

    def search(self, queries: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(scores [q, k], ids [q, k])`` best first; missing slots have id -1."""
        if len(self) == 0:
            q = len(queries)
            return np.zeros((q, 0), dtype=np.float32), np.zeros((q, 0), dtype=np.int64)
        with omp_threads(1):
            scores, ids = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), min(top_k, len(self)))
        return scores, ids

    def save(self, path: Path) -> None:
        """Write atomically: a reader sees the old file or the new one, never half of one."""
        faiss = _faiss()
        tmp = path.with_name(path.name + ".tmp")
        faiss.write_index(self.index, str(tmp))
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> VectorIndex:
        faiss = _faiss()
        index = faiss.read_index(str(path))
        return cls(index.d, index)
