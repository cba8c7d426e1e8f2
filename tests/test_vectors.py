"""The FAISS wrapper: flat below the limit, IVF above it with recall@10 >= 0.95 against exact search (the
oracle), removal for both kinds, and a save / load round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag.backends.local.vectors import VectorIndex, ivf_params
from rag.bench.synthetic import exact_top_k, recall_at_k, synthetic_vectors

N = 12_000
DIM = 384


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return synthetic_vectors(N)


@pytest.fixture(scope="module")
def queries() -> np.ndarray:
    return synthetic_vectors(100, seed=1)


def _ids(n: int) -> np.ndarray:
    return np.arange(1000, 1000 + n, dtype=np.int64)  # not row numbers, so an id mix-up would show


@pytest.fixture(scope="module")
def ivf(data: np.ndarray) -> VectorIndex:
    return VectorIndex.build(DIM, _ids(N), data, flat_limit=1000)


def test_build_picks_flat_below_the_limit_and_ivf_above(data: np.ndarray, ivf: VectorIndex) -> None:
    flat = VectorIndex.build(DIM, _ids(500), data[:500], flat_limit=1000)
    assert flat.kind == "flat" and len(flat) == 500
    assert ivf.kind == "ivf" and len(ivf) == N
    assert (ivf.index.nlist, ivf.index.nprobe) == ivf_params(N)


def test_ivf_recall_at_10_against_exact_search(data: np.ndarray, queries: np.ndarray, ivf: VectorIndex) -> None:
    truth = _ids(N)[exact_top_k(data, queries)]
    _, found = ivf.search(queries, 10)
    assert recall_at_k(found, truth) >= 0.95


def test_flat_search_is_exact_and_best_first(data: np.ndarray, queries: np.ndarray) -> None:
    flat = VectorIndex.build(DIM, _ids(N), data)
    scores, found = flat.search(queries[:5], 10)
    np.testing.assert_array_equal(found, _ids(N)[exact_top_k(data, queries[:5])])
    assert (np.diff(scores, axis=1) <= 1e-6).all()


@pytest.mark.parametrize("flat_limit", [N, 1000], ids=["flat", "ivf"])
def test_removed_ids_never_come_back(data: np.ndarray, queries: np.ndarray, flat_limit: int) -> None:
    index = VectorIndex.build(DIM, _ids(N), data, flat_limit=flat_limit)
    _, before = index.search(queries, 10)
    removed = np.unique(before[before >= 0])
    assert index.remove(removed) == len(removed)
    assert len(index) == N - len(removed)
    _, after = index.search(queries, 50)
    assert not set(after.ravel().tolist()) & set(removed.tolist())
    # A removed row itself as the query: its own id must not be found.
    row = int(removed[0]) - 1000
    assert int(removed[0]) not in index.search(data[row : row + 1], 10)[1][0].tolist()
    assert index.remove([]) == 0


@pytest.mark.parametrize("flat_limit", [N, 1000], ids=["flat", "ivf"])
def test_save_load_round_trip(tmp_path: Path, data: np.ndarray, queries: np.ndarray, flat_limit: int) -> None:
    index = VectorIndex.build(DIM, _ids(N), data, flat_limit=flat_limit)
    index.remove(_ids(10))
    path = tmp_path / "vectors.faiss"
    index.save(path)
    loaded = VectorIndex.load(path)
    assert (loaded.kind, loaded.dim, len(loaded)) == (index.kind, DIM, N - 10)
    for a, b in zip(index.search(queries, 10), loaded.search(queries, 10), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not list(tmp_path.glob("*.tmp"))


def test_added_vectors_are_found_and_rebuild_is_due_past_the_limit(data: np.ndarray) -> None:
    index = VectorIndex(DIM)
    assert index.search(data[:2], 5)[1].shape == (2, 0)
    index.add(_ids(200), data[:200])
    assert index.search(data[7:8], 1)[1][0, 0] == 1007
    assert not index.needs_rebuild(flat_limit=200)
    index.add(np.array([5000], dtype=np.int64), data[200:201])
    assert index.needs_rebuild(flat_limit=200)


def test_faiss_leaves_the_embedders_threads_alone(data: np.ndarray, queries: np.ndarray) -> None:
    # FAISS and torch share one OpenMP runtime: setting FAISS to one thread for good would slow embedding.
    import faiss

    before = faiss.omp_get_max_threads()
    VectorIndex.build(DIM, _ids(N), data, flat_limit=1000).search(queries[:1], 5)
    VectorIndex.build(DIM, _ids(500), data[:500]).search(queries[:1], 5)
    assert faiss.omp_get_max_threads() == before
