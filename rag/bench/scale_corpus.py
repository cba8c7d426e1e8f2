"""A synthetic index of any size for either backend, written through the ``Store`` / ``Backend`` interface as the
indexer writes, and the search timings taken on it (``rag/bench/pg_scale.py`` drives both).

Articles have ``per_article`` passages of ``words`` words drawn from a Zipf-like 5,000-word vocabulary (the
commonest words match most passages, as stop-word-free news terms do), dates spread evenly over ``months``
months, and every passage has a vector from ``synthetic.synthetic_vectors`` (MiniLM-like: the same distribution
``newsrag bench --vectors`` times FAISS on). The corpus is a function of its ``ScaleSpec``: two backends written
from one spec hold the same articles, passages and vectors.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np

from rag.backends.base import ArticleFilter, LexicalQuery
from rag.bench.postgres_speed import _vocabulary, _words
from rag.bench.synthetic import DIM, synthetic_vectors
from rag.config import DEFAULT_MODEL
from rag.types import Article, Passage

BATCH = 64  # articles a transaction, as the indexer writes
VECTOR_BLOCK = 100_000  # vectors drawn at a time (each block from its own seed, so any block can be redrawn)
DENSE_LIMIT = 300  # retrieve.py asks for 3 x candidates (100)
LEXICAL_LIMIT = 100


@dataclass(frozen=True)
class ScaleSpec:
    """What to write: ``passages`` passages in articles of ``per_article``, dated over ``months`` months from
    ``start``; ``model`` is recorded as the index's model, so that ``ask`` embeds questions with it."""

    passages: int
    per_article: int = 10
    words: int = 60
    months: int = 24
    start: date = date(2021, 1, 1)
    dim: int = DIM
    seed: int = 0
    model: str = DEFAULT_MODEL

    @property
    def articles(self) -> int:
        return -(-self.passages // self.per_article)

    @property
    def days(self) -> int:
        end = date(self.start.year + (self.start.month - 1 + self.months) // 12,
                   (self.start.month - 1 + self.months) % 12 + 1, 1)
        return (end - self.start).days


def vectors_of(spec: ScaleSpec, lo: int, hi: int) -> np.ndarray:
    """The vectors of passages ``lo`` to ``hi`` (the corpus's n-th passage always gets the same one)."""
    out, pos = [], lo
    while pos < hi:
        block = pos // VECTOR_BLOCK
        rows = synthetic_vectors(min(VECTOR_BLOCK, spec.passages - block * VECTOR_BLOCK), spec.dim,
                                 seed=1000 + 1000 * spec.seed + block)
        take = min(hi, (block + 1) * VECTOR_BLOCK) - pos
        out.append(rows[pos - block * VECTOR_BLOCK: pos - block * VECTOR_BLOCK + take])
        pos += take
    return np.vstack(out) if out else np.zeros((0, spec.dim), dtype=np.float32)


Item = tuple[Article, list[Passage], list[str], dict[str, np.ndarray]]


def batches(spec: ScaleSpec) -> Iterator[list[Item]]:
    """The corpus in batches of ``BATCH`` articles: (article, passages, embed hashes, hash -> vector)."""
    rng = np.random.default_rng(spec.seed)
    vocab = _vocabulary(rng)
    block_lo, block = 0, np.zeros((0, spec.dim), dtype=np.float32)
    for first in range(0, spec.articles, BATCH):
        items = []
        for i in range(first, min(first + BATCH, spec.articles)):
            lo, hi = i * spec.per_article, min((i + 1) * spec.per_article, spec.passages)
            if hi > block_lo + len(block):
                block_lo, block = lo, vectors_of(spec, lo, min(spec.passages, lo + VECTOR_BLOCK))
            items.append(_article(spec, rng, vocab, i, block[lo - block_lo: hi - block_lo]))
        yield items


def _article(spec: ScaleSpec, rng: np.random.Generator, vocab: list[str], i: int, vecs: np.ndarray) -> Item:
    texts = [" ".join(_words(rng, vocab, spec.words)) for _ in range(len(vecs))]
    day = spec.start + timedelta(days=i * spec.days // spec.articles)
    article = Article(f"s{i}", " ".join(_words(rng, vocab, 8)).capitalize(), ". ".join(texts),
                      f"https://synthetic.example/{i}", day.isoformat(), f"Source {i % 7}")
    passages, offset = [], 0
    for ordinal, part in enumerate(texts):
        passages.append(Passage(article.article_id, ordinal, offset, offset + len(part), part))
        offset += len(part) + 2
    hashes = [f"s{i}#{j}" for j in range(len(texts))]
    return article, passages, hashes, dict(zip(hashes, vecs, strict=True))


def write(backend, spec: ScaleSpec, progress: Callable[[int], None] | None = None) -> dict[str, float]:  # noqa: ANN001
    """Write the corpus into an empty ``backend`` (a ``rag.backends.base.Backend``), one transaction a batch,
    then hand all the vectors to ``backend.apply`` once (the local backend builds its FAISS index there).
    Returns the seconds of the writes (drawing the corpus not counted) and of ``apply``."""
    store, write_s, done = backend.store, 0.0, 0
    ids, vecs = [], []
    backend.bind(spec.model, lambda: spec.dim)
    with backend.writing():
        for batch in batches(spec):
            t0 = time.perf_counter()
            with store.transaction() as tx:
                for article, passages, hashes, vectors in batch:
                    store.insert_article(tx, article, f"h{article.article_id}", article.article_id, None)
                    ids += store.insert_passages(tx, article, passages, hashes, vectors)
                    store.put_vectors(tx, spec.model, vectors)
                    vecs.append(np.vstack(list(vectors.values())))
                if done == 0:
                    for key, value in (("model", spec.model), ("dim", str(spec.dim)), ("dense_passages", "0")):
                        store.set_meta(tx, key, value)
            write_s += time.perf_counter() - t0
            done += sum(len(item[1]) for item in batch)
            if progress:
                progress(done)
        t0 = time.perf_counter()
        backend.apply([], np.asarray(ids, dtype=np.int64), np.vstack(vecs))
        apply_s = time.perf_counter() - t0
    return {"passages": done, "write_s": write_s, "passages_per_s": done / max(write_s, 1e-9), "apply_s": apply_s}


def questions(spec: ScaleSpec, n: int, seed: int = 7) -> list[str]:
    """``n`` questions of five vocabulary words past the 20 commonest (a question's terms are rarer than the
    corpus's filler words), in the corpus's own vocabulary so that the full-text search matches."""
    vocab = _vocabulary(np.random.default_rng(spec.seed))
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        w = [vocab[20 + int(r) % (len(vocab) - 20)] for r in rng.zipf(1.2, size=5)]
        out.append(f"What did {w[0]} {w[1]} say about the {w[2]} {w[3]} {w[4]}?")
    return out


def query_vectors(spec: ScaleSpec, n: int) -> np.ndarray:
    """``n`` query vectors of the corpus's distribution (another seed than any passage block)."""
    return synthetic_vectors(n, spec.dim, seed=999_999 - spec.seed)


def exact_top_k(spec: ScaleSpec, queries: np.ndarray, top_k: int = 10) -> list[list[tuple[str, int]]]:
    """The exact ``top_k`` passages by inner product for each query, as (article id, ordinal), best first.
    Scans the vectors block by block (no index): the oracle for recall."""
    best_scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_rows = np.zeros((len(queries), 0), dtype=np.int64)
    for lo in range(0, spec.passages, VECTOR_BLOCK):
        block = vectors_of(spec, lo, min(spec.passages, lo + VECTOR_BLOCK))
        scores = np.hstack([best_scores, queries @ block.T])
        rows = np.hstack([best_rows, np.broadcast_to(np.arange(lo, lo + len(block)), (len(queries), len(block)))])
        keep = np.argsort(-scores, axis=1)[:, :top_k]
        best_scores, best_rows = np.take_along_axis(scores, keep, 1), np.take_along_axis(rows, keep, 1)
    return [[(f"s{r // spec.per_article}", int(r % spec.per_article)) for r in row] for row in best_rows]


def percentiles(values: list[float]) -> dict[str, float]:
    """p50 and p95 (milliseconds in, milliseconds out) and the count."""
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "n": 0}
    cuts = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else [values[0]] * 99
    return {"p50": cuts[49], "p95": cuts[94], "n": len(values)}


def time_searches(backend, vectors: np.ndarray, texts: list[str], warm: int = 10) -> dict[str, Any]:  # noqa: ANN001
    """p50/p95 of the dense search (``DENSE_LIMIT`` deep, no filter: a plain question's), the full-text search
    and the headline search (``LEXICAL_LIMIT`` deep, filtered "published on or before today", as a plain
    question's are), one query at a time, after ``warm`` untimed ones. Also returns the dense results' ids."""
    from rag.retrieve import lexical_query

    today = ArticleFilter(latest=date.today().isoformat())
    lexical: list[LexicalQuery] = [lexical_query(t) for t in texts]
    runs = {"dense": lambda i: backend.dense_search(vectors[i: i + 1], DENSE_LIMIT),
            "lexical": lambda i: backend.store.lexical_search(lexical[i % len(lexical)], LEXICAL_LIMIT, today),
            "headlines": lambda i: backend.store.lexical_search(lexical[i % len(lexical)], LEXICAL_LIMIT, today,
                                                                headlines=True)}
    out: dict[str, Any] = {}
    found = []
    for name, run in runs.items():
        for i in range(min(warm, len(vectors))):
            run(i)
        times = []
        for i in range(len(vectors)):
            t0 = time.perf_counter()
            result = run(i)
            times.append((time.perf_counter() - t0) * 1000)
            if name == "dense":
                found.append(result[:10])
        out[name] = percentiles(times)
    out["dense_ids"] = found
    return out


def time_asks(index, texts: list[str], warm: int = 5) -> dict[str, Any]:  # noqa: ANN001 - a NewsIndex
    """p50/p95 of the wall time of ``index.ask`` and of each stage it reports, after ``warm`` untimed asks."""
    for text in texts[:warm]:
        index.ask(text)
    wall: list[float] = []
    stages: dict[str, list[float]] = {}
    for text in texts:
        t0 = time.perf_counter()
        answer = index.ask(text)
        wall.append((time.perf_counter() - t0) * 1000)
        for stage, ms in answer.timings.items():
            stages.setdefault(stage, []).append(ms)
    return {"wall": percentiles(wall), **{stage: percentiles(v) for stage, v in stages.items()}}


def recall(store, found: list[list[int]], truth: list[list[tuple[str, int]]]) -> float:  # noqa: ANN001 - a Store
    """Mean share of each exact top 10 found in the search's top 10 (``found``: passage ids of ``store``)."""
    shares = []
    for ids, exact in zip(found, truth, strict=True):
        passages = store.passages(ids)
        keys = {(passages[i].article_id, passages[i].ordinal) for i in ids if i in passages}
        shares.append(len(keys & set(exact)) / len(exact))
    return float(np.mean(shares))
