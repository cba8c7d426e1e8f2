"""A synthetic index of ``--passages`` passages (every one with a vector) in PostgreSQL + pgvector and in a local
SQLite + FAISS index, the same corpus in both (rag/bench/scale_corpus.py): load time, index build times, then
dense, full-text and headline search and the full ``ask`` p50/p95 side by side. Prints a Markdown table and keeps
every number in ``--out`` (JSON, rewritten after each step, so a long run that is stopped keeps what it measured).

    python -m rag.bench.pg_scale --passages 1000000 --out pg-1m.json            # starts its own PostgreSQL
    python -m rag.bench.pg_scale --passages 1000000 --url postgresql://me@db/empty --local /tmp/local-1m

PostgreSQL is loaded as a backfill is: the first batch goes in with the backend's indexes (it makes the HNSW
index and the partitions), then every index of ``passages`` but its primary key is dropped, the rest is written
through the backend's own ``insert_passages`` (binary COPY), and the indexes are made again from their exact
definitions, each timed (``maintenance_work_mem`` and ``max_parallel_maintenance_workers`` from the options).
Without ``--url`` a throwaway server starts (tests/cluster.py, so run from a source checkout) with
``shared_buffers`` = ``--shared-buffers``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rag.bench import scale_corpus as sc
from rag.errors import RagError

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]


class Results(dict):
    """Every number so far, written to ``path`` after each step."""

    def __init__(self, path: Path | None) -> None:
        super().__init__(cpus=os.cpu_count())
        self.path = path

    def put(self, key: str, value: Any) -> None:  # noqa: ANN401 - JSON-ready
        self[key] = value
        if self.path:
            self.path.write_text(json.dumps(self, indent=2, default=str) + "\n", encoding="utf-8")


def start_server(stack: ExitStack, shared_buffers: str) -> str:
    """A throwaway PostgreSQL 18 + pgvector (tests/cluster.py), restarted with ``shared_buffers``; its URL."""
    tests = ROOT / "tests"
    if not (tests / "cluster.py").exists():
        raise RagError("starting a PostgreSQL needs tests/cluster.py of a source checkout: pass --url instead")
    sys.path.insert(0, str(tests))
    from cluster import start_postgres

    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="newsrag-pgscale-")))
    cluster = stack.enter_context(start_postgres(workdir, with_standby=False))
    _server_settings(cluster.primary_url, {"shared_buffers": shared_buffers, "max_wal_size": "8GB",
                                           "checkpoint_timeout": "30min"})
    cluster.stop_primary("fast")
    cluster.start_primary()
    return cluster.primary_url


def _server_settings(url: str, settings: dict[str, str]) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for name, value in settings.items():
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")


def drop_passage_indexes(backend) -> list[tuple[str, str]]:  # noqa: ANN001 - a PostgresBackend
    """Drop every index of ``passages`` but its primary key; returns (name, CREATE INDEX statement) of each."""
    with backend.conns.writing() as conn:
        rows = conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'passages' "
                            "AND indexname <> 'passages_pkey' ORDER BY indexname").fetchall()
        for name, _ in rows:
            conn.execute(f"DROP INDEX {name}")
    # pg_indexes gives a partitioned table's index as CREATE INDEX ... ON ONLY, which makes the parent's index
    # alone (invalid until each partition has one); without ONLY it builds every partition's too.
    return [(name, definition.replace(" ON ONLY ", " ON ", 1)) for name, definition in rows]


def build_indexes(backend, definitions: list[tuple[str, str]], work_mem: str, workers: int,  # noqa: ANN001
                  results: Results) -> None:
    """Make each index again (HNSW last), timed; then ANALYZE."""
    builds: dict[str, float] = {}
    order = sorted(definitions, key=lambda d: "hnsw" in d[1])
    with backend.conns.writing() as conn:
        conn.execute(f"SET maintenance_work_mem = '{work_mem}'")
        conn.execute(f"SET max_parallel_maintenance_workers = {int(workers)}")
        for name, definition in order:
            log.info("building %s", name)
            t0 = time.perf_counter()
            conn.execute(definition)
            builds[name] = time.perf_counter() - t0
            results.put("index_build_s", builds)
        t0 = time.perf_counter()
        conn.execute("ANALYZE")
        builds["analyze"] = time.perf_counter() - t0
    results.put("index_build_s", builds)


def load_postgres(url: str, spec: sc.ScaleSpec, args: argparse.Namespace, results: Results) -> None:
    from rag.backends.postgres import open_postgres

    backend = open_postgres(url, create=True)
    try:
        if backend.store.counts()["articles"]:
            raise RagError(f"{backend.location} holds an index already: give an empty database")
        with backend.store.transaction() as tx:
            backend.store.set_meta(tx, "partition_months", str(args.partition_months))
        dropped: list[tuple[str, str]] = []

        def progress(done: int) -> None:
            if not dropped:
                dropped.extend(drop_passage_indexes(backend))
            if done % 50_000 < spec.per_article * sc.BATCH:
                log.info("postgres: %d passages written", done)

        results.put("postgres_write", sc.write(backend, spec, progress))
        build_indexes(backend, dropped, args.maintenance_work_mem, args.workers, results)
        results.put("postgres_size_bytes", backend.size_bytes())
    finally:
        backend.close()


def load_local(path: Path, spec: sc.ScaleSpec, results: Results) -> None:
    from rag.backends import open_backend

    backend = open_backend(str(path), create=True)
    try:
        if backend.store.counts()["articles"]:
            raise RagError(f"{path} holds an index already: give a new directory")

        def progress(done: int) -> None:
            if done % 50_000 < spec.per_article * sc.BATCH:
                log.info("local: %d passages written", done)

        results.put("local_write", sc.write(backend, spec, progress))
        results.put("local_size_bytes", backend.size_bytes())
        results.put("local_vectors", backend.vector_stats())
    finally:
        backend.close()


def measure(name: str, location: str, spec: sc.ScaleSpec, args: argparse.Namespace, results: Results) -> None:
    """Searches straight on the backend (with recall@10 against exact search), then full asks."""
    from rag.pipeline import NewsIndex

    index = NewsIndex.open(location)
    try:
        vectors = sc.query_vectors(spec, args.queries)
        texts = sc.questions(spec, args.queries)
        timed = sc.time_searches(index.backend, vectors, texts)
        found = timed.pop("dense_ids")
        truth = sc.exact_top_k(spec, vectors[: args.recall_queries])
        timed["dense_recall_at_10"] = sc.recall(index.store, found[: args.recall_queries], truth)
        results.put(f"{name}_search", timed)
        results.put(f"{name}_ask", sc.time_asks(index, sc.questions(spec, args.asks, seed=11)))
    finally:
        index.close()


def table(r: dict[str, Any]) -> str:
    """The numbers side by side, one measure a row."""
    def ms(section: str, key: str) -> str:
        v = r.get(section, {}).get(key)
        return f"{v['p50']:.1f} / {v['p95']:.1f}" if v else "-"

    pw, lw = r.get("postgres_write", {}), r.get("local_write", {})
    builds = r.get("index_build_s", {})
    hnsw = next((s for n, s in builds.items() if "embedding" in n), None)
    rows = [("passages (all with a 384-d vector)", f"{pw.get('passages', 0):,}", f"{lw.get('passages', 0):,}"),
            ("write, passages/s", f"{pw.get('passages_per_s', 0):,.0f} (indexes dropped)" if pw else "-",
             f"{lw.get('passages_per_s', 0):,.0f}" if lw else "-"),
            ("full-text and B-tree indexes, s", f"{sum(s for n, s in builds.items() if 'embedding' not in n):.0f}"
             if builds else "-", "(with the writes)"),
            ("vector index build, s", f"HNSW {hnsw:.0f} ({pw.get('passages', 0) / hnsw:,.0f} rows/s)" if hnsw
             else "-", f"{r.get('local_vectors', {}).get('index_type', '')} {lw['apply_s']:.0f}" if lw else "-")]
    for label, key in (("dense search 300 deep, p50 / p95 ms", "dense"), ("full text 100 deep", "lexical"),
                       ("headlines 100 deep", "headlines")):
        rows.append((label, ms("postgres_search", key), ms("local_search", key)))
    rows.append(("dense recall@10 vs exact", *(f"{r[s]['dense_recall_at_10']:.3f}" if s in r else "-"
                                               for s in ("postgres_search", "local_search"))))
    for label, key in (("ask, wall, p50 / p95 ms", "wall"), ("ask: dense stage", "dense"),
                       ("ask: lexical stage (with headlines)", "lexical"), ("ask: embed stage", "embed")):
        rows.append((label, ms("postgres_ask", key), ms("local_ask", key)))
    rows.append(("size, GiB", *(f"{r[k] / 2**30:.2f}" if k in r else "-"
                                for k in ("postgres_size_bytes", "local_size_bytes"))))
    lines = ["| measure | PostgreSQL + pgvector | local (SQLite + FAISS) |", "|---|---|---|"]
    return "\n".join(lines + [f"| {a} | {b} | {c} |" for a, b, c in rows])


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rag.bench.pg_scale", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--passages", type=int, default=1_000_000)
    p.add_argument("--months", type=int, default=24, help="months the articles' dates span (default 24)")
    p.add_argument("--partition-months", type=int, default=12, help="months a passage partition spans (default "
                   "12, the backend's)")
    p.add_argument("--url", help="an empty PostgreSQL database (default: start a throwaway server)")
    p.add_argument("--local", type=Path, help="the local index directory to write (default: a temporary one)")
    p.add_argument("--skip-local", action="store_true", help="PostgreSQL only")
    p.add_argument("--queries", type=int, default=200, help="searches timed on each backend (default 200)")
    p.add_argument("--recall-queries", type=int, default=50, help="of which checked against exact search")
    p.add_argument("--asks", type=int, default=100, help="full asks timed on each backend (default 100)")
    p.add_argument("--maintenance-work-mem", default="4GB")
    p.add_argument("--workers", type=int, default=2, help="max_parallel_maintenance_workers (default 2)")
    p.add_argument("--shared-buffers", default="2GB", help="of the throwaway server (default 2GB)")
    p.add_argument("--out", type=Path, help="write every number here as JSON, after each step")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    spec = sc.ScaleSpec(args.passages, months=args.months)
    results = Results(args.out)
    results.put("spec", asdict(spec))
    results.put("load_before", os.getloadavg()[0])
    try:
        with ExitStack() as stack:
            url = args.url or start_server(stack, args.shared_buffers)
            load_postgres(url, spec, args, results)
            measure("postgres", url, spec, args, results)
            if not args.skip_local:
                local = args.local or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="newsrag-")))
                load_local(local / "index" if not args.local else local, spec, results)
                measure("local", str(local / "index" if not args.local else local), spec, args, results)
            results.put("load_after", os.getloadavg()[0])
    except RagError as err:
        print(f"pg_scale: error: {err}", file=sys.stderr)
        return 2
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
