"""Many clients asking an app's named API ``/ask`` at once, and what makes an answer well formed.

Shared by the load test (tests/test_load.py) and the app-server bench (``python -m rag.bench.app_servers``).
``drive(urls, next_job, clients)`` runs ``clients`` threads, each with its own HTTP client on one of ``urls``
(client k on ``urls[k % len(urls)]``, calls through Gradio's REST route: ``app_process.ask_api``), until ``next_job`` gives None; ``problems_of(outcome)`` says what is
wrong with one answer: an error, an empty text, an [n] marker without a source, markers in an abstention, or the
answer to another question.
"""

from __future__ import annotations

import json
import re
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import cycle
from pathlib import Path

from rag.bench.app_process import ask_api

MARKER = re.compile(r"\[(\d+)\]")
ASK_TIMEOUT_S = 300.0  # one answer, queue included, on a loaded 2-core machine


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
    server: int = 0  # which of drive()'s urls answered


@dataclass
class Load:
    clients: int
    outcomes: list[Outcome] = field(default_factory=list)
    wall_s: float = 0.0

    def latencies_ms(self) -> list[float]:
        return sorted(o.seconds * 1000 for o in self.outcomes)

    def summary(self) -> dict[str, float]:
        """questions, clients, wall_s, answers_per_s, p50/p95/max_ms (client side, Gradio's queue included) and
        server_p50/p95_ms (the pipeline's own ``timings_ms.total``)."""
        ms = self.latencies_ms()
        server = sorted(o.result["timings_ms"].get("total", 0.0) for o in self.outcomes if o.result) or [0.0]
        return {"questions": len(ms), "clients": self.clients, "wall_s": round(self.wall_s, 1),
                "answers_per_s": round(len(ms) / self.wall_s, 1), "p50_ms": round(percentile(ms, 50)),
                "p95_ms": round(percentile(ms, 95)), "max_ms": round(ms[-1]),
                "server_p50_ms": round(percentile(server, 50)), "server_p95_ms": round(percentile(server, 95))}


def percentile(values: list[float], pct: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1] if len(values) > 1 else values[0]


def question_jobs(path: Path) -> list[Job]:
    """A question set's questions (JSONL) with their as_of dates and chat history (follow-ups need it)."""
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [Job(r["question"], r.get("as_of", ""), tuple(r.get("history", ()))) for r in records]


def cycle_list(items: Sequence[Job], n: int) -> list[Job]:
    it = cycle(items)
    return [next(it) for _ in range(n)]


def job_feed(jobs: Sequence[Job]) -> Callable[[], Job | None]:
    """A thread-safe ``next_job`` for drive(): each of ``jobs`` once, then None."""
    it, lock = iter(jobs), threading.Lock()

    def next_job() -> Job | None:
        with lock:
            return next(it, None)

    return next_job


def drive(urls: Sequence[str], next_job: Callable[[], Job | None], clients: int) -> Load:
    """``clients`` threads, one HTTP client each (client k on ``urls[k % len(urls)]``), asking ``/ask`` until
    ``next_job`` gives None; every call's outcome, in the order they finished."""
    import httpx

    load, lock = Load(clients), threading.Lock()

    def worker(k: int) -> None:
        server = k % len(urls)
        with httpx.Client(timeout=ASK_TIMEOUT_S) as http:
            while (job := next_job()) is not None:
                start = time.perf_counter()
                try:
                    result = ask_api(http, urls[server], job.question, job.as_of, job.history)
                    outcome = Outcome(job, start, 0.0, result=result, server=server)
                except Exception as err:  # noqa: BLE001 - every failure is collected and reported
                    outcome = Outcome(job, start, 0.0, error=f"{type(err).__name__}: {err}", server=server)
                outcome.seconds = time.perf_counter() - start
                with lock:
                    load.outcomes.append(outcome)

    start = time.perf_counter()
    # Daemons, so that Ctrl-C (a KeyboardInterrupt in join) ends the run instead of waiting for every job.
    threads = [threading.Thread(target=worker, args=(k,), name=f"load-client-{k}", daemon=True)
               for k in range(clients)]
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


def problems(load: Load) -> list[str]:
    """Every problem of every answer in ``load``."""
    return [p for o in load.outcomes for p in problems_of(o)]
