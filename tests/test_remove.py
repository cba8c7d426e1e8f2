"""Updates and deletes (issue #8): remove by id, url, source and date range; a changed article replaces its
passages; what was removed can no longer be retrieved or cited; SQLite, FTS and FAISS stay consistent."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import faiss
import numpy as np
import pytest

from rag.backends.base import LexicalQuery
from rag.cli import main
from rag.embed import HashEmbedder
from rag.errors import RagError
from rag.pipeline import NewsIndex

FAR_LATER = "2040-01-01"  # the recency prior then favours no article

ARTICLES = [
    {"id": "w1", "title": "Zorvik dam opens", "source": "Wire", "published": "2020-01-10",
     "url": "https://wire.example/zorvik-dam",
     "text": "The Zorvik dam opened on Friday. It will store water for 80,000 people in the dry season."},
    {"id": "w2", "title": "Quellberg tram strike ends", "source": "Wire", "published": "2020-02-20",
     "url": "https://wire.example/quellberg-tram",
     "text": "Tram drivers in Quellberg ended their strike after the city offered a pay rise of six percent."},
    {"id": "g1", "title": "Marnholt library burns", "source": "Gazette", "published": "2020-03-05",
     "url": "https://gazette.example/marnholt-library",
     "text": "A fire destroyed the old library of Marnholt overnight. Nobody was hurt, the fire brigade said."},
    {"id": "g2", "title": "Tessaly wins chess title", "source": "Gazette", "published": "2021-07-01",
     "url": "https://gazette.example/tessaly-chess",
     "text": "Grandmaster Ana Tessaly won the national chess title in Brevik with a round to spare."},
    {"id": "n1", "title": "Ostrava bakery record", "source": "Gazette", "published": None, "url": "",
     "text": "An Ostrava bakery baked a loaf of bread eleven metres long, a new town record."},
]
QUESTIONS = {"w1": "What opened in Zorvik?", "w2": "Why did the Quellberg tram strike end?",
             "g1": "What happened to the Marnholt library?", "g2": "Who won the chess title in Brevik?",
             "n1": "How long was the Ostrava bread loaf?"}


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    index = NewsIndex.open(tmp_path / "index", create=True, embedder=HashEmbedder(256))
    report = index.ingest([write_jsonl(tmp_path / "news.jsonl", ARTICLES)])
    assert report.added == len(ARTICLES)
    index.close()
    return tmp_path / "index"


def stored_ids(index_dir: Path) -> set[str]:
    db = sqlite3.connect(index_dir / "newsrag.sqlite")
    try:
        return {r[0] for r in db.execute("SELECT article_id FROM articles")}
    finally:
        db.close()


def check_consistent(index: NewsIndex) -> None:
    """Every passage has its FTS row and, on disk and in memory, exactly its FAISS vector; no row is orphaned."""
    db = sqlite3.connect(index.backend.dir / "newsrag.sqlite")
    try:
        passages = {r[0] for r in db.execute("SELECT passage_id FROM passages")}
        dense = {r[0] for r in db.execute("SELECT passage_id FROM passages WHERE embed_hash IS NOT NULL")}
        fts = {r[0] for r in db.execute("SELECT rowid FROM passages_fts")}
        orphans = db.execute("SELECT (SELECT COUNT(*) FROM passages WHERE article_id NOT IN (SELECT article_id FROM "
                             "articles)) + (SELECT COUNT(*) FROM lsh WHERE article_id NOT IN (SELECT article_id "
                             "FROM articles))").fetchone()[0]
    finally:
        db.close()
    assert fts == passages and orphans == 0
    manifest = json.loads((index.backend.dir / "manifest.json").read_text())
    on_disk = faiss.read_index(str(index.backend.dir / manifest["vector_file"]))
    assert sorted(faiss.vector_to_array(on_disk.id_map).tolist()) == sorted(dense)
    assert sorted(faiss.vector_to_array(index.backend.vectors.index.id_map).tolist()) == sorted(dense)


def cited_ids(index: NewsIndex, question: str) -> set[str]:
    """Every article the answer retrieved, cited or listed."""
    answer = index.ask(question, as_of=FAR_LATER)
    return ({h.article.article_id for h in answer.hits} | {s.article_id for s in answer.sources}
            | {s.article_id for s in answer.related} | {c.article_id for c in answer.citations})


def assert_gone(index: NewsIndex, article_id: str) -> None:
    """Neither full-text nor vector search can reach the article any more."""
    assert article_id not in cited_ids(index, QUESTIONS[article_id])
    assert article_id not in cited_ids(index, next(a["title"] for a in ARTICLES if a["id"] == article_id))
    vec = index.embedder.embed([QUESTIONS[article_id]])
    _, ids = index.backend.vectors.search(vec, 100)
    owners = {p.article_id for p in index.store.passages(int(i) for i in ids[0] if i >= 0).values()}
    assert article_id not in owners


def test_every_article_is_found_before_removal(index_dir: Path) -> None:
    index = NewsIndex.open(index_dir)
    for article_id, question in QUESTIONS.items():
        assert index.ask(question, as_of=FAR_LATER).hits[0].article.article_id == article_id, question
    check_consistent(index)
    index.close()


@pytest.mark.parametrize(("criteria", "removed"), [
    ({"article_ids": ["w2"]}, {"w2"}),
    ({"article_ids": ["w2", "no-such-id", "w2"]}, {"w2"}),
    ({"urls": ["https://gazette.example/marnholt-library"]}, {"g1"}),
    ({"sources": ["Wire"]}, {"w1", "w2"}),
    ({"since": "2020-02-20", "until": "2020-12-31"}, {"w2", "g1"}),
    ({"until": "2020-01-31"}, {"w1"}),
    ({"since": "2021-01-01"}, {"g2"}),
    ({"sources": ["Gazette"], "since": "2020-06-01"}, {"g2"}),  # criteria combine with AND
    ({"article_ids": ["n1"], "sources": ["Wire"]}, {"n1", "w1", "w2"}),  # ids add to the rest
    ({"sources": ["Nobody"]}, set()),
    ({"urls": [""]}, set()),  # an empty value is no criterion, not "every article without one"
    ({"urls": [" "], "sources": [""], "article_ids": [""]}, set()),
])
def test_remove_by_criteria(index_dir: Path, criteria: dict, removed: set[str]) -> None:
    index = NewsIndex.open(index_dir)
    generation = index.store.generation()
    assert set(index.remove(**criteria)) == removed
    assert stored_ids(index_dir) == {a["id"] for a in ARTICLES} - removed
    for article_id in removed:
        assert_gone(index, article_id)
    for article_id in {a["id"] for a in ARTICLES} - removed:
        assert index.ask(QUESTIONS[article_id], as_of=FAR_LATER).hits[0].article.article_id == article_id
    check_consistent(index)
    assert index.store.generation() == generation + (1 if removed else 0)
    index.close()


@pytest.mark.parametrize("bound", ["2020", "March 2020", "soon"])
def test_remove_refuses_a_bound_that_is_no_date(index_dir: Path, bound: str) -> None:
    index = NewsIndex.open(index_dir)
    with pytest.raises(RagError, match="must be a date"):
        index.remove(until=bound)
    assert stored_ids(index_dir) == {a["id"] for a in ARTICLES}
    index.close()


def test_a_reader_stops_citing_what_another_process_removed(index_dir: Path) -> None:
    reader = NewsIndex.open(index_dir)
    assert "g1" in cited_ids(reader, QUESTIONS["g1"])
    assert main(["remove", "--id", "g1", "--index", str(index_dir)]) == 0
    assert_gone(reader, "g1")  # no restart: ask() refreshes
    check_consistent(reader)
    reader.close()


def test_a_changed_article_replaces_its_passages(index_dir: Path, tmp_path: Path) -> None:
    index = NewsIndex.open(index_dir)
    old_pids = {r[0] for r in index.store.query("SELECT passage_id FROM passages WHERE article_id = 'w1'")}
    changed = dict(ARTICLES[0], text="Correction: the Zorvik dam opening was postponed to May because of a crack "
                                     "found in the spillway by the inspectors.")
    report = index.ingest([write_jsonl(tmp_path / "update.jsonl", [changed])])
    assert (report.added, report.replaced, report.unchanged) == (0, 1, 0)
    rows = index.store.query("SELECT passage_id, text FROM passages WHERE article_id = 'w1'")
    assert rows and not old_pids & {r[0] for r in rows}
    assert all("80,000" not in text for _, text in rows)
    (count,) = index.store.query("SELECT COUNT(*) FROM articles WHERE article_id = 'w1'")[0]
    assert count == 1
    hit = index.ask("Why was the Zorvik dam opening postponed?", as_of=FAR_LATER).hits[0]
    assert hit.article.article_id == "w1" and "spillway" in hit.passage.text
    # The old text is nowhere: not in the full-text index and not among the vectors.
    assert not index.store.lexical_search(LexicalQuery(("80,000",)), 10)
    _, ids = index.backend.vectors.search(index.embedder.embed(["water for 80,000 people"]), 100)
    assert not old_pids & {int(i) for i in ids[0]}
    check_consistent(index)
    index.close()


def test_removed_article_comes_back_when_ingested_again(index_dir: Path, tmp_path: Path) -> None:
    index = NewsIndex.open(index_dir)
    assert index.remove(article_ids=["g2"]) == ["g2"]
    report = index.ingest([write_jsonl(tmp_path / "again.jsonl", ARTICLES)])
    assert (report.added, report.unchanged) == (1, len(ARTICLES) - 1)
    assert report.cache_hits > 0 and report.embedded == 0  # its vectors come from the embedding cache
    assert index.ask(QUESTIONS["g2"], as_of=FAR_LATER).hits[0].article.article_id == "g2"
    check_consistent(index)
    index.close()


def test_remove_everything_then_ask(index_dir: Path) -> None:
    index = NewsIndex.open(index_dir)
    assert len(index.remove(article_ids=[a["id"] for a in ARTICLES])) == len(ARTICLES)
    answer = index.ask("What opened in Zorvik?")
    assert answer.abstained and not answer.hits and not answer.sources
    assert len(index.backend.vectors) == 0 and index.stats()["passages"] == 0
    index.close()
    reopened = NewsIndex.open(index_dir)  # an empty vector file loads again
    assert len(reopened.backend.vectors) == 0
    reopened.close()


# --- `newsrag remove` --------------------------------------------------------------------------------------
def test_cli_remove_by_each_criterion(index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--index", str(index_dir)]
    assert main(["remove", "--id", "w1", *base]) == 0
    assert capsys.readouterr().out.strip() == "removed 1 article: w1"
    assert main(["remove", "--url", "https://wire.example/quellberg-tram", *base]) == 0
    assert capsys.readouterr().out.strip() == "removed 1 article: w2"
    assert main(["remove", "--source", "Gazette", "--until", "2020-12-31", *base]) == 0
    assert capsys.readouterr().out.strip() == "removed 1 article: g1"
    assert main(["remove", "--since", "2021-01-01", *base]) == 0
    assert capsys.readouterr().out.strip() == "removed 1 article: g2"
    assert main(["remove", "--source", "Wire", *base]) == 0
    assert capsys.readouterr().out.strip() == "removed 0 articles"
    assert stored_ids(index_dir) == {"n1"}
    index = NewsIndex.open(index_dir)
    for article_id in ("w1", "w2", "g1", "g2"):
        assert_gone(index, article_id)
    check_consistent(index)
    index.close()


@pytest.mark.parametrize(("args", "message"), [
    ([], "newsrag: error: say what to remove: --id, --url, --source, --since and/or --until"),
    (["--url", ""], "newsrag: error: say what to remove: --id, --url, --source, --since and/or --until"),
    (["--until", "2020"], "newsrag: error: until must be a date such as 2019-12-14; got '2020'"),
])
def test_cli_remove_refuses_unclear_criteria(index_dir: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                                             message: str) -> None:
    assert main(["remove", *args, "--index", str(index_dir)]) == 2
    assert capsys.readouterr().err.strip() == message
    assert stored_ids(index_dir) == {a["id"] for a in ARTICLES}


def test_cli_remove_on_a_missing_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["remove", "--id", "x", "--index", str(tmp_path / "nothing")]) == 2
    assert "no index at" in capsys.readouterr().err
    assert not (tmp_path / "nothing").exists()


def test_vectors_of_removed_passages_are_not_in_a_rebuilt_index(index_dir: Path) -> None:
    """After a removal, a rebuild from SQLite (e.g. after a crash) must not bring removed vectors back."""
    index = NewsIndex.open(index_dir)
    index.remove(sources=["Wire"])
    index.close()
    manifest = json.loads((index_dir / "manifest.json").read_text())
    (index_dir / manifest["vector_file"]).unlink()
    index = NewsIndex.open(index_dir)
    assert_gone(index, "w1")
    assert_gone(index, "w2")
    check_consistent(index)
    assert np.isin(faiss.vector_to_array(index.backend.vectors.index.id_map),
                   [r[0] for r in index.store.query("SELECT passage_id FROM passages")]).all()
    index.close()


def test_removing_the_original_of_copies_loses_no_story(tmp_path: Path) -> None:
    """A copy (same text, another id) holds no passages. Once its original is removed, ingesting either of them
    again must make the story retrievable, not turn it into a copy of a copy that nobody can find."""
    text = "The river Marrow flooded the lower town on Sunday. Two hundred homes were evacuated by boat."
    original = write_jsonl(tmp_path / "a.jsonl", [{"id": "A", "title": "Flood", "text": text}])
    copy = write_jsonl(tmp_path / "b.jsonl", [{"id": "B", "title": "Flood (wire copy)", "text": text}])
    index = NewsIndex.open(tmp_path / "index", create=True, embedder=HashEmbedder(256))
    index.ingest([original])
    assert index.ingest([copy]).duplicates == 1
    assert index.ingest([copy]).unchanged == 1
    hits = index.ask("Where did the river Marrow flood?", as_of=FAR_LATER).hits
    assert [(h.article.article_id, h.copies) for h in hits] == [("A", ("B",))]

    assert index.remove(article_ids=["A"]) == ["A"]
    report = index.ingest([original])
    assert (report.added, report.duplicates) == (1, 0)
    hits = index.ask("Where did the river Marrow flood?", as_of=FAR_LATER).hits
    assert [h.article.article_id for h in hits] == ["A"]

    assert index.remove(article_ids=["A"]) == ["A"]
    report = index.ingest([copy])  # the copy, unchanged, now gets passages of its own
    assert (report.replaced, report.unchanged) == (1, 0)
    hits = index.ask("Where did the river Marrow flood?", as_of=FAR_LATER).hits
    assert [(h.article.article_id, h.copies) for h in hits] == [("B", ())]
    check_consistent(index)
    index.close()
