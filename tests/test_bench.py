"""The benchmark's parts on small inputs: the numbers are there, consistent and rendered; heavy runs are for
``newsrag bench`` itself."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.bench import pipeline as bp
from rag.bench.embedders import compare_embedders
from rag.bench.run import add_arguments, measure, table
from rag.bench.synthetic import bench_vectors, recall_at_k, synthetic_vectors
from rag.embed import HashEmbedder
from rag.errors import RagError
from rag.indexer import IngestReport


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index")
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_synthetic_vectors_are_normalized_and_seeded() -> None:
    a = synthetic_vectors(500)
    assert a.shape == (500, 384) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(a, synthetic_vectors(500))
    assert not np.array_equal(a, synthetic_vectors(500, seed=1))


def test_recall_at_k_counts_the_shared_ids() -> None:
    truth = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    found = np.array([[4, 3, 9, 9], [5, 6, 7, 8]])
    assert recall_at_k(found, truth) == pytest.approx((0.5 + 1.0) / 2)


def test_ingest_numbers_split_wall_time_and_throughput() -> None:
    report = IngestReport(added=10, replaced=2, passages=60, embedded=50, tokens_embedded=5000)
    report.seconds.update(parse=1.0, split=2.0, embed=5.0, write=1.0, total=6.0)
    n = bp.ingest_numbers(report)
    assert n["articles"] == 12 and n["articles_per_s"] == pytest.approx(2.0)
    assert n["passages_per_s"] == pytest.approx(10.0) and n["embedded_per_s_of_embed"] == pytest.approx(10.0)
    assert n["tokens_per_s_of_embed"] == pytest.approx(1000.0)


def test_a_small_run_measures_every_stage(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    args = _args("--corpus", "demo", "--index", str(index_dir), "--model", "hash-64", "--no-app", "--queries", "6",
                 "--sample", "20", "--vectors", "3000", "--compare", "hash-32")
    r = measure(args, lambda _line: None)
    json.dumps(r)  # JSON-ready
    assert r["ingest"]["articles"] == r["counts"]["articles"] > 40
    assert r["ingest"]["embedded"] == r["counts"]["dense_passages"] == r["counts"]["articles"] < r["counts"]["passages"]
    assert r["raw_embed"]["texts"] == 20 and r["raw_embed"]["passages_per_s"] > 0
    assert r["queries"]["questions"] == 6
    assert r["queries"]["total"]["p50"] >= r["queries"]["dense"]["p50"] > 0
    assert r["disk"]["total_mib"] >= r["disk"]["sqlite_mib"] > 0 and r["peak_rss_mib"] > 0
    assert r["compare"]["cosine_mean"] is None and 0 <= r["compare"]["overlap_at_10"] <= 1  # 64 vs 32 dimensions
    assert [v["kind"] for v in r["vectors"]] == ["flat", "ivf"]
    assert r["vectors"][0]["recall_at_10"] == 1.0 and r["vectors"][1]["recall_at_10"] >= 0.95
    text = table(r)
    assert "| ingest wall time" in text and "| query total p50 / p95" in text and "recall@10" in text
    # The index is there now: measuring it again without --reuse would time nothing, so it is refused.
    with pytest.raises(RagError, match="--reuse"):
        measure(args, lambda _line: None)
    again = measure(_args("--corpus", "demo", "--index", str(index_dir), "--reuse", "--no-app", "--queries", "2"),
                    lambda _line: None)
    assert "ingest" not in again and again["counts"] == r["counts"]
    # --reuse without --corpus: the index as it is, named as such, its headlines asked.
    bare = measure(_args("--index", str(index_dir), "--reuse", "--no-app", "--queries", "3", "--sample", "5"),
                   lambda _line: None)
    assert bare["corpus"] == f"the index in {index_dir}" and bare["counts"] == r["counts"]
    assert bare["queries"]["questions"] == 3 and f"the index in {index_dir}: " in table(bare)
    with pytest.raises(RagError, match="--reingest needs --corpus"):
        measure(_args("--index", str(index_dir), "--reuse", "--reingest", "--no-app"), lambda _line: None)


def test_unknown_corpus_says_what_is_accepted() -> None:
    with pytest.raises(RagError, match="demo, realtimeqa"):
        bp.resolve_corpus("/no/such/corpus.jsonl")


def test_corpus_path_takes_questions_next_to_it(tmp_path: Path) -> None:
    (tmp_path / "articles.jsonl").write_text("", encoding="utf-8")
    (tmp_path / "questions.jsonl").write_text("", encoding="utf-8")
    corpus = bp.resolve_corpus(str(tmp_path / "articles.jsonl"))
    assert corpus.inputs == (str(tmp_path / "articles.jsonl"),) and corpus.questions == tmp_path / "questions.jsonl"


def test_startup_seconds_waits_for_http_200(tmp_path: Path) -> None:
    port = bp.free_port()
    server = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)]
    assert 0 < bp.startup_seconds(tmp_path, port, timeout_s=60, command=server) < 60


def test_startup_seconds_reports_an_app_that_exits(tmp_path: Path) -> None:
    with pytest.raises(RagError, match="exited with code 3"):
        bp.startup_seconds(tmp_path, bp.free_port(), command=[sys.executable, "-c", "raise SystemExit(3)"])


def test_compare_embedders_agrees_with_itself() -> None:
    texts = [f"article {i} about topic {i % 7}" for i in range(30)]
    r = compare_embedders(HashEmbedder(64), HashEmbedder(64), texts, ["topic 3", "article 12"])
    assert r["cosine_min"] == pytest.approx(1.0) and r["overlap_at_10"] == 1.0


def test_bench_vectors_flat_is_exact() -> None:
    r = bench_vectors(2000, queries=20)
    assert (r.kind, r.recall_at_10, r.nlist) == ("flat", 1.0, 0)
    assert r.search_p95_ms >= r.search_p50_ms > 0


def test_cold_ask_times_fresh_processes_and_prints_the_median(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rag.bench.run import run

    index_dir = tmp_path / "index"
    args = _args("--cold-ask", "--runs", "3", "--index", str(index_dir), "--model", "hash-64",
                 "--json", str(tmp_path / "cold.json"))
    assert run(args) == 0
    out = capsys.readouterr().out
    r = json.loads((tmp_path / "cold.json").read_text())
    assert (index_dir / "newsrag.sqlite").exists()  # built from the demo corpus, since there was none
    assert len(r["runs_s"]) == 3 and r["warmup_s"] > 0 and r["median_s"] == sorted(r["runs_s"])[1]
    assert r["heavy_imports"] == ["onnxruntime"] and "S-400" in r["answer"] and r["cpus"] >= 1  # the reader's
    assert "| median of 3 " in out and "| heavy modules imported  | onnxruntime |" in out and "nproc" in out
    with pytest.raises(RagError, match="runs must be 1 or more"):
        run(_args("--cold-ask", "--runs", "0", "--index", str(index_dir)))


def test_corpus_ceiling_tells_a_declined_question_the_corpus_answers_from_one_it_does_not(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import corpus_ceiling
    from rag.evaluate import load_questions
    from rag.ingest import read_inputs

    corpus = [{"title": "Seahawks win the Super Bowl", "text": "Seattle beat New England.", "published": "2026-02-08"},
              {"title": "Old news", "text": "Finland was the happiest country.", "published": "2020-03-20"},
              {"title": "Tomorrow", "text": "The Moon base opens.", "published": "2026-03-01"}]
    questions = [{"id": "q1", "question": "Which team won?", "answers": ["Seattle Seahawks", "Seahawks"],
                  "as_of": "2026-02-10"},
                 {"id": "q2", "question": "Which country is happiest?", "answers": ["Finland"], "as_of": "2026-03-19"},
                 {"id": "q3", "question": "What opens?", "answers": ["Moon base"], "as_of": "2026-02-10"},
                 {"id": "q4", "question": "Unanswerable?", "answers": [], "answerable": False}]
    for name, rows in (("q.jsonl", questions), ("c.jsonl", corpus)):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    read = list(read_inputs([tmp_path / "c.jsonl"]))
    assert corpus_ceiling.ceiling(load_questions(tmp_path / "q.jsonl"), read, days=30) == {
        "q1": {"any": True, "recent": True},  # "Seahawks" in the headline, as eval's contains reads it
        "q2": {"any": True, "recent": False},  # written six years before
        "q3": {"any": False, "recent": False},  # written after the question was asked
    }
    report = {"per_question": [{"id": "q1", "abstained": True}, {"id": "q2", "abstained": True},
                               {"id": "q3", "abstained": False}, {"id": "q4", "abstained": True}]}
    (tmp_path / "r.json").write_text(json.dumps(report), encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["corpus_ceiling", str(tmp_path / "q.jsonl"), str(tmp_path / "c.jsonl"),
                                      "--report", str(tmp_path / "r.json")])
    corpus_ceiling.main()
    out = capsys.readouterr().out
    assert "3 answerable questions" in out and "0.667, in one of the 30 days before it for 0.333" in out
    assert "declined 2 (0.667); of these, a recent article writes the answer for 1 (0.333" in out
    assert "only an older one for 1, none for 0" in out and "is 0.333" in out
