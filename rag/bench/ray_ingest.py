"""``python -m rag.bench.ray_ingest --address HOST:PORT``: ingest a corpus on a Ray cluster with one node, with
every node, and locally; print articles/s and passages/s of each, and check that every index is the local one.

    python -m rag.bench.ray_ingest --address 127.0.0.2:6379 --corpus realtimeqa --nodes 1 2
    python -m rag.bench.ray_ingest --address 127.0.0.2:6379 --corpus demo --window 16 --json out.json

Each run builds a fresh index in a temporary folder. The comparison: the same articles (ids, titles, story
groups), passages (ids, ordinals, offsets, texts) and vectors (the same passage ids; largest difference printed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rag.bench.pipeline import resolve_corpus
from rag.errors import RagError

TOLERANCE = 1e-5  # torch and the NumPy encoder, batched differently, agree to about 1e-6


@dataclass(frozen=True)
class IndexPrint:
    """What two indexes must share to be the same: counts, a digest of articles and passages, the vectors."""

    counts: dict[str, int]
    articles_sha1: str  # (article_id, title, published, group_id) of every article, by id
    passages_sha1: str  # (passage_id, article_id, ordinal, start, end, text) of every passage, by article
    vector_ids: tuple[int, ...]
    vector_sum: float  # a checksum to print; the comparison uses the vectors themselves


@dataclass(frozen=True)
class Run:
    name: str
    seconds: float
    articles: int
    passages: int
    embedded_on: dict[str, int]

    @property
    def articles_per_s(self) -> float:
        return self.articles / self.seconds

    @property
    def passages_per_s(self) -> float:
        return self.passages / self.seconds


def fingerprint(index) -> tuple[IndexPrint, np.ndarray]:  # noqa: ANN001 - a NewsIndex
    """The index's print and its vectors (float32 [n, dim], in the order of ``vector_ids``)."""
    store = index.store
    ids = sorted(store.oldest_article_ids(1 << 62))
    infos = store.article_infos(ids)
    articles, passages = hashlib.sha1(), hashlib.sha1()
    for article_id in ids:
        info = infos[article_id]
        articles.update(repr((article_id, info.title, info.published, info.group_id)).encode())
        for p in store.article_passages(article_id):
            passages.update(repr((p.passage_id, p.article_id, p.ordinal, p.start, p.end, p.text)).encode())
    pids, vectors = store.indexed_vectors(index.model_name)
    order = np.argsort(pids)
    pids, vectors = pids[order], vectors[order]
    return IndexPrint(store.counts(), articles.hexdigest(), passages.hexdigest(), tuple(int(i) for i in pids),
                      float(vectors.astype(np.float64).sum())), vectors


def differences(a: tuple[IndexPrint, np.ndarray], b: tuple[IndexPrint, np.ndarray]) -> list[str]:
    """How ``b`` differs from ``a`` (empty when they are the same index)."""
    (pa, va), (pb, vb) = a, b
    found = [f"{field} differ" for field in ("counts", "articles_sha1", "passages_sha1", "vector_ids")
             if getattr(pa, field) != getattr(pb, field)]
    if not found and len(va) and (gap := float(np.abs(va - vb).max())) > TOLERANCE:
        found.append(f"vectors differ by up to {gap:.2e}")
    return found


def _ingest(name: str, inputs: tuple[str, ...], folder: Path, address: str | None, nodes: int | None,
            window: int) -> tuple[Run, tuple[IndexPrint, np.ndarray]]:
    from rag.distributed.ray_ingest import ingest_with_ray
    from rag.pipeline import NewsIndex

    index = NewsIndex.open(folder / name, create=True)
    start = time.perf_counter()
    with index.writing():
        if address:
            report = ingest_with_ray(index, inputs, address, index.settings, window=window, nodes=nodes)
        else:
            from rag.indexer import ingest

            report = ingest(index, inputs, None, index.settings)
    seconds = time.perf_counter() - start
    run = Run(name, seconds, report.added + report.replaced, report.passages, report.embedded_on)
    try:
        return run, fingerprint(index)
    finally:
        index.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.bench.ray_ingest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", required=True, help="HOST:PORT of the Ray cluster's head")
    parser.add_argument("--corpus", default="realtimeqa", help="demo, realtimeqa (default) or a path of articles")
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2], help="node counts to run with (default 1 2)")
    parser.add_argument("--window", type=int, default=None, help="articles per window (default the ingest's)")
    parser.add_argument("--no-local", action="store_true", help="skip the local ingest (and the comparison)")
    parser.add_argument("--json", metavar="PATH", help="write the runs here as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    from rag.distributed.ray_ingest import WINDOW_ARTICLES, quiet_ray_data

    quiet_ray_data(False)

    window = args.window or WINDOW_ARTICLES
    corpus = resolve_corpus(args.corpus)
    runs: list[Run] = []
    failed = False
    try:
        with tempfile.TemporaryDirectory(prefix="newsrag-ray-bench-") as tmp:
            local = None
            if not args.no_local:
                run, local = _ingest("local", corpus.inputs, Path(tmp), None, None, window)
                runs.append(run)
            for nodes in args.nodes:
                run, made = _ingest(f"ray, {nodes} node{'s' * (nodes > 1)}", corpus.inputs, Path(tmp), args.address,
                                    nodes, window)
                runs.append(run)
                problems = differences(local, made) if local else []
                failed |= bool(problems)
                print(f"{run.name}: " + ("; ".join(problems) if problems else
                                         "same index as the local ingest" if local else "not compared"), flush=True)
    except RagError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"\n{corpus.name}, window {window} articles\n")
    print("| run | seconds | articles/s | passages/s | embedded per node |\n|---|---:|---:|---:|---|")
    for run in runs:
        nodes = ", ".join(f"{n:,}" for _, n in sorted(run.embedded_on.items())) or "-"
        print(f"| {run.name} | {run.seconds:.1f} | {run.articles_per_s:.1f} | {run.passages_per_s:.1f} | {nodes} |")
    if args.json:
        Path(args.json).write_text(json.dumps([{**asdict(r), "articles_per_s": r.articles_per_s,
                                                "passages_per_s": r.passages_per_s} for r in runs], indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
