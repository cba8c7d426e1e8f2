"""Load benchmark of ``newsrag follow``: a local feed server publishes N new items a minute for M minutes while the
poller follows it and K clients ask questions; every item must become answerable within one poll interval of its
publication (plus the time that poll took), none may be indexed twice, and no client may see an error.

``latency`` runs from publication to the commit of the poll that ingested the item (the moment ``ask`` sees it);
a checker asks about every published item until it is answered from its own article, and ``seen`` is the
latency as that checker observed it (adding its own asks' lag).

    python -m rag.bench.follow_load                      # 10 items/min, 10 min, 8 clients, poll every 60 s
    python -m rag.bench.follow_load --per-minute 60 --minutes 0.2 --clients 2 --every 2s --model hash-256
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from rag.bench.feed_server import FeedServer, Item, rss
from rag.follow.poller import FollowSettings, Poller
from rag.follow.sources import Source, parse_duration
from rag.follow.state import PollReport
from rag.ingest.clean import make_article_id

_SYLLABLES = ["ka", "lo", "mer", "vin", "dra", "sel", "tor", "bu", "zen", "qua", "rim", "os", "pel", "nax", "ul", "fey"]
FEED_WINDOW = 50  # items a feed keeps, newest first, as real feeds do


@dataclass(frozen=True)
class LoadResult:
    published: int
    answerable: int
    within_interval: int
    every_s: float
    latency_p50_s: float
    latency_max_s: float
    seen_max_s: float
    poll_max_s: float
    indexed_twice: int
    polled_new: int
    asks: int
    client_errors: int
    ask_p50_ms: float
    ask_p95_ms: float

    @property
    def passed(self) -> bool:
        return (self.answerable == self.within_interval == self.published and not self.indexed_twice
                and not self.client_errors and self.polled_new == self.published)


def _name(i: int) -> str:
    rng = random.Random(i)
    return "".join(rng.choice(_SYLLABLES) for _ in range(3)).capitalize() + f"{i}"


def news_item(i: int) -> tuple[Item, str]:
    """The ``i``-th published item and a question only it answers."""
    town, person = _name(i), _name(10_000 + i)
    text = (f"The town council of {town} elected {person} as its new harbour master on Monday, after a vote "
            f"of the {i + 3} council members. {person} promised to dredge the old harbour of {town} by spring.")
    return Item(f"http://wire.test/story/{i}", f"{town} elects {person} harbour master", text), \
        f"Who did {town} elect as harbour master?"


def run_load(index, per_minute: float, minutes: float, clients: int, every_s: float,  # noqa: ANN001 - NewsIndex
             say=lambda _: None) -> LoadResult:  # noqa: ANN001
    published: dict[int, float] = {}
    found: dict[int, float] = {}
    questions: dict[int, str] = {}
    polls: list[tuple[float, PollReport]] = []
    asks: list[float] = []
    errors: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()
    total = max(1, round(per_minute * minutes))
    with FeedServer() as server:
        server.set("/live.xml", rss([], "Live Wire"))
        poller = Poller(index, [Source(server.url("/live.xml"), every_s)],
                        FollowSettings(allow_private=True, host_gap_s=0.0),
                        on_report=lambda r: polls.append((time.time(), r)))

        def publish() -> None:
            items: list[Item] = []
            for i in range(total):
                item, question = news_item(i)
                items.insert(0, item)
                with lock:
                    server.set("/live.xml", rss(items[:FEED_WINDOW], "Live Wire"))
                    published[i], questions[i] = time.time(), question
                if stop.wait(60.0 / per_minute):
                    return

        def check() -> None:
            while not stop.is_set():
                with lock:
                    waiting = sorted(i for i in published if i not in found)
                for i in waiting:
                    ids = {h.article.article_id for h in index.ask(questions[i]).hits}
                    if make_article_id(news_item(i)[0].link, "") not in ids:
                        break  # the older ones come in first: no use asking about the newer ones yet
                    found[i] = time.time()
                stop.wait(0.2)

        def client(seed: int) -> None:
            rng = random.Random(seed)
            while not stop.is_set():
                with lock:
                    known = list(questions.items())
                question = rng.choice(known)[1] if known else "What happened in the harbour?"
                t0 = time.perf_counter()
                try:
                    index.ask(question)
                    asks.append((time.perf_counter() - t0) * 1000)
                except Exception as err:  # noqa: BLE001 - counted: no client may see an error
                    errors.append(f"{type(err).__name__}: {err}")

        threads = [threading.Thread(target=publish, daemon=True), threading.Thread(target=check, daemon=True)]
        threads += [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
        poller.start()
        for t in threads:
            t.start()
        end = time.time() + minutes * 60 + every_s * 2 + 5
        while time.time() < end and not (len(found) == total and len(published) == total):
            time.sleep(1.0)
            say(f"published {len(published)}/{total}, answerable {len(found)}, asks {len(asks)}, errors {len(errors)}")
        stop.set()
        poller.stop()
        for t in threads:
            t.join(30)
    # An item becomes answerable when the poll that ingests it commits: the first poll to start after it was
    # published (the checker's own asks, ~0.1 s each under load, confirm it and add their lag to ``seen``).
    committed = sorted((end, end - r.seconds) for end, r in polls if r.new)
    latencies = [next((end for end, start in committed if start >= published[i]), found[i]) - published[i]
                 for i in found]
    seen = [found[i] - published[i] for i in found]
    poll_max = max((r.seconds for _, r in polls), default=0.0)
    twice = index.store.query("SELECT COUNT(*) FROM (SELECT url FROM articles WHERE url LIKE 'http://wire.test/%' "
                              "GROUP BY url HAVING COUNT(*) > 1)")[0][0]
    ask_sorted = sorted(asks) or [0.0]
    return LoadResult(
        published=len(published), answerable=len(found),
        within_interval=sum(1 for s in latencies if s <= every_s + poll_max), every_s=every_s,
        latency_p50_s=statistics.median(latencies) if latencies else 0.0, latency_max_s=max(latencies, default=0.0),
        seen_max_s=max(seen, default=0.0),
        poll_max_s=poll_max, indexed_twice=twice, polled_new=sum(r.new for _, r in polls), asks=len(asks),
        client_errors=len(errors), ask_p50_ms=ask_sorted[len(ask_sorted) // 2],
        ask_p95_ms=ask_sorted[min(len(ask_sorted) - 1, int(len(ask_sorted) * 0.95))])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.bench.follow_load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-minute", type=float, default=10.0, help="items published a minute (default 10)")
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to publish (default 10)")
    parser.add_argument("--clients", type=int, default=8, help="clients asking questions meanwhile (default 8)")
    parser.add_argument("--every", default="60s", help="poll interval (default 60s)")
    parser.add_argument("--model", default="all-MiniLM-L6-v2", help="embedding model (hash-256 for a dry run)")
    parser.add_argument("--seed-corpus", default="demo", help="articles indexed first: demo (default) or none")
    args = parser.parse_args(argv)
    from rag.demo import demo_inputs
    from rag.pipeline import NewsIndex

    with tempfile.TemporaryDirectory(prefix="newsrag-follow-load-") as tmp:
        index = NewsIndex.open(Path(tmp) / "index", model=args.model, create=True)
        if args.seed_corpus == "demo":
            index.ingest(demo_inputs())
        index.embedder.embed(["warm up"])
        result = run_load(index, args.per_minute, args.minutes, args.clients, parse_duration(args.every, "--every"),
                          lambda line: print(line, file=sys.stderr, flush=True))
        index.close()
    for key, value in asdict(result).items():
        print(f"{key:16} {value:.2f}" if isinstance(value, float) else f"{key:16} {value}")
    print(f"{'passed':16} {result.passed}")
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
