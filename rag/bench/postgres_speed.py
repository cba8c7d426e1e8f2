"""Speed of the PostgreSQL backend: COPY throughput of passages with vectors, and the p50 of dense and lexical
searches, on a synthetic index written into an empty database.

    python -m rag.bench.postgres_speed postgresql://me@127.0.0.1:5432/empty_db --articles 2000
    python -m rag.bench.postgres_speed URL --questions q.jsonl --local DIR   # an existing index vs a local one

Synthetic articles have ``--passages`` passages of 60 words drawn from a 5,000-word vocabulary (Zipf-like),
every passage with a random normalized vector, dates over 24 months. Writes go as the indexer's do: batches of
64 articles, one transaction each. Searches: ``--searches`` random queries of 5 vocabulary words and a random
vector, each with the filter "published on or before a random day", as questions have.

With ``--questions`` (JSONL with ``question`` and ``as_of``), no index is written: the questions' terms and
embeddings (the index's model) are searched in the index at URL and, with ``--local``, in a local index too.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from rag.backends.base import ArticleFilter, LexicalQuery
from rag.types import Article, Passage

BATCH = 64
DENSE_LIMIT = 300  # retrieve.py asks for 3 x candidates (100)
LEXICAL_LIMIT = 100


def _vocabulary(rng: np.random.Generator, size: int = 5000) -> list[str]:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return ["".join(rng.choice(letters, size=rng.integers(4, 10))) for _ in range(size)]


def _words(rng: np.random.Generator, vocab: list[str], n: int) -> list[str]:
    ranks = np.minimum(rng.zipf(1.3, size=n), len(vocab)) - 1
    return [vocab[r] for r in ranks]


def _synthetic(rng: np.random.Generator, vocab: list[str], i: int, passages: int,
               dim: int) -> tuple[Article, list[Passage], dict[str, np.ndarray]]:
    texts = [" ".join(_words(rng, vocab, 60)) for _ in range(passages)]
    day = date(2021, 1, 1) + timedelta(days=int(rng.integers(0, 730)))
    article = Article(f"s{i}", " ".join(_words(rng, vocab, 8)), ". ".join(texts), f"https://x.example/{i}",
                      day.isoformat(), f"source{i % 7}")
    split, offset = [], 0
    for ordinal, part in enumerate(texts):
        split.append(Passage(article.article_id, ordinal, offset, offset + len(part), part))
        offset += len(part) + 2
    vecs = rng.normal(size=(passages, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    return article, split, {f"s{i}#{j}": v for j, v in enumerate(vecs)}


def write_synthetic(backend, articles: int, passages: int, dim: int, seed: int = 0,  # noqa: ANN001
                    vectors: bool = True) -> dict[str, float]:
    """Write the synthetic index (``vectors=False``: passages without vectors, the COPY and full-text indexes
    alone); returns the seconds the writes took (making the articles not counted) and passages a second."""
    rng = np.random.default_rng(seed)
    vocab = _vocabulary(rng)
    store = backend.store
    seconds, total = 0.0, 0
    with backend.writing():
        for lo in range(0, articles, BATCH):
            batch = [_synthetic(rng, vocab, i, passages, dim) for i in range(lo, min(lo + BATCH, articles))]
            start = time.perf_counter()
            with store.transaction() as tx:
                for article, split, cache in batch:
                    store.insert_article(tx, article, f"h{article.article_id}", article.article_id, None)
                    store.insert_passages(tx, article, split, list(cache) if vectors else [None] * len(split), cache)
                    store.put_vectors(tx, "synthetic", cache)
                    total += len(split)
                store.set_meta(tx, "model", "synthetic")
                store.set_meta(tx, "dim", str(dim))
            seconds += time.perf_counter() - start
    return {"seconds": seconds, "passages": total, "passages_per_s": total / seconds}


def _p50(fn: Callable[[], object], runs: list) -> float:
    times = []
    for args in runs:
        t0 = time.perf_counter()
        fn(*args)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def search_synthetic(backend, searches: int, dim: int, seed: int = 1) -> dict[str, float]:  # noqa: ANN001
    rng = np.random.default_rng(seed)
    vocab = _vocabulary(np.random.default_rng(0))
    runs = []
    for _ in range(searches):
        v = rng.normal(size=(1, dim)).astype(np.float32)
        where = ArticleFilter(latest=(date(2021, 1, 1) + timedelta(days=int(rng.integers(0, 730)))).isoformat())
        runs.append((v / np.linalg.norm(v), LexicalQuery(tuple(_words(rng, vocab, 5))), where))
    return _latencies(backend, runs)


def _latencies(backend, runs: list) -> dict[str, float]:  # noqa: ANN001
    dense = _p50(lambda v, q, w: backend.dense_search(v, DENSE_LIMIT, w), runs)
    lexical = _p50(lambda v, q, w: backend.store.lexical_search(q, LEXICAL_LIMIT, w), runs)
    headlines = _p50(lambda v, q, w: backend.store.lexical_search(q, LEXICAL_LIMIT, w, headlines=True), runs)
    return {"dense_p50_ms": dense, "lexical_p50_ms": lexical, "headlines_p50_ms": headlines, "searches": len(runs)}


def search_questions(backends: dict, questions: Path, model: str) -> dict[str, dict[str, float]]:
    """The p50s of each backend on the questions (the same terms, vectors and filters for all)."""
    from rag.embed import make_embedder
    from rag.text import content_terms

    rows = [json.loads(line) for line in questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    embedder = make_embedder(model)
    vectors = embedder.embed([r["question"] for r in rows])
    runs = [(vectors[i : i + 1], LexicalQuery(tuple(content_terms(r["question"]))[:32]),
             ArticleFilter(latest=r.get("as_of"))) for i, r in enumerate(rows)]
    for backend in backends.values():  # warm the caches once
        _latencies(backend, runs[:20])
    return {name: _latencies(backend, runs) for name, backend in backends.items()}


def main(argv: list[str] | None = None) -> None:
    from rag.backends.postgres import open_postgres

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--passages", type=int, default=10)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--without-vectors", action="store_true", help="time the writes of passages without vectors")
    parser.add_argument("--questions", type=Path)
    parser.add_argument("--local", type=Path, help="a local index to time beside (with --questions)")
    args = parser.parse_args(argv)
    if args.questions:
        backend = open_postgres(args.url)
        backends = {"postgres": backend}
        if args.local:
            from rag.backends.local import LocalBackend

            local = LocalBackend(args.local)
            local.bind(backend.store.get_meta("model") or "", lambda: args.dim)
            local.refresh(force=True)
            backends["local"] = local
        print(json.dumps(search_questions(backends, args.questions, backend.store.get_meta("model") or ""),
                         indent=2))
        return
    backend = open_postgres(args.url, create=True)
    if backend.store.counts()["articles"]:
        raise SystemExit(f"{backend.location} is not empty: give an empty database")
    report = {"write": write_synthetic(backend, args.articles, args.passages, args.dim,
                                       vectors=not args.without_vectors)}
    with backend.conns.writing() as conn:
        conn.execute("ANALYZE")
    if args.without_vectors:
        print(json.dumps(report, indent=2))
        return
    report["search"] = search_synthetic(backend, args.searches, args.dim)
    report["size_bytes"] = backend.size_bytes()
    print(json.dumps(report, indent=2))
    backend.close()


if __name__ == "__main__":
    main()
