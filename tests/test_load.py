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
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from itertools import cycle
from pathlib import Path

import pytest
from browser_support import running_app
from conftest import DATA, ROOT

from rag.bench.ask_load import Job, Load, cycle_list, drive, job_feed, problems, question_jobs

pytestmark = [pytest.mark.slow, pytest.mark.model,
              # Gradio's queue statistics call pandas 3 with deprecated options, once per answer.
              pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]

CLIENTS = 16
QUESTIONS = 500
QUESTIONS_DURING_INGEST = 100  # at least; the load goes on until the ingest has finished
NEW_ARTICLES = 200


def demo_jobs() -> list[Job]:
    return question_jobs(DATA / "questions.jsonl")


def check(load: Load) -> None:
    found = problems(load)
    assert not found, f"{len(found)} bad answers of {len(load.outcomes)}:\n" + "\n".join(found[:20])


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
    with running_app(demo_index) as url:
        load = drive([url], job_feed(cycle_list(demo_jobs(), QUESTIONS)), CLIENTS)
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
            load = drive([url], next_job, CLIENTS)
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
