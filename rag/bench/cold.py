"""A question asked from the shell, cold: ``newsrag ask`` started as a fresh process, timed from launch to exit,
and which heavy modules that process imports.

A fresh process pays for Python, the imports, opening the index and embedding the question; that is what a user
waits for when they ask one question from the shell.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rag.errors import RagError

ROOT = Path(__file__).resolve().parents[2]
DEMO_QUESTION = "When will the S-400 systems be fully installed in Turkey?"
# Modules that take seconds (torch and what builds on it) or belong to other commands (the app, web pages).
HEAVY_MODULES = ("torch", "sentence_transformers", "transformers", "onnxruntime", "sklearn", "scipy", "gradio",
                 "trafilatura", "feedparser", "lxml", "tqdm")


@dataclass(frozen=True)
class ColdAsk:
    """``runs_s``: seconds of each timed run, in order, after one discarded warm-up run (``warmup_s``) that fills
    the disk cache; ``heavy_imports``: the ``HEAVY_MODULES`` one more run imported; ``answer``: what it printed."""

    question: str
    index_dir: str
    runs_s: list[float]
    warmup_s: float
    median_s: float
    heavy_imports: list[str]
    answer: str
    cpus: int
    load_before: float
    load_after: float


def run_cli(arguments: list[str], python_options: tuple[str, ...] = ()) -> tuple[float, subprocess.CompletedProcess]:
    """``newsrag ARGUMENTS`` in a fresh process: ``(seconds from launch to exit, the finished process)``.

    It runs ``python -m rag.cli`` from the repository root, so it runs this checkout's code; RagError when it
    fails."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    command = [sys.executable, *python_options, "-m", "rag.cli", *arguments]
    t0 = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RagError(f"newsrag {arguments[0]} exited with code {done.returncode}: {done.stderr[-2000:]}")
    return seconds, done


def run_ask(index_dir: Path, question: str) -> tuple[float, subprocess.CompletedProcess]:
    """One cold ``newsrag ask QUESTION --index INDEX_DIR``; see ``run_cli``."""
    return run_cli(["ask", question, "--index", str(index_dir)])


def imported_modules(importtime_log: str) -> set[str]:
    """Every module named in the ``-X importtime`` report ``importtime_log``."""
    names = set()
    for line in importtime_log.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            names.add(line.rsplit("|", 1)[1].strip())
    return names - {"imported package"}


def heavy_imports(arguments: list[str]) -> list[str]:
    """The ``HEAVY_MODULES`` (top-level names) that a fresh ``newsrag ARGUMENTS`` imports, sorted."""
    _, done = run_cli(arguments, ("-X", "importtime"))
    top = {name.split(".", 1)[0] for name in imported_modules(done.stderr)}
    return sorted(top & set(HEAVY_MODULES))


def cold_ask(index_dir: Path, question: str = DEMO_QUESTION, runs: int = 5, say=lambda _line: None) -> ColdAsk:  # noqa: ANN001
    """Time ``runs`` cold asks on ``index_dir`` (after one discarded warm-up) and look at one more's imports."""
    if runs < 1:
        raise RagError(f"runs must be 1 or more, not {runs}")
    load_before = os.getloadavg()[0]
    warmup, done = run_ask(index_dir, question)
    say(f"warm-up run (discarded): {warmup:.2f} s")
    times = []
    for i in range(runs):
        seconds, _ = run_ask(index_dir, question)
        times.append(seconds)
        say(f"run {i + 1}: {seconds:.2f} s")
    heavy = heavy_imports(["ask", question, "--index", str(index_dir)])
    return ColdAsk(question, str(index_dir), times, warmup, statistics.median(times), heavy, done.stdout.strip(),
                   len(os.sched_getaffinity(0)), load_before, os.getloadavg()[0])


def cold_table(r: ColdAsk) -> str:
    """The runs, their median and the machine, as a Markdown table."""
    rows = [("question", r.question), ("index", r.index_dir),
            ("warm-up run (discarded)", f"{r.warmup_s:.2f} s")]
    rows += [(f"run {i + 1}", f"{s:.2f} s") for i, s in enumerate(r.runs_s)]
    rows += [(f"median of {len(r.runs_s)}", f"{r.median_s:.2f} s"),
             ("heavy modules imported", ", ".join(r.heavy_imports) or "none"),
             ("answer (first line)", r.answer.splitlines()[0] if r.answer else ""),
             ("machine", f"nproc {r.cpus}, load average {r.load_before:.2f} before, {r.load_after:.2f} after")]
    width = max(len(k) for k, _ in rows)
    lines = [f"| {'cold newsrag ask'.ljust(width)} | value |", f"|{'-' * (width + 2)}|-------|"]
    return "\n".join(lines + [f"| {k.ljust(width)} | {v} |" for k, v in rows])
