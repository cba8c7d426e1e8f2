"""The `newsrag` command through ``rag.cli.main``: ingest, ask, stats and their JSON shapes and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import DEMO, SEED, WIKINEWS

from rag.cli import main

SEED_QUESTION = "When will the S-400 systems be fully installed in Turkey?"


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo corpus ingested through the CLI with the hashing embedder."""
    path = tmp_path_factory.mktemp("cli") / "index"
    assert main(["ingest", str(DEMO), "--index", str(path), "--model", "hash-256", "--quiet"]) == 0
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_ingest_prints_a_summary_and_stats_counts(index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "ingest", str(SEED), "--index", str(index_dir), "--quiet")
    assert code == 0 and err == ""
    assert out.startswith("added 0 articles (0 replaced, 1 already indexed, 0 duplicates skipped")
    code, out, _ = run(capsys, "stats", "--index", str(index_dir), "--json")
    stats = json.loads(out)
    assert code == 0
    assert {"articles", "passages", "dense_passages", "sources", "first_published", "last_published", "model",
            "vectors"} <= set(stats)
    n_articles = sum(1 for line in WIKINEWS.read_text(encoding="utf-8").splitlines() if line.strip()) + 1
    assert stats["articles"] == n_articles
    # One vector an article by default (its headline and lead), every passage in the lexical index.
    assert stats["passages"] > stats["dense_passages"] == stats["vectors"] == n_articles
    assert stats["model"] == "hash-256"
    assert stats["sources"]["Sputnik"] == 1
    assert stats["first_published"] <= "2019-12-14" <= stats["last_published"]


def test_one_article_reads_in_the_singular(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "ingest", str(SEED), "--index", str(tmp_path / "index"), "--model", "hash-64",
                         "--quiet")
    assert code == 0 and err == ""
    assert out.startswith("added 1 article (0 replaced, 0 already indexed, 0 duplicates skipped, "
                          "0 near-duplicates grouped), ")
    passages = json.loads(run(capsys, "stats", "--index", str(tmp_path / "index"), "--json")[1])["passages"]
    assert f"), {passages} passage{'' if passages == 1 else 's'}, " in out
    assert "1 articles" not in out and " 1 passages" not in out
    code, out, _ = run(capsys, "stats", "--index", str(tmp_path / "index"))
    assert code == 0 and "1 in 1 story\n" in out and ", 1 vector\n" in out


def test_skipped_inputs_say_what_went_in(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{not json\n", encoding="utf-8")
    index = ["--index", str(tmp_path / "index"), "--model", "hash-64", "--quiet"]
    code, out, err = run(capsys, "ingest", str(broken), *index)
    assert code == 1 and out.startswith("added 0 articles")
    assert err.splitlines()[-1] == "newsrag: 1 input skipped (see above); nothing new went in"
    code, out, err = run(capsys, "ingest", str(broken), str(tmp_path / "missing.txt"), str(SEED), *index)
    assert code == 1
    assert err.splitlines()[-1] == "newsrag: 2 inputs skipped (see above); 1 article went in"


def test_stats_names_the_index_directory_once(index_dir: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(index_dir.parent)
    code, out, _ = run(capsys, "stats", "--index", index_dir.name)
    assert code == 0
    assert out.splitlines()[0].split() == ["directory", f"./{index_dir.name}"]
    assert "index  index" not in out


def test_stats_as_text(index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "stats", "--index", str(index_dir))
    assert code == 0
    assert "articles" in out and "hash-256 (256 dimensions)" in out and "Sputnik (1)" in out


def test_ask_json_shape(index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "ask", SEED_QUESTION, "--as-of", "2019-12-20", "--json", "--index", str(index_dir))
    assert code == 0, err
    answer = json.loads(out)
    assert {"answer", "citations", "sources", "abstained", "question", "related"} <= set(answer)
    assert answer["question"] == SEED_QUESTION
    assert answer["abstained"] is False
    assert "April" in answer["answer"]
    markers = {s["marker"] for s in answer["sources"]}
    assert answer["citations"] and {c["marker"] for c in answer["citations"]} <= markers
    assert all(f"[{m}]" in answer["answer"] for m in markers)
    seed = next(s for s in answer["sources"] if s["source"] == "Sputnik")
    assert seed["published"] == "2019-12-14"
    assert {"marker", "article_id", "title", "url", "passage", "passage_id", "highlight"} <= set(seed)
    for citation in answer["citations"]:
        source = next(s for s in answer["sources"] if s["marker"] == citation["marker"])
        assert citation["article_id"] == source["article_id"]
        assert citation["sentence"] in source["passage"]


def test_ask_as_text_lists_its_sources(index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "ask", SEED_QUESTION, "--as-of", "2019-12-20", "--index", str(index_dir))
    assert code == 0
    assert "[1]" in out and "Sources:" in out and "Sputnik" in out


def test_ask_json_when_nothing_answers(index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "ask", "What is the airspeed velocity of an unladen swallow on Jupiter?", "--json",
                       "--index", str(index_dir))
    answer = json.loads(out)
    assert code == 0
    assert answer["abstained"] is True and answer["citations"] == [] and answer["sources"] == []


def test_ask_before_the_article_existed(index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """As of a date before the seed article, it is no evidence."""
    code, out, _ = run(capsys, "ask", SEED_QUESTION, "--as-of", "2019-12-01", "--source", "Sputnik", "--json",
                       "--index", str(index_dir))
    answer = json.loads(out)
    assert code == 0 and answer["abstained"] is True
    assert all(s["source"] != "Sputnik" for s in answer["sources"] + answer["related"])


@pytest.mark.parametrize(("argv", "message"), [
    (["ask", ""], "newsrag: error: the question is empty"),
    (["ask", "When?", "--as-of", "someday"], "newsrag: error: as_of must be a date such as 2019-12-14"),
    (["ask", "When?", "--top-k", "0"], "newsrag: error: top_k must be greater than 0"),
    (["ingest", str(SEED), "--model", "hash-128", "--quiet"], "newsrag: error: index "),
])
def test_errors_are_one_line_and_exit_2(index_dir: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                        message: str) -> None:
    code, out, err = run(capsys, *argv, "--index", str(index_dir))
    assert code == 2 and out == ""
    assert err.startswith(message) and err.count("\n") == 1, err


def test_a_model_mismatch_names_both_models(index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "ingest", str(SEED), "--model", "hash-128", "--quiet", "--index", str(index_dir))
    assert code == 2
    assert "'hash-256'" in err and "'hash-128'" in err


def test_ask_on_a_missing_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "ask", "What happened?", "--index", str(tmp_path / "none"))
    assert code == 2
    assert err.strip() == (f"newsrag: error: no index at {tmp_path / 'none'}: run `newsrag ingest FILES --index "
                           f"{tmp_path / 'none'}` first")


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
    assert "usage: newsrag" in capsys.readouterr().err


def test_dense_passages_is_remembered_by_the_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    index_dir = tmp_path / "index"
    code, _, _ = run(capsys, "ingest", str(SEED), "--index", str(index_dir), "--model", "hash-64", "--quiet",
                     "--dense-passages", "0")
    assert code == 0
    # A later ingest without the option embeds its articles as the index was built: every passage.
    code, _, _ = run(capsys, "ingest", str(WIKINEWS), "--index", str(index_dir), "--quiet")
    stats = json.loads(run(capsys, "stats", "--index", str(index_dir), "--json")[1])
    assert code == 0 and stats["passages"] == stats["dense_passages"] == stats["vectors"]
    with pytest.raises(SystemExit) as exit_:
        run(capsys, "ingest", str(SEED), "--index", str(index_dir), "--dense-passages", "-1")
    assert exit_.value.code == 2 and "0 or more" in capsys.readouterr().err


def test_an_index_that_recorded_no_dense_passages_but_embedded_all_goes_on_embedding_all(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import sqlite3

    index_dir = tmp_path / "index"
    assert run(capsys, "ingest", str(SEED), "--index", str(index_dir), "--model", "hash-64", "--quiet",
               "--dense-passages", "0")[0] == 0
    with sqlite3.connect(index_dir / "newsrag.sqlite") as db:  # as an index built before the value was recorded
        db.execute("DELETE FROM meta WHERE key = 'dense_passages'")
    assert run(capsys, "ingest", str(WIKINEWS), "--index", str(index_dir), "--quiet")[0] == 0
    stats = json.loads(run(capsys, "stats", "--index", str(index_dir), "--json")[1])
    assert stats["passages"] == stats["dense_passages"]
