"""The pipeline on a real corpus: ingest (parse, split, embed, write), the raw speed of the same embedder on the
same texts, query latency by stage with the index loaded, app start-up, peak memory and size on disk.

Each measurement is a function returning a dict of numbers, so the CLI can print them and a test can check them.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.embed import warm_up
from rag.errors import RagError
from rag.indexer import IngestReport, embed_text
from rag.types import Article, Passage

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("embed", "dense", "lexical", "fuse", "compose", "total")


@dataclass(frozen=True)
class Corpus:
    """What to ingest, and the questions to time (``None``: the articles' titles are asked instead)."""

    name: str
    inputs: tuple[str, ...]
    questions: Path | None = None


def resolve_corpus(name: str) -> Corpus:
    """``demo`` (bundled), ``realtimeqa`` (``$NEWSRAG_REALTIMEQA`` or ``../shared/eval/realtimeqa-dev``) or a
    path; a path's ``questions.jsonl`` next to it, when there is one, gives the questions."""
    if name == "demo":
        from rag.demo import demo_inputs

        return Corpus("demo", tuple(demo_inputs()))
    if name == "realtimeqa":
        base = Path(os.environ.get("NEWSRAG_REALTIMEQA", ROOT.parent / "shared" / "eval" / "realtimeqa-dev"))
        if not (base / "corpus.jsonl").exists():
            raise RagError(f"no RealTimeQA corpus at {base}: set NEWSRAG_REALTIMEQA to the folder holding "
                           "corpus.jsonl and questions.jsonl")
        return Corpus("realtimeqa", (str(base / "corpus.jsonl"),), base / "questions.jsonl")
    path = Path(name)
    if not path.exists():
        raise RagError(f"unknown corpus {name!r}: give demo, realtimeqa or a file or folder of articles")
    folder = path if path.is_dir() else path.parent
    questions = folder / "questions.jsonl"
    return Corpus(path.name, (str(path),), questions if questions.exists() else None)


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ingest_numbers(report: IngestReport) -> dict[str, float]:
    """Wall time, the parse / split / embed / write split, and throughput of one ingest.

    Parse and split run in a reader thread that overlaps embedding, so the parts can add up to more than
    ``total_s``."""
    s = report.seconds
    total = max(s["total"], 1e-9)
    embed = max(s["embed"], 1e-9)
    return {"total_s": s["total"], "parse_s": s["parse"], "split_s": s["split"], "embed_s": s["embed"],
            "write_s": s["write"], "articles": report.added + report.replaced, "passages": report.passages,
            "embedded": report.embedded, "cache_hits": report.cache_hits, "tokens_embedded": report.tokens_embedded,
            "articles_per_s": (report.added + report.replaced) / total, "passages_per_s": report.passages / total,
            "embedded_per_s_of_embed": report.embedded / embed, "tokens_per_s_of_embed": report.tokens_embedded / embed}


def reingest_numbers(report: IngestReport, first: dict[str, float] | None) -> dict[str, float | None]:
    """A second ingest of the same inputs: its wall time, how many records it skipped unread (by their raw
    hash), and its share of the first ingest's wall time when that was measured."""
    records = report.unchanged + report.added + report.replaced + report.duplicates + report.failed
    ratio = report.seconds["total"] / first["total_s"] if first and first["total_s"] > 0 else None
    return {"total_s": report.seconds["total"], "parse_s": report.seconds["parse"], "records": records,
            "raw_unchanged": report.raw_unchanged, "articles": report.added + report.replaced, "ratio": ratio}


def sample_texts(index, count: int, seed: int = 0) -> list[str]:  # noqa: ANN001 - a NewsIndex
    """Up to ``count`` passages of the index as the model reads them (``embed_text``), chosen at random."""
    rows = index.store.query("SELECT p.passage_id, p.article_id, p.ordinal, p.start, p.end, p.text, a.title, "
                             "a.published FROM passages p JOIN articles a ON a.article_id = p.article_id")
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(rows), size=min(count, len(rows)), replace=False) if rows else []
    out = []
    for i in picked:
        pid, aid, ordinal, start, end, text, title, published = rows[int(i)]
        out.append(embed_text(Article(aid, title, "", published=published), Passage(aid, ordinal, start, end, text, pid)))
    return out


def raw_embed_numbers(embedder, texts: Sequence[str]) -> dict[str, float]:  # noqa: ANN001 - an Embedder
    """The embedder alone on ``texts`` (after ``warm_up``): passages/s and estimated tokens/s, counted as
    the indexer counts them (1.35 tokens a word)."""
    warm_up(embedder)
    t0 = time.perf_counter()
    embedder.embed(list(texts))
    seconds = max(time.perf_counter() - t0, 1e-9)
    tokens = sum(int(len(t.split()) * 1.35) for t in texts)
    return {"texts": len(texts), "seconds": seconds, "passages_per_s": len(texts) / seconds, "tokens_per_s": tokens / seconds}


def questions_for(index, corpus: Corpus, count: int) -> list[dict[str, Any]]:  # noqa: ANN001
    """``ask`` keyword arguments for ``count`` questions: the corpus's own, else article titles as questions.

    Asked as the app asks them, without their answer choices: picking a choice is eval's path, and costs more
    (``newsrag eval`` reports its latency)."""
    if corpus.questions:
        from rag.evaluate import load_questions

        return [{"question": q.question, "as_of": q.as_of} for q in load_questions(corpus.questions)[:count]]
    rows = index.store.query("SELECT title FROM articles WHERE title != '' ORDER BY article_id LIMIT ?", [count])
    return [{"question": r[0]} for r in rows]


def query_numbers(index, questions: Sequence[dict[str, Any]]) -> dict[str, Any]:  # noqa: ANN001
    """The first ask (cold: loads the model) apart, then p50 / p95 of each stage of ``Answer.timings`` over the
    rest, in milliseconds."""
    if not questions:
        return {"questions": 0}
    t0 = time.perf_counter()
    index.ask(**questions[0])
    cold = (time.perf_counter() - t0) * 1000
    per_stage: dict[str, list[float]] = {s: [] for s in STAGES}
    for kwargs in questions[1:] or questions:
        timings = index.ask(**kwargs).timings
        for stage in STAGES:
            per_stage[stage].append(timings.get(stage, 0.0))
    out: dict[str, Any] = {"questions": len(questions), "cold_first_ms": cold}
    for stage, values in per_stage.items():
        out[stage] = {"p50": _pct(values, 50), "p95": _pct(values, 95), "mean": statistics.fmean(values)}
    return out


def startup_seconds(index_dir: Path, port: int, timeout_s: float = 180.0,
                    command: Sequence[str] | None = None) -> float:
    """Seconds from launching ``python app.py --index DIR --port PORT`` until it answers HTTP 200."""
    cmd = list(command or [sys.executable, str(ROOT / "app.py"), "--index", str(index_dir), "--port", str(port)])
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while time.perf_counter() - t0 < timeout_s:
            if proc.poll() is not None:
                raise RagError(f"the app exited with code {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
            if _answers(f"http://127.0.0.1:{port}/"):
                return time.perf_counter() - t0
            time.sleep(0.1)
        raise RagError(f"the app did not answer on port {port} within {timeout_s:.0f} s")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own local app
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def disk_numbers(index_dir: Path) -> dict[str, float]:
    """MiB on disk: everything, the SQLite files (with WAL) and the vector files (current and previous)."""
    files = [p for p in index_dir.iterdir() if p.is_file()]
    mib = 1024 * 1024
    return {"total_mib": sum(p.stat().st_size for p in files) / mib,
            "sqlite_mib": sum(p.stat().st_size for p in files if ".sqlite" in p.name) / mib,
            "vectors_mib": sum(p.stat().st_size for p in files if p.suffix == ".faiss") / mib}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def timed(step: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    value = step()
    return value, time.perf_counter() - t0


def _pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")
