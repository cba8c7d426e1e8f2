"""Load (issue #8): many people asking at once through the app's named API, with the real model on the demo index,
and again while another process adds articles to the same index.

Every answer must be well formed: no error, non-empty text, every [n] marker backed by a source with that marker,
no markers in an abstention, and the answer to the caller's own question. Latency (p50/p95, client side, so it
includes Gradio's queue) is printed (``pytest -s``) and recorded as test properties; nothing is timed as a pass
condition, since the machine may be shared.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import cycle
from pathlib import Path

import pytest
from browser_support import running_app
from conftest import DATA, ROOT

pytestmark = [pytest.mark.slow, pytest.mark.model,
              # Gradio's queue statistics call pandas 3 with deprecated options, once per answer.
              pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]

CLIENTS = 16
QUESTIONS = 500
QUESTIONS_DURING_INGEST = 100  # at least; the load goes on until the ingest has finished
NEW_ARTICLES = 200
MARKER = re.compile(r"\[(\d+)\]")


@dataclass(frozen=True)
class Job:
    question: str
    as_of: str = ""
    history: tuple[str, ...] = ()


@dataclass
class Outcome:
    job: Job
    started: float
    seconds: float
    result: dict | None = None
    error: str = ""


@dataclass
class Load:
    outcomes: list[Outcome] = field(default_factory=list)
    wall_s: float = 0.0

    def latencies_ms(self) -> list[float]:
        return sorted(o.seconds * 1000 for o in self.outcomes)

    def summary(self) -> dict[str, float]:
        ms = self.latencies_ms()
        server = sorted(o.result["timings_ms"].get("total", 0.0) for o in self.outcomes if o.result)
        return {"questions": len(ms), "clients": CLIENTS, "wall_s": round(self.wall_s, 1),
                "answers_per_s": round(len(ms) / self.wall_s, 1), "p50_ms": round(_percentile(ms, 50)),
                "p95_ms": round(_percentile(ms, 95)), "max_ms": round(ms[-1]),
                "server_p50_ms": round(_percentile(server, 50)), "server_p95_ms": round(_percentile(server, 95))}


def _percentile(values: list[float], pct: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1] if len(values) > 1 else values[0]


def demo_jobs() -> list[Job]:
    """The question set's questions with their as_of dates and chat history (follow-ups need it)."""
    records = [json.loads(line) for line in (DATA / "questions.jsonl").read_text(encoding="utf-8").splitlines()
               if line.strip()]
    return [Job(r["question"], r.get("as_of", ""), tuple(r.get("history", ()))) for r in records]


def cycle_list(items: list[Job], n: int) -> list[Job]:
    it = cycle(items)
    return [next(it) for _ in range(n)]


def drive(url: str, next_job: Callable[[], Job | None]) -> Load:
    """``CLIENTS`` threads, one gradio_client.Client each, asking ``/ask`` until ``next_job`` gives None."""
    from gradio_client import Client

    load, lock = Load(), threading.Lock()

    def worker() -> None:
        client = Client(url, verbose=False)
        while (job := next_job()) is not None:
            start = time.perf_counter()
            try:
                result = client.predict(job.question, as_of=job.as_of, history=list(job.history), api_name="/ask")
                outcome = Outcome(job, start, time.perf_counter() - start, result=result)
            except Exception as err:  # noqa: BLE001 - every failure is collected and reported by the test
                outcome = Outcome(job, start, time.perf_counter() - start, error=f"{type(err).__name__}: {err}")
            with lock:
                load.outcomes.append(outcome)

    start = time.perf_counter()
    threads = [threading.Thread(target=worker, name=f"load-client-{i}") for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    load.wall_s = time.perf_counter() - start
    return load


def problems_of(outcome: Outcome) -> list[str]:
    """What is wrong with one answer (nothing for a well-formed one)."""
    q, r = outcome.job.question, outcome.result
    if r is None:
        return [f"{q!r}: {outcome.error}"]
    text = r.get("answer")
    if not isinstance(text, str) or not text.strip():
        return [f"{q!r}: empty answer"]
    found = []
    if r.get("question") != q:
        found.append(f"{q!r}: got the answer to {r.get('question')!r}")
    markers = {int(m) for m in MARKER.findall(text)}
    cited = {s.get("marker") for s in r.get("sources", [])}
    if markers - cited:
        found.append(f"{q!r}: markers {sorted(markers - cited)} have no source in {text!r}")
    if r.get("abstained") and markers:
        found.append(f"{q!r}: abstained but cites {sorted(markers)}: {text!r}")
    return found


def check(load: Load) -> None:
    problems = [p for o in load.outcomes for p in problems_of(o)]
    assert not problems, f"{len(problems)} bad answers of {len(load.outcomes)}:\n" + "\n".join(problems[:20])


def report(name: str, load: Load, record_property: Callable[[str, object], None], **extra: object) -> None:
    summary = {**load.summary(), **extra}
    for key, value in summary.items():
        record_property(key, value)
    with open("/proc/loadavg", encoding="ascii") as fh:
        loadavg = " ".join(fh.read().split()[:3])
    record_property("loadavg", loadavg)
    print(f"\n{name}: " + ", ".join(f"{k}={v}" for k, v in summary.items()) + f" (load average {loadavg}, "
          f"{os.cpu_count()} cores)")


def test_sixteen_clients_ask_five_hundred_questions(demo_index, record_property) -> None:  # noqa: ANN001
    jobs = iter(cycle_list(demo_jobs(), QUESTIONS))
    lock = threading.Lock()

    def next_job() -> Job | None:
        with lock:
            return next(jobs, None)

    with running_app(demo_index) as url:
        load = drive(url, next_job)
    assert len(load.outcomes) == QUESTIONS
    check(load)
    answered = [o for o in load.outcomes if not o.result["abstained"]]
    assert len(answered) > QUESTIONS / 2  # the demo questions are mostly answerable: not a page of abstentions
    report("load", load, record_property, abstained=QUESTIONS - len(answered))


# --- while another process ingests -----------------------------------------------------------------------------
_TOWNS = ("Brask", "Quell", "Dorv", "Ilmen", "Tarsk", "Oveda", "Pelgr", "Zunra", "Kavel", "Morsh")
_THINGS = ("lantern", "clock", "tram", "kite", "violin", "map", "stamp", "coin", "boat", "quilt")


def new_articles(n: int) -> list[dict]:
    """``n`` small articles, each about a museum in a town no other article (and no demo article) names."""
    out = []
    for i in range(n):
        town, thing = f"{_TOWNS[i % 10]}{_TOWNS[i // 10 % 10].lower()}holm{i}", _THINGS[i * 7 % 10]
        exhibits = 100 + i * 13
        out.append({"id": f"load-{i}", "title": f"{town} opens a {thing} museum", "source": "Load Test Gazette",
                    "url": f"https://gazette.example/load/{i}", "published": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
                    "text": f"The {thing} museum of {town} opened on Saturday with {exhibits} exhibits, the mayor "
                            f"said. Volunteers from {town} spent {2 + i % 9} years restoring the old {thing} "
                            f"collection. Entry is free for children, and the museum opens daily except Monday."})
    return out


def test_answers_stay_well_formed_while_another_process_ingests(demo_index, tmp_path: Path,  # noqa: ANN001
                                                               record_property) -> None:  # noqa: ANN001
    articles = new_articles(NEW_ARTICLES)
    corpus = tmp_path / "new.jsonl"
    corpus.write_text("".join(json.dumps(a) + "\n" for a in articles), encoding="utf-8")
    before = demo_index.stats()["articles"]
    jobs, lock, asked = cycle(demo_jobs()), threading.Lock(), [0]
    generations: set[int] = set()
    with running_app(demo_index) as url:
        proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "ingest", str(corpus), "--index",
                                 demo_index.location, "--quiet"], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        ingest_start = time.perf_counter()

        def next_job() -> Job | None:
            with lock:
                generations.add(demo_index.generation)  # the generation the app serves as it answers
                # Keep asking until the ingest is over, so that questions overlap every batch it writes.
                if asked[0] >= QUESTIONS_DURING_INGEST and proc.poll() is not None:
                    return None
                asked[0] += 1
                return next(jobs)

        try:
            load = drive(url, next_job)
            output, _ = proc.communicate(timeout=600)
        finally:
            if proc.poll() is None:
                proc.kill()
        ingest_s = time.perf_counter() - ingest_start
        assert proc.returncode == 0, output
        assert f"added {NEW_ARTICLES} articles" in output, output
        check(load)
        # The app serves the new articles: ask about one of them through the API.
        from gradio_client import Client

        target = articles[137]
        town = target["title"].split()[0]
        result = Client(url, verbose=False).predict(f"How many exhibits does the museum of {town} have?",
                                                    api_name="/ask")
    assert demo_index.stats()["articles"] == before + NEW_ARTICLES
    assert target["title"] in [s["title"] for s in result["sources"]], result
    assert "1881" in result["answer"], result["answer"]
    assert len(generations) >= 2, generations  # answers were given while the index changed under the app
    report("load during ingest", load, record_property, ingest_s=round(ingest_s, 1),
           generations_seen=len(generations))
