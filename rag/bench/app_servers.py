"""Two app servers on one PostgreSQL under load, beside one app server on the local directory index.

The demo index is built locally (or ``--local-index`` is copied), copied into PostgreSQL with ``copy_index`` (no
re-embedding), and two ``python app.py --index postgresql://...`` processes serve it on free ports of 127.0.0.1.
``--clients`` threads ask ``--questions`` questions (the demo question sets of tests/data, cycled) through the
named API ``/ask``, client k on server k mod 2. A quarter of the way in, a new article (one fact no demo article
holds) is added through the first server's page, and its question is asked of both servers until each answers
it citing that article. Then the same load runs against one ``python app.py --index DIR`` on the local index.
Every answer must be well formed (rag/bench/ask_load.py); latency is client side, Gradio's queue included.

    python -m rag.bench.app_servers                              # starts a throwaway PostgreSQL + hot standby
    python -m rag.bench.app_servers --reads standby              # the servers read from the standby
    python -m rag.bench.app_servers --url postgresql://me@db:5432/postgres --out app-servers.json

Every process it starts (app servers, PostgreSQL) is stopped by PID at the end, on an error and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from rag.bench.app_process import AppServer, add_file, ask_until_cited
from rag.bench.ask_load import Job, Load, cycle_list, drive, job_feed, problems, problems_of, question_jobs
from rag.bench.backend_parity import new_database, throwaway_postgres
from rag.bench.pipeline import ROOT

QUESTION_SETS = ("tests/data/questions.jsonl", "tests/data/heldout_questions.jsonl")
NEW_ARTICLE = {"id": "appservers-oskarvik", "title": "Oskarvik observatory unveils a 7.4-metre telescope mirror",
               "source": "Load Test Gazette", "url": "https://gazette.example/appservers/oskarvik",
               "published": "2024-05-17",
               "text": "The Vellmark observatory in Oskarvik unveiled its new telescope on Friday. Its mirror is "
                       "7.4 metres wide and was polished over six years by a team of 31 opticians, the director "
                       "said. The first images of the Quenna nebula will be published in September."}
NEW_QUESTION = "How wide is the mirror of the Vellmark observatory's telescope in Oskarvik?"
CITE_TIMEOUT_S = 120.0


def demo_jobs() -> list[Job]:
    return [job for name in QUESTION_SETS for job in question_jobs(ROOT / name)]


def local_index(given: Path | None, workdir: Path, say) -> Path:  # noqa: ANN001 - say(str)
    """A private copy of ``given``, or the bundled demo corpus indexed with the default model."""
    from rag.demo import demo_inputs
    from rag.pipeline import NewsIndex

    path = workdir / "local-index"
    if given is not None:
        shutil.copytree(given, path, ignore=shutil.ignore_patterns(".write.lock"))
        return path
    say(f"indexing the demo corpus into {path}")
    index = NewsIndex.open(path, create=True)
    index.ingest(demo_inputs())
    index.close()
    return path


def copy_to_postgres(path: Path, url: str, say) -> None:  # noqa: ANN001 - say(str)
    from rag.backends.copy import copy_index
    from rag.pipeline import NewsIndex

    local = NewsIndex.open(path)
    remote = NewsIndex.open(url, model=local.model_name, create=True, embedder=local.embedder)
    try:
        report = copy_index(local, remote)
        say(f"copied {report.articles} articles, {report.passages} passages into {remote.location}")
    finally:
        remote.close()
        local.close()


def start_servers(indexes: list[str], workdir: Path, stack: ExitStack, say, name: str) -> list[AppServer]:  # noqa: ANN001
    """One app server per entry of ``indexes``, launched together, ready, and stopped when ``stack`` closes."""
    servers = [AppServer(index, workdir / f"{name}-{k}.log") for k, index in enumerate(indexes)]
    for server in servers:
        stack.callback(server.stop)
        server.launch()
    for server in servers:
        server.wait_ready()
        say(f"app server pid {server.popen.pid} answers on {server.url}")
    return servers


def ingest_during_load(servers: list[AppServer], article_file: Path, started: threading.Event) -> dict[str, Any]:
    """Wait for ``started``, add the article through the first server's page, then ask both servers about it;
    {add_s, cited_after_s: [seconds after the add returned, or None, one per server], error}."""
    out: dict[str, Any] = {"through": servers[0].url, "add_s": None, "cited_after_s": [None] * len(servers),
                           "error": ""}
    started.wait()
    try:
        t0 = time.perf_counter()
        add_file(servers[0].url, article_file)
        since = time.perf_counter()
        out["add_s"] = round(since - t0, 2)

        def check(k: int) -> None:
            seconds = ask_until_cited(servers[k].url, NEW_QUESTION, NEW_ARTICLE["title"], since, CITE_TIMEOUT_S)
            out["cited_after_s"][k] = None if seconds is None else round(seconds, 2)

        threads = [threading.Thread(target=check, args=(k,)) for k in range(len(servers))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    except Exception as err:  # noqa: BLE001 - reported in the results, and fails the run
        out["error"] = f"{type(err).__name__}: {err}"
    return out


def load_with_ingest(servers: list[AppServer], jobs: list[Job], clients: int,
                     article_file: Path) -> tuple[Load, dict[str, Any]]:
    """``jobs`` spread over ``servers`` while ``article_file`` is added through the first a quarter of the way in
    and asked of all; (the load, ingest_during_load's report)."""
    quarter, ingest = threading.Event(), {}
    ingester = threading.Thread(target=lambda: ingest.update(ingest_during_load(servers, article_file, quarter)),
                                name="ingest-during-load", daemon=True)  # daemon: Ctrl-C does not wait for it
    ingester.start()
    load = run_load([s.url for s in servers], jobs, clients, quarter)
    quarter.set()  # the load may have ended before a quarter was handed out
    ingester.join()
    return load, ingest


def run_load(urls: list[str], jobs: list[Job], clients: int, on_quarter: threading.Event | None = None) -> Load:
    """``jobs`` through ``drive``; ``on_quarter`` is set when a quarter of them have been handed out."""
    feed, handed, lock = job_feed(jobs), [0], threading.Lock()

    def next_job() -> Job | None:
        with lock:
            handed[0] += 1
            if on_quarter is not None and handed[0] >= len(jobs) // 4:
                on_quarter.set()
        return feed()

    return drive(urls, next_job, clients)


def row(name: str, servers: int, load: Load) -> dict[str, Any]:
    errors = sum(1 for o in load.outcomes if o.result is None)
    malformed = sum(1 for o in load.outcomes if o.result is not None and problems_of(o))
    return {"setup": name, "servers": servers, "errors": errors, "malformed": malformed, **load.summary(),
            "problems": problems(load)[:20]}


def table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'setup':34} {'questions':>9} {'errors':>6} {'malformed':>9} {'p50 ms':>7} {'p95 ms':>7} "
             f"{'max ms':>7} {'answers/s':>9}"]
    lines += [f"{r['setup']:34} {r['questions']:9} {r['errors']:6} {r['malformed']:9} {r['p50_ms']:7} "
              f"{r['p95_ms']:7} {r['max_ms']:7} {r['answers_per_s']:9}" for r in rows]
    return "\n".join(lines)


def run(args: argparse.Namespace, workdir: Path, say) -> dict[str, Any]:  # noqa: ANN001 - say(str)
    jobs = cycle_list(demo_jobs(), args.questions)
    article_file = workdir / "new-article.jsonl"
    article_file.write_text(json.dumps(NEW_ARTICLE) + "\n", encoding="utf-8")
    results: dict[str, Any] = {"clients": args.clients, "questions": args.questions, "reads": args.reads,
                               "cores": os.cpu_count()}
    with ExitStack() as stack:
        local = local_index(args.local_index, workdir, say)
        if args.url:
            url = serve_url = new_database(args.url, "appservers_")
        else:
            cluster = throwaway_postgres(stack, say, with_standby=True)
            url, serve_url = cluster.primary_url, (cluster.multi_url if args.reads == "standby"
                                                   else cluster.primary_url)
        copy_to_postgres(local, url, say)
        with ExitStack() as apps:
            servers = start_servers([serve_url, serve_url], workdir, apps, say, "pg-app")
            say(f"{args.clients} clients, {args.questions} questions on two app servers on PostgreSQL")
            load, ingest = load_with_ingest(servers, jobs, args.clients, article_file)
        results["postgres"] = row(f"2 app servers, PostgreSQL ({args.reads})", 2, load)
        results["ingest"] = ingest
        with ExitStack() as apps:
            servers = start_servers([str(local)], workdir, apps, say, "local-app")
            say(f"{args.clients} clients, {args.questions} questions on one app server on the local index")
            results["local"] = row("1 app server, local directory", 1, run_load([servers[0].url], jobs,
                                                                                 args.clients))
    with open("/proc/loadavg", encoding="ascii") as fh:
        results["loadavg_after"] = " ".join(fh.read().split()[:3])
    return results


def passed(results: dict[str, Any]) -> bool:
    rows = [results["postgres"], results["local"]]
    cited = results["ingest"].get("cited_after_s") or [None]
    return all(r["errors"] == r["malformed"] == 0 for r in rows) and None not in cited


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.bench.app_servers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a PostgreSQL server where a database may be created (a libpq multi-host "
                        "URL reads from its standby); default: start a throwaway primary and hot standby")
    parser.add_argument("--reads", choices=("primary", "standby"), default="primary",
                        help="with the throwaway server: the app servers read from the primary (default) or "
                        "from the hot standby (the multi-host URL)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--questions", type=int, default=500, help="questions per setup (default 500)")
    parser.add_argument("--local-index", type=Path, help="an existing local demo index to use (copied first); "
                        "default: index the bundled demo corpus")
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if args.url and args.reads == "standby":
        parser.error("--reads standby starts its own standby: with --url, name the standby in a multi-host URL")
    if args.clients < 1 or args.questions < 4:
        parser.error(f"need at least 1 client and 4 questions; got {args.clients} and {args.questions}")

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    signal.signal(signal.SIGTERM, _interrupt)
    # A shell starts background jobs with SIGINT ignored; Ctrl-C / kill -INT must still stop everything.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with tempfile.TemporaryDirectory(prefix="newsrag-appservers-") as tmp:
            results = run(args, Path(tmp), say)
    except KeyboardInterrupt:
        say("interrupted: every process it started is stopped")
        return 130
    print(table([results["postgres"], results["local"]]))
    ingest = results["ingest"]
    print(f"new article added through {ingest['through']} in {ingest['add_s']} s; first cited by the servers "
          f"{ingest['cited_after_s']} s after the add returned{' -- ' + ingest['error'] if ingest['error'] else ''}")
    for r in (results["postgres"], results["local"]):
        for problem in r["problems"]:
            print(f"{r['setup']}: {problem}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0 if passed(results) else 1


if __name__ == "__main__":
    sys.exit(main())
