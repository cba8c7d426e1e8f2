"""The same question sets through the local backend and through PostgreSQL + pgvector, side by side.

Each corpus is indexed locally (or an existing local index is named), copied into a fresh PostgreSQL database
with ``newsrag copy`` (so both hold the very same passages and vectors), and every question set is run through
``newsrag eval`` on both. Printed: retrieval (hits@5, mrr@10) and answers (contains, choices) on each backend,
their difference, the latency, and whether the seed question gets the same answer.

    python -m rag.bench.backend_parity                          # demo sets; starts a throwaway PostgreSQL
    python -m rag.bench.backend_parity --sets demo realtimeqa --realtimeqa-index /path/to/index
    python -m rag.bench.backend_parity --url postgresql://me@db:5432/postgres   # your server (creates databases)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from rag.bench.pipeline import ROOT, resolve_corpus

SETS = {  # name: (corpus, questions file relative to the repository, or None for the corpus's own)
    "demo": ("demo", "tests/data/questions.jsonl"),
    "heldout": ("demo", "tests/data/heldout_questions.jsonl"),
    "realtimeqa": ("realtimeqa", None),
}
SEED_QUESTION = ("When will the S-400 systems be fully installed in Turkey?", "2020-01-01")
METRICS = (("retrieval", "hits@5"), ("retrieval", "mrr@10"), ("answer", "contains"), ("choices", "accuracy"),
           ("latency_ms", "p50"), ("latency_ms", "p95"))


def new_database(server_url: str, prefix: str = "parity_") -> str:
    """A new database on the server of ``server_url`` (any host list libpq takes); its URL."""
    import psycopg

    name = prefix + uuid.uuid4().hex[:10]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server_url.rsplit("/", 1)[0] + "/" + name


def _throwaway_server(stack: ExitStack, say) -> str:  # noqa: ANN001 - say(str)
    """A PostgreSQL primary from tests/cluster.py (a repository checkout and newsrag[cluster] are needed)."""
    return throwaway_postgres(stack, say, with_standby=False).primary_url


def throwaway_postgres(stack: ExitStack, say, with_standby: bool):  # noqa: ANN001, ANN201 - say(str); a PgCluster
    """A PostgreSQL primary (and hot standby) from tests/cluster.py, stopped when ``stack`` closes."""
    if str(ROOT / "tests") not in sys.path:
        sys.path.insert(0, str(ROOT / "tests"))
    try:
        from cluster import start_postgres
    except ImportError as err:
        raise SystemExit(f"cannot start a throwaway PostgreSQL ({err}): pass --url, or run from a checkout with "
                         "pip install -e '.[cluster]'") from err
    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="newsrag-parity-")))
    cluster = stack.enter_context(start_postgres(workdir, with_standby=with_standby))
    say(f"started a throwaway PostgreSQL at {cluster.multi_url}")
    return cluster


def run(sets: list[str], server_url: str, local_indexes: dict[str, Path], workdir: Path, say) -> dict[str, Any]:  # noqa: ANN001
    from rag.backends.copy import copy_index
    from rag.evaluate import load_questions, run_eval
    from rag.pipeline import NewsIndex

    results: dict[str, Any] = {}
    opened: dict[str, tuple[Any, Any]] = {}
    try:
        for name in sets:
            corpus_name, questions_file = SETS[name]
            if corpus_name not in opened:
                corpus = resolve_corpus(corpus_name)
                path = local_indexes.get(corpus_name)
                if path is None:
                    path = workdir / corpus_name
                    say(f"{corpus_name}: indexing locally into {path}")
                    building = NewsIndex.open(path, create=True)
                    building.ingest(corpus.inputs)
                    building.close()
                local = NewsIndex.open(path)
                remote = NewsIndex.open(new_database(server_url), model=local.model_name, create=True,
                                        embedder=local.embedder)
                say(f"{corpus_name}: copying {local.store.counts()['articles']:,} articles into {remote.location}")
                copy_index(local, remote)
                opened[corpus_name] = (local, remote)
            local, remote = opened[corpus_name]
            path = ROOT / questions_file if questions_file else resolve_corpus(corpus_name).questions
            questions = load_questions(path)
            say(f"{name}: {len(questions)} questions on each backend")
            results[name] = {"questions": len(questions), "local": _summary(run_eval(local, questions)),
                             "postgres": _summary(run_eval(remote, questions))}
        if "demo" in opened:
            local, remote = opened["demo"]
            question, as_of = SEED_QUESTION
            results["seed_same_answer"] = local.ask(question, as_of=as_of).text == remote.ask(question, as_of=as_of).text
    finally:
        for local, remote in opened.values():
            local.close()
            remote.close()
    return results


def _summary(report: dict[str, Any]) -> dict[str, float]:
    return {f"{group}.{key}": report[group][key] for group, key in METRICS}


def table(results: dict[str, Any]) -> str:
    lines = [f"{'set':11} {'metric':20} {'local':>9} {'postgres':>9} {'diff':>8}"]
    for name, r in results.items():
        if not isinstance(r, dict):
            continue
        for metric in r["local"]:
            a, b = r["local"][metric], r["postgres"][metric]
            lines.append(f"{name:11} {metric:20} {a:9.3f} {b:9.3f} {b - a:+8.3f}")
    if "seed_same_answer" in results:
        lines.append(f"seed question answered the same on both: {results['seed_same_answer']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.bench.backend_parity", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", default=["demo", "heldout"], choices=list(SETS),
                        help="question sets (default: demo heldout; realtimeqa needs ../shared or $NEWSRAG_REALTIMEQA)")
    parser.add_argument("--url", help="a PostgreSQL server (any database on it) where databases may be created; "
                        "default: start a throwaway one")
    parser.add_argument("--realtimeqa-index", type=Path, help="an existing local index of the RealTimeQA corpus")
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    with ExitStack() as stack:
        server = args.url or _throwaway_server(stack, say)
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="newsrag-parity-")))
        indexes = {"realtimeqa": args.realtimeqa_index} if args.realtimeqa_index else {}
        results = run(args.sets, server, indexes, workdir, say)
    print(table(results))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
