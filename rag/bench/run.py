"""``newsrag bench`` / ``python -m rag.bench``: measure the pipeline on a corpus and the vector index on synthetic
vectors, print a Markdown table (and optionally write every number as JSON).

    newsrag bench --corpus demo
    newsrag bench --corpus realtimeqa --index /tmp/bench-rtqa --json bench.json
    newsrag bench --corpus realtimeqa --index /tmp/bench-rtqa --reuse
    newsrag bench --vectors 100000 1000000
    newsrag bench --cold-ask --index /tmp/demo
    newsrag bench --corpus realtimeqa --reingest --queries 10 --no-app
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from rag.errors import RagError


def add_arguments(c: argparse.ArgumentParser) -> None:
    """The bench options (``--index`` is added by the caller)."""
    c.add_argument("--corpus", help="demo, realtimeqa or a path of articles (default demo; none with --vectors; with "
                                    "--reuse, none: the index's own headlines are asked)")
    c.add_argument("--model", help="embedding model (default all-MiniLM-L6-v2; minilm-int8 for ONNX int8)")
    c.add_argument("--dense-passages", type=int, metavar="N", help="dense vectors for the first N passages of each article (default 1; 0 = all)")
    c.add_argument("--reuse", action="store_true", help="measure the existing --index without ingesting")
    c.add_argument("--reingest", action="store_true",
                   help="then ingest the unchanged corpus again and print its cost against the first ingest")
    c.add_argument("--sample", type=int, default=256, help="passages embedded directly for raw speed (default 256)")
    c.add_argument("--queries", type=int, default=100, help="questions asked for latency (default 100)")
    c.add_argument("--compare", metavar="MODEL", help="also compare the index's embedder with MODEL on the sample")
    c.add_argument("--no-app", action="store_true", help="skip the app start-up measurement")
    c.add_argument("--vectors", type=int, nargs="*", default=[], metavar="N",
                   help="synthetic vector-index runs, e.g. --vectors 100000 1000000")
    c.add_argument("--json", metavar="PATH", help="write every number here as JSON")
    c.add_argument("--cold-ask", action="store_true",
                   help="time `newsrag ask` as a fresh process on --index (built from --corpus, default demo, when "
                        "it holds no index): one discarded warm-up, then --runs timed runs and their median")
    c.add_argument("--runs", type=int, default=5, help="timed runs of --cold-ask (default 5)")
    c.add_argument("--question", help="the question --cold-ask asks (default one on the demo corpus)")


def run(args: argparse.Namespace) -> int:
    if args.cold_ask:
        return _run_cold_ask(args)
    results = measure(args, lambda line: print(line, file=sys.stderr, flush=True))
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"\nnumbers written to {args.json}")
    return 0


def _run_cold_ask(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from rag.bench.cold import DEMO_QUESTION, cold_ask, cold_table

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="newsrag-bench-") as tmp:
        index_dir = Path(args.index) if args.index else Path(tmp) / "index"
        _ensure_index(index_dir, args, say)
        result = cold_ask(index_dir, args.question or DEMO_QUESTION, args.runs, say)
    print(cold_table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(result), indent=2) + "\n", encoding="utf-8")
        print(f"\nnumbers written to {args.json}")
    return 0


def _ensure_index(index_dir: Path, args: argparse.Namespace, say) -> None:  # noqa: ANN001 - say(str)
    """Build ``index_dir`` from ``--corpus`` (default demo) unless it holds an index already."""
    from rag.backends.local import DB_NAME
    from rag.bench.pipeline import resolve_corpus
    from rag.pipeline import NewsIndex

    if (index_dir / DB_NAME).exists():
        return
    corpus = resolve_corpus(args.corpus or "demo")
    say(f"ingesting {corpus.name} into {index_dir} ...")
    index = NewsIndex.open(index_dir, model=args.model, create=True)
    try:
        index.ingest(corpus.inputs, dense_passages=args.dense_passages)
    finally:
        index.close()


def measure(args: argparse.Namespace, say) -> dict[str, Any]:  # noqa: ANN001 - say(str)
    """Every measurement the options ask for, as a JSON-ready dict."""
    if args.corpus is None and not args.vectors and not args.reuse:
        args.corpus = "demo"
    if args.reuse and args.corpus is None and args.reingest:
        raise RagError("--reingest needs --corpus: the articles to ingest again into the --reuse index")
    results: dict[str, Any] = {"cpus": os.cpu_count(), "load_before": os.getloadavg()[0]}
    if args.corpus or args.reuse:
        with tempfile.TemporaryDirectory(prefix="newsrag-bench-") as tmp:
            results.update(_measure_corpus(args, Path(args.index) if args.index else Path(tmp) / "index", say))
    if args.vectors:
        results["vectors"] = _measure_vectors(args.vectors, say)
    results["load_after"] = os.getloadavg()[0]
    return results


def _measure_corpus(args: argparse.Namespace, index_dir: Path, say) -> dict[str, Any]:  # noqa: ANN001
    from dataclasses import replace

    from rag.backends.local import DB_NAME
    from rag.bench import pipeline as bp
    from rag.config import load_settings
    from rag.pipeline import NewsIndex

    # --reuse without --corpus measures the index as it is: its own headlines are the questions, and the table names
    # the index, not a corpus it may not hold.
    corpus = bp.resolve_corpus(args.corpus) if args.corpus else bp.Corpus(f"the index in {index_dir}", ())
    exists = (index_dir / DB_NAME).exists()
    if exists and not args.reuse:
        raise RagError(f"{index_dir} holds an index already: pass --reuse to measure it without ingesting, or "
                       "give a new --index directory (an existing index would embed nothing: its cache has it all)")
    if args.reuse and not exists:
        raise RagError(f"--reuse: there is no index at {index_dir}")
    settings = load_settings(index_dir, args.model)
    if args.dense_passages is not None:
        settings = replace(settings, embed=replace(settings.embed, dense_passages=args.dense_passages))
    out: dict[str, Any] = {"corpus": corpus.name, "index_dir": str(index_dir)}
    index = NewsIndex.open(index_dir, model=args.model, create=not args.reuse, settings=settings)
    if not args.reuse:
        say(f"ingesting {corpus.name} into {index_dir} ...")
        out["ingest"] = bp.ingest_numbers(index.ingest(corpus.inputs))
    if args.reingest:
        say(f"ingesting {corpus.name} again, unchanged ...")
        out["reingest"] = bp.reingest_numbers(index.ingest(corpus.inputs), out.get("ingest"))
    out["model"] = index.model_name
    out["counts"] = index.store.counts()
    say("embedding a sample directly ...")
    texts = bp.sample_texts(index, args.sample)
    out["raw_embed"] = bp.raw_embed_numbers(index.embedder, texts)
    questions = bp.questions_for(index, corpus, args.queries)
    say(f"asking {len(questions)} questions ...")
    out["queries"] = bp.query_numbers(index, questions)
    out["peak_rss_mib"] = bp.peak_rss_mib()
    out["disk"] = bp.disk_numbers(index_dir)
    if args.compare:
        from rag.bench.embedders import compare_embedders
        from rag.embed import make_embedder

        say(f"comparing {index.model_name} with {args.compare} ...")
        out["compare"] = {"first": index.model_name, "second": args.compare, **compare_embedders(
            index.embedder, make_embedder(args.compare), texts, [q["question"] for q in questions])}
    index.close()
    if not args.no_app:
        say("timing the app's start-up ...")
        out["app_startup_s"] = bp.startup_seconds(index_dir, bp.free_port())
    return out


def _measure_vectors(sizes: list[int], say) -> list[dict[str, Any]]:  # noqa: ANN001
    from dataclasses import asdict

    from rag.bench.synthetic import bench_vectors

    rows = []
    for n in sizes:
        say(f"synthetic vectors: {n:,} ...")
        result = bench_vectors(n)
        rows.append(asdict(result))
        if result.kind == "flat" and n > 1000:
            say(f"synthetic vectors: {n:,} as IVF ...")
            rows.append(asdict(bench_vectors(n, flat_limit=n - 1)))
    return rows


def table(r: dict[str, Any]) -> str:
    """The results as a Markdown table, one measure a row."""
    rows: list[tuple[str, str]] = []
    if "corpus" in r:
        c = r["counts"]
        rows.append(("corpus", f"{r['corpus']}: {c['articles']:,} articles, {c['passages']:,} passages "
                               f"({c.get('dense_passages', '?'):,} with vectors), model {r['model']}"))
        if "ingest" in r:
            i = r["ingest"]
            rows += [("ingest wall time", f"{i['total_s']:.1f} s (parse {i['parse_s']:.1f}, split {i['split_s']:.1f}, "
                                          f"embed {i['embed_s']:.1f}, write {i['write_s']:.1f})"),
                     ("ingest throughput", f"{i['articles_per_s']:.1f} articles/s, {i['passages_per_s']:.1f} passages/s"),
                     ("embedding inside ingest", f"{i['embedded']:,} passages, {i['embedded_per_s_of_embed']:.1f} passages/s, "
                                                 f"{i['tokens_per_s_of_embed']:,.0f} tokens/s")]
        if "reingest" in r:
            g = r["reingest"]
            share = f" = {100 * g['ratio']:.2f}% of the first ingest" if g.get("ratio") is not None else ""
            rows.append(("re-ingest, unchanged", f"{g['total_s']:.2f} s{share}; {g['raw_unchanged']:,} of "
                                                 f"{g['records']:,} records skipped unread, {g['articles']} re-added"))
        e = r["raw_embed"]
        rows.append((f"embedding alone ({e['texts']} passages)",
                     f"{e['passages_per_s']:.1f} passages/s, {e['tokens_per_s']:,.0f} tokens/s"))
        q = r["queries"]
        if q.get("questions"):
            rows.append(("first question (cold)", f"{q['cold_first_ms']:.0f} ms"))
            rows += [(f"query {s} p50 / p95", f"{q[s]['p50']:.1f} / {q[s]['p95']:.1f} ms")
                     for s in ("embed", "dense", "lexical", "fuse", "compose", "total")]
        if "app_startup_s" in r:
            rows.append(("app start-up (HTTP 200)", f"{r['app_startup_s']:.1f} s"))
        rows.append(("peak memory (max RSS)", f"{r['peak_rss_mib']:,.0f} MiB"))
        d = r["disk"]
        rows.append(("index on disk", f"{d['total_mib']:.1f} MiB (SQLite {d['sqlite_mib']:.1f}, vectors {d['vectors_mib']:.1f})"))
        if "compare" in r:
            m = r["compare"]
            cosine = (f"cosine mean {m['cosine_mean']:.4f} min {m['cosine_min']:.4f}, " if m["cosine_mean"] is not None
                      else "")
            rows.append((f"{m['second']} vs {m['first']}",
                         f"{m['second_per_s']:.1f} vs {m['first_per_s']:.1f} passages/s ({m['speedup']:.2f}x), "
                         f"{cosine}top-10 overlap {m['overlap_at_10']:.3f}"))
    for v in r.get("vectors", []):
        kind = v["kind"] + (f" nlist={v['nlist']} nprobe={v['nprobe']}" if v["kind"] == "ivf" else "")
        rows.append((f"{v['n']:,} synthetic vectors, {kind}",
                     f"build {v['build_s']:.1f} s, search p50 {v['search_p50_ms']:.2f} / p95 {v['search_p95_ms']:.2f} ms "
                     f"(exact p50 {v['exact_p50_ms']:.2f} ms), recall@10 {v['recall_at_10']:.3f}"))
    rows.append(("machine", f"{r['cpus']} CPUs, load average {r['load_before']:.1f} before, {r['load_after']:.1f} after"))
    width = max(len(k) for k, _ in rows)
    lines = [f"| {'measure'.ljust(width)} | value |", f"|{'-' * (width + 2)}|-------|"]
    return "\n".join(lines + [f"| {k.ljust(width)} | {v} |" for k, v in rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", help="index directory to build (default: a temporary one)")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except RagError as err:
        print(f"newsrag bench: error: {err}", file=sys.stderr)
        return 2
