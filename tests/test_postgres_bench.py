"""The scale benchmark (``python -m rag.bench.pg_scale``) on a small synthetic corpus: both backends get the same
passages, every number it prints is there, and HNSW finds what exact search finds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_backends import fresh_database

from rag.bench import pg_scale, scale_corpus

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_the_corpus_is_a_function_of_its_spec() -> None:
    spec = scale_corpus.ScaleSpec(250, per_article=10, seed=3)
    first, again = list(scale_corpus.batches(spec)), list(scale_corpus.batches(spec))
    assert sum(len(item[1]) for batch in first for item in batch) == 250
    assert [a.text for batch in first for a, *_ in batch] == [a.text for batch in again for a, *_ in batch]
    assert (scale_corpus.vectors_of(spec, 0, 250) == scale_corpus.vectors_of(spec, 0, 250)).all()


def test_a_small_scale_run_fills_every_number(pg_cluster, tmp_path: Path,  # noqa: ANN001
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "scale.json"
    code = pg_scale.main(["--passages", "3000", "--url", fresh_database(pg_cluster), "--local",
                          str(tmp_path / "local"), "--queries", "12", "--recall-queries", "6", "--asks", "4",
                          "--maintenance-work-mem", "256MB", "--out", str(out)])
    assert code == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["postgres_write"]["passages"] == result["local_write"]["passages"] == 3000
    assert any("embedding" in name for name in result["index_build_s"])  # the HNSW index was made again
    for backend in ("postgres", "local"):
        assert result[f"{backend}_search"]["dense_recall_at_10"] >= 0.9
        assert result[f"{backend}_ask"]["wall"]["n"] == 4
    table = capsys.readouterr().out
    assert "| dense recall@10 vs exact |" in table and "3,000" in table
