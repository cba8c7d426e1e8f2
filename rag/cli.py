"""The ``newsrag`` command: ingest, ask, stats, remove, follow, eval, serve, bench."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from rag.config import READER_OFF, READER_SHIPPED
from rag.errors import RagError
from rag.render import counted

EPILOG = """examples:
  newsrag ingest articles.jsonl feeds/ https://example.org/rss.xml
  newsrag ask "When will the S-400 systems be fully installed in Turkey?"
  newsrag ask "What happened in Mecca?" --as-of 2015-09-30 --source Wikinews --json
  newsrag stats
  newsrag follow --file feeds.txt --every 15m --keep 90d
  newsrag eval tests/data/questions.jsonl --report report.json
  newsrag serve --port 7860
  newsrag bench --corpus realtimeqa --vectors 100000 1000000
  newsrag bench --cold-ask --index /tmp/demo
  newsrag copy index postgresql://newsrag@db.example:5432/news

The index lives in ./index unless --index DIR or NEWSRAG_INDEX says otherwise. A postgresql:// URL instead of
a directory keeps it in PostgreSQL + pgvector, shared by many app servers (pip install 'newsrag[postgres]';
see docs/scale-out.md):
  newsrag ingest articles.jsonl --index postgresql://newsrag@db.example:5432/news"""


def _count(text: str) -> int:
    """An argparse type: a whole number, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more, not {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return args.run(args)
    except RagError as err:
        print(f"newsrag: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("newsrag: interrupted; what was committed before stays in the index", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="newsrag", description="Answer questions over news articles, with citations.",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-v", "--verbose", action="store_true", help="log what happens inside")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, run) -> argparse.ArgumentParser:  # noqa: ANN001
        c = sub.add_parser(name, help=help_text, description=help_text)
        c.add_argument("--index", metavar="DIR|URL",
                       help="index directory, or postgresql://user@host:port/db (default: $NEWSRAG_INDEX or ./index)")
        c.set_defaults(run=run)
        return c

    c = command("ingest", "read articles from files, directories or http(s) URLs into the index", _ingest)
    c.add_argument("inputs", nargs="+", metavar="PATH_OR_URL",
                   help="JSONL (id,title,text,url,published,source,author), .txt, .html, RSS/Atom .xml, a directory, "
                        "or a URL of a page or feed")
    c.add_argument("--model", help="sentence-transformers model name or path (default all-MiniLM-L6-v2, offline)")
    c.add_argument("--dense-passages", type=_count, metavar="N",
                   help="give dense vectors to the first N passages of each article (default 1: the headline and lead; 0 = every passage; the lexical index reads every word either way)")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.add_argument("--ray", metavar="HOST:PORT", help="split and embed on the Ray cluster whose head is at HOST:PORT "
                   "(one embedding actor per node; this process reads and writes the index, which comes out as a "
                   "local ingest's; needs pip install 'newsrag[ray]'; see docs/scale-out.md)")

    c = command("ask", "answer a question from the indexed articles", _ask)
    c.add_argument("question")
    _filters(c)
    c.add_argument("--choices", nargs="+", metavar="OPTION", help="pick one of these options")
    c.add_argument("--history", action="append", default=[], metavar="QUESTION",
                   help="an earlier question of the conversation (repeat, oldest first) for follow-ups")
    c.add_argument("--json", action="store_true", help="print JSON: answer, citations, sources, abstained, ...")
    _reader_options(c)

    c = command("stats", "show what is indexed", _stats)
    c.add_argument("--json", action="store_true", help="print JSON")

    c = command("remove", "remove articles by id, url, source or published date range", _remove)
    c.add_argument("--id", dest="ids", action="append", default=[], metavar="ARTICLE_ID")
    c.add_argument("--url", dest="urls", action="append", default=[])
    c.add_argument("--source", dest="sources", action="append", default=[])
    c.add_argument("--since", help="published on or after YYYY-MM-DD")
    c.add_argument("--until", help="published on or before YYYY-MM-DD")

    c = sub.add_parser("copy", help="copy an index to another place or backend without embedding again",
                       description="Copy every article, passage, vector, story group and followed source of SRC "
                       "into DEST, an empty index: a directory or a postgresql:// URL, either way round. Nothing "
                       "is read or embedded again; DEST is created when it does not exist.",
                       epilog="examples:\n  newsrag copy index postgresql://newsrag@db.example:5432/news\n"
                       "  newsrag copy postgresql://newsrag@db.example:5432/news backup-index",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("src", metavar="SRC", help="the index to copy: a directory or a postgresql:// URL")
    c.add_argument("dest", metavar="DEST", help="an empty or new index: a directory or a postgresql:// URL")
    c.set_defaults(run=_copy)

    c = command("eval", "run a question set (JSONL) through the pipeline and print its metrics", _eval)
    c.add_argument("questions", help="JSONL: question, answers, gold_doc_ids, answerable, as_of, choices, history")
    c.add_argument("--corpus", action="append", default=[], metavar="PATH", help="ingest these articles first")
    c.add_argument("--report", help="write the full JSON report here")
    c.add_argument("--top-k", type=int, default=10, help="passages retrieved per question (default 10)")
    c.add_argument("--failures", type=int, default=0, metavar="N", help="list the first N failed questions")
    c.add_argument("--limit", type=int, help="only the first N questions")
    c.add_argument("--gold-only", action="store_true", help="only the questions that name their gold articles")
    c.add_argument("--no-choices", action="store_true", help="skip the multiple-choice pass")
    c.add_argument("--retriever", choices=("hybrid", "lexical", "dense"), default="hybrid",
                   help="retrieval to evaluate: hybrid (default) or a lexical-only / dense-only baseline")
    c.add_argument("--no-dedup", action="store_true", help="ablation: every article its own story (near-duplicates "
                   "and exact copies are not grouped)")
    c.add_argument("--no-date-prior", action="store_true", help="ablation: no weighting by date (future articles "
                   "stay excluded)")
    c.add_argument("--story-support", type=float, metavar="X",
                   help="ablation: share of a story's further passages added to its score (default 0.3)")
    c.add_argument("--headline-weight", type=float, metavar="X",
                   help="weight of the headline ranking fused into the lexical list (default 1; 0 = off, an ablation)")
    _reader_options(c)
    c.add_argument("--compare-no-reader", action="store_true", help="run the set again without the reader, on the "
                   "same retrieval, and print both columns side by side (the report gets the second as no_reader)")

    c = command("follow", "poll feeds and pages on a schedule, ingesting new and corrected items as they come",
                _follow)
    c.add_argument("sources", nargs="*", metavar="URL", help="feed or page URLs (or --file)")
    c.add_argument("--file", help="a file of sources, one a line: URL [every=5m]; # starts a comment")
    c.add_argument("--every", default="15m", help="how often to poll each source (default 15m; every= overrides)")
    c.add_argument("--once", action="store_true", help="one round over every source not backing off, then exit")
    c.add_argument("--keep", help="retention: drop articles older than an age (90d) or the oldest beyond a size (2GB)")
    c.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for each source (default 15)")
    c.add_argument("--allow-private", action="store_true",
                   help="allow loopback and private addresses (refused by default, as in the app)")

    c = command("serve", "run the chat app in the browser", _serve)
    c.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    c.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))

    from rag.bench.run import add_arguments as bench_arguments

    c = command("bench", "time ingest, queries, app start-up, memory and disk on a corpus (index: a temporary one "
                "unless --index)", _bench)
    bench_arguments(c)
    _add_train_reader(sub)
    return p


def _add_train_reader(sub) -> None:  # noqa: ANN001
    from rag.reader import train

    c = sub.add_parser("train-reader", help="train newsrag's reader model on the news-quiz training weeks",
                       description=train.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_arguments(c)
    c.set_defaults(run=_train_reader)


def _train_reader(args: argparse.Namespace) -> int:
    from rag.reader.train import settings, train

    logging.getLogger("rag.reader").setLevel(logging.INFO)
    out = train(settings(args))
    print(f"reader model written to {out}")
    return 0


def _filters(c: argparse.ArgumentParser) -> None:
    c.add_argument("--as-of", help="answer as of this date, YYYY-MM-DD (default today): later articles are ignored")
    c.add_argument("--source", dest="sources", action="append", default=[], help="only this source (repeatable)")
    c.add_argument("--since", help="only articles published on or after YYYY-MM-DD")
    c.add_argument("--until", help="only articles published on or before YYYY-MM-DD")
    c.add_argument("--top-k", type=int, default=None, help="passages to retrieve (default 10)")


def _reader_options(c: argparse.ArgumentParser) -> None:
    group = c.add_mutually_exclusive_group()
    group.add_argument("--reader", metavar="DIR", nargs="?", const=READER_SHIPPED,
                       help="the trained reader that picks the answer's sentence and marks its short answer: the "
                       "shipped model (the default), or the one in DIR ($NEWSRAG_READER sets it too)")
    group.add_argument("--no-reader", action="store_true", help="answer by the composer's rules alone, without the "
                       "reader ($NEWSRAG_READER=none does the same)")



def _reader_setting(args: argparse.Namespace) -> str | None:
    """What --reader / --no-reader ask for, as ``Settings.reader`` takes it (None: the default)."""
    return READER_OFF if getattr(args, "no_reader", False) else getattr(args, "reader", None)


def _open(args: argparse.Namespace, create: bool = False, model: str | None = None):  # noqa: ANN202
    from rag.config import load_settings
    from rag.pipeline import NewsIndex

    settings = load_settings(reader=_reader_setting(args))
    return NewsIndex.open(args.index, model=model, create=create, settings=settings)


def _ingest(args: argparse.Namespace) -> int:

    from tqdm import tqdm

    from rag.config import load_settings
    from rag.pipeline import NewsIndex

    settings = load_settings(args.index, args.model)
    index = NewsIndex.open(args.index, model=args.model, create=True, settings=settings)
    bar = tqdm(desc="ingest", unit=" articles", disable=args.quiet, dynamic_ncols=True, file=sys.stderr)

    def progress(kind: str, articles: int, passages: int) -> None:
        bar.update(articles)
        progress.passages += passages
        bar.set_postfix(passages=progress.passages)

    progress.passages = 0
    if args.ray:
        from rag.distributed.ray_ingest import quiet_ray_data

        quiet_ray_data(args.verbose)
    report = index.ingest(args.inputs, progress, dense_passages=args.dense_passages, ray_address=args.ray)
    bar.close()
    for problem in report.problems:
        label = "skipped" if problem.skipped else "warning"
        print(f"newsrag: {label}: {problem}", file=sys.stderr)
    print(ingest_summary(report))
    if report.failed:
        went_in = report.added + report.replaced
        rest = f"{counted(went_in, 'article')} went in" if went_in else "nothing new went in"
        print(f"newsrag: {counted(report.failed, 'input')} skipped (see above); {rest}", file=sys.stderr)
    return 1 if report.failed else 0


def ingest_summary(report) -> str:  # noqa: ANN001 - an IngestReport, imported lazily
    """The one-line summary of an ingest: counts, then where the time went."""
    s = report.seconds
    return (f"added {counted(report.added, 'article')} ({report.replaced:,} replaced, {report.unchanged:,} already "
            f"indexed, {counted(report.duplicates, 'duplicate')} skipped, {counted(report.near_duplicates, 'near-duplicate')}"
            f" grouped), {counted(report.passages, 'passage')}, {report.embedded:,} embedded ({report.cache_hits:,} "
            f"from cache) in {s['total']:.1f} s (parse {s['parse']:.1f}, split {s['split']:.1f}, "
            f"embed {s['embed']:.1f}, write {s['write']:.1f})" + _nodes(report.embedded_on))


def _nodes(embedded_on: dict[str, int]) -> str:
    """Where a distributed ingest embedded, by node id (shortened as Ray prints it)."""
    if not embedded_on:
        return ""
    return "; embedded on " + ", ".join(f"node {node[:8]}: {n:,}" for node, n in sorted(embedded_on.items()))


def _ask(args: argparse.Namespace) -> int:
    from rag.render import answer_text

    index = _open(args)
    answer = index.ask(args.question, as_of=args.as_of, history=args.history, choices=args.choices or (),
                       sources=args.sources, since=args.since, until=args.until, top_k=args.top_k)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(answer_text(answer))
    return 0


def _stats(args: argparse.Namespace) -> int:
    from rag.render import stats_text

    stats = _open(args).stats()
    print(json.dumps(stats, indent=2) if args.json else stats_text(stats))
    return 0


def _remove(args: argparse.Namespace) -> int:
    if not any(v and str(v).strip() for v in (*args.ids, *args.urls, *args.sources, args.since, args.until)):
        raise RagError("say what to remove: --id, --url, --source, --since and/or --until")
    removed = _open(args).remove(article_ids=args.ids, urls=args.urls, sources=args.sources, since=args.since,
                                 until=args.until)
    print(f"removed {counted(len(removed), 'article')}" + (f": {', '.join(removed[:20])}" if removed else ""))
    return 0


def _copy(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from rag.backends.copy import copy_index
    from rag.pipeline import NewsIndex

    src = NewsIndex.open(args.src)
    dst = NewsIndex.open(args.dest, model=src.model_name, create=True)
    try:
        with tqdm(total=src.store.counts()["articles"], desc="copy", unit=" articles", file=sys.stderr,
                  dynamic_ncols=True) as bar:
            report = copy_index(src, dst, lambda articles, _passages: bar.update(articles))
    finally:
        src.close()
        dst.close()
    print(f"copied {counted(report.articles, 'article')}, {counted(report.passages, 'passage')} and "
          f"{counted(report.vectors, 'vector')} from {src.location} to {dst.location}")
    return 0


def _follow(args: argparse.Namespace) -> int:
    import time

    from rag.follow.poller import FollowSettings, Poller
    from rag.follow.retention import apply_retention, check_keep
    from rag.follow.sources import parse_duration, parse_keep, parse_sources, read_sources

    every = parse_duration(args.every, "--every")
    sources = parse_sources(args.sources, every) + (read_sources(Path(args.file), every) if args.file else [])
    if not sources:
        raise RagError("say what to follow: feed or page URLs, or --file FILE")
    keep = parse_keep(args.keep) if args.keep else None
    index = _open(args, create=True)
    if keep:
        check_keep(index, keep)  # before the first poll, not after it
    poller = Poller(index, sources, FollowSettings(timeout_s=args.timeout, allow_private=args.allow_private,
                                                   keep_age_s=keep.max_age_s if keep else None),
                    on_report=lambda report: print(report.line(), flush=True))

    def retain() -> None:
        if keep:
            done = apply_retention(index, keep)
            print(f"retention: removed {counted(done.removed, 'article')}; index {done.bytes_before / 1e6:.1f} MB -> "
                  f"{done.bytes_after / 1e6:.1f} MB", flush=True)

    if args.once:
        reports = poller.poll_round()
        retain()
        return 1 if reports and all(r.errors and not (r.new or r.changed or r.skipped) for r in reports) else 0
    print(f"following {counted(len(sources), 'source')}; Ctrl-C stops", file=sys.stderr, flush=True)
    poller.start()
    try:
        while True:
            retain()
            time.sleep(min(3600.0, every))
    finally:
        poller.stop()


def _eval(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from tqdm import tqdm

    from rag.config import load_settings
    from rag.evaluate import compare_table, failure_text, failures, load_questions, report_table, run_eval
    from rag.pipeline import NewsIndex

    questions = load_questions(args.questions)
    if args.gold_only:
        questions = [q for q in questions if q.gold_doc_ids]
    if args.no_choices:
        questions = [replace(q, choices=()) for q in questions]
    questions = questions[: args.limit]
    settings = load_settings(args.index, reader=_reader_setting(args))
    retrieve = replace(settings.retrieve, mode=args.retriever, date_prior=not args.no_date_prior,
                       group_stories=not args.no_dedup)
    if args.story_support is not None:
        retrieve = replace(retrieve, story_support=args.story_support)
    if args.headline_weight is not None:
        retrieve = replace(retrieve, headline_weight=args.headline_weight)
    index = NewsIndex.open(args.index, create=bool(args.corpus), settings=replace(settings, retrieve=retrieve))
    if args.corpus:
        report = index.ingest(args.corpus)
        print(f"corpus: {report.added:,} added, {report.unchanged:,} already indexed, "
              f"{counted(report.embedded, 'passage')} embedded", file=sys.stderr)
    with tqdm(total=len(questions), desc="eval", unit=" q", file=sys.stderr, dynamic_ncols=True) as bar:
        report = run_eval(index, questions, args.top_k, bar.update)
    print(report_table(report))
    if args.compare_no_reader:
        reader = index.reader()
        if reader is None:
            raise RagError("--compare-no-reader compares the reader with the rules, and the reader is off: drop "
                           "--no-reader (or unset NEWSRAG_READER=none), or name one with --reader DIR")
        rules = NewsIndex.open(args.index, settings=replace(index.settings, reader=READER_OFF))
        with tqdm(total=len(questions), desc="eval, no reader", unit=" q", file=sys.stderr, dynamic_ncols=True) as bar:
            report["no_reader"] = run_eval(rules, questions, args.top_k, bar.update)
        rules.close()
        print("\n" + compare_table({f"reader {reader.name}": report, "no reader": report["no_reader"]}))
    if args.failures:
        print("\nfailures:\n" + failure_text(failures(report, args.failures)))
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"report written to {args.report}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from rag.bench.run import run

    return run(args)


def _serve(args: argparse.Namespace) -> int:
    from rag.app import serve

    serve(args.index, args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
