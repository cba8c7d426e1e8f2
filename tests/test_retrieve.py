"""Retrieval: dates, filters, stories and modes, on small indexes with the hashing embedder."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from rag.backends.base import LexicalQuery
from rag.dates import question_dates
from rag.pipeline import NewsIndex
from rag.retrieve import Query, retrieve

FLOOD = "Heavy rain flooded the river Marrow valley and {n} homes were evacuated by boat in {place}."


def _articles(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "articles.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def floods(hash_index: NewsIndex, tmp_path: Path) -> NewsIndex:
    rows = [
        {"id": "old", "title": "Marrow floods", "published": "2015-03-02", "source": "Valley Post",
         "text": FLOOD.format(n=200, place="Lowtown") + " The mayor blamed the dam."},
        {"id": "new", "title": "Marrow floods again", "published": "2022-06-10", "source": "Daily Wire",
         "text": FLOOD.format(n=900, place="Hightown") + " Engineers inspected the levee on Friday."},
        {"id": "future", "title": "Marrow floods a third time", "published": "2023-01-05", "source": "Daily Wire",
         "text": FLOOD.format(n=50, place="Midtown") + " Volunteers filled sandbags overnight."},
        {"id": "undated", "title": "Marrow flood history", "source": "Archive",
         "text": FLOOD.format(n=10, place="Oldtown") + " Records go back two centuries."},
        {"id": "other", "title": "Election results", "published": "2022-06-09", "source": "Daily Wire",
         "text": "The council election was won by the Green party with a narrow majority of votes."},
    ]
    hash_index.ingest([_articles(tmp_path, rows)])
    return hash_index


def _ids(index: NewsIndex, text: str, **kw) -> list[str]:  # noqa: ANN003
    return [h.article.article_id for h in retrieve(index, Query.make(text, **kw))]


def test_articles_after_as_of_are_never_evidence(floods: NewsIndex) -> None:
    ids = _ids(floods, "How many homes were evacuated after the Marrow floods?", as_of="2022-12-31")
    assert "future" not in ids and {"old", "new", "undated"} <= set(ids)
    assert "future" in _ids(floods, "How many homes were evacuated after the Marrow floods?", as_of="2023-02-01")


def test_a_period_in_the_question_favours_articles_inside_it(floods: NewsIndex) -> None:
    ids = _ids(floods, "How many homes were evacuated in the Marrow floods in 2015?", as_of="2022-12-31")
    assert ids[0] == "old"
    ids = _ids(floods, "How many homes were evacuated in the Marrow floods in June 2022?", as_of="2022-12-31")
    assert ids[0] == "new"


def test_recent_questions_favour_articles_just_before_as_of(floods: NewsIndex) -> None:
    assert _ids(floods, "How many homes were recently evacuated in the Marrow floods?", as_of="2022-06-12")[0] == "new"


def test_source_and_date_filters(floods: NewsIndex) -> None:
    q = "How many homes were evacuated after the Marrow floods?"
    assert set(_ids(floods, q, as_of="2024-01-01", sources=["Daily Wire"])) <= {"new", "future", "other"}
    since = _ids(floods, q, as_of="2024-01-01", since="2022-01-01", until="2022-12-31")
    assert "new" in since and not {"old", "future", "undated"} & set(since)


def test_undated_articles_are_kept_and_ranked_on_content(floods: NewsIndex) -> None:
    # Every headline here names the Marrow floods, and the shortest one ranks first on its headline; without the
    # headline ranking, content alone decides.
    floods.settings = replace(floods.settings, retrieve=replace(floods.settings.retrieve, headline_weight=0.0))
    ids = _ids(floods, "What do the Marrow flood records going back two centuries show?", as_of="2022-12-31")
    assert ids[0] == "undated"


def test_headlines_are_ranked_once_an_article_and_removed_with_it(floods: NewsIndex) -> None:
    found = floods.store.lexical_search(LexicalQuery(("election",)), 10, headlines=True)
    leads = floods.store.query("SELECT passage_id FROM passages WHERE article_id = 'other' AND ordinal = 0")
    assert [pid for pid, _ in found] == [leads[0][0]]
    assert len(floods.store.lexical_search(LexicalQuery(("marrow",)), 10, headlines=True)) == 4
    floods.remove(article_ids=["other"])
    assert floods.store.lexical_search(LexicalQuery(("election",)), 10, headlines=True) == []
    ids = _ids(floods, "Who won the council election?", as_of="2022-12-31")
    assert "other" not in ids


def test_near_duplicates_are_one_story_with_every_copy_citable(hash_index: NewsIndex, tmp_path: Path) -> None:
    body = ("The city council of Velmora approved a new tram line on Tuesday after a long debate. The line will "
            "link the harbour with the university and the central station, and construction starts next spring. "
            "Opponents said the cost of 40 million euros was too high for a city of its size.")
    rows = [{"id": "wire", "title": "Velmora approves tram", "published": "2022-03-01", "text": body},
            {"id": "copy", "title": "Velmora tram approved", "published": "2022-03-01",
             "text": body + " Updated with the mayor's comment."},
            {"id": "else", "title": "Tram fares", "published": "2022-03-02",
             "text": "Tram fares in Velmora rise by ten cents in April, the transport company said."}]
    report = hash_index.ingest([_articles(tmp_path, rows)])
    assert report.near_duplicates == 1
    hits = retrieve(hash_index, Query.make("What did the Velmora council approve?", as_of="2022-12-31"))
    stories = [h.article.article_id for h in hits]
    assert stories.count("wire") + stories.count("copy") == 1
    top = hits[0]
    assert {top.article.article_id, *top.copies} == {"wire", "copy"}
    # The ablation: without grouping, the copy is a story of its own and nothing is listed as a copy.
    hash_index.settings = replace(hash_index.settings, retrieve=replace(hash_index.settings.retrieve,
                                                                        group_stories=False))
    hits = retrieve(hash_index, Query.make("What did the Velmora council approve?", as_of="2022-12-31"))
    assert {"wire", "copy"} <= {h.article.article_id for h in hits} and not any(h.copies for h in hits)


def test_lexical_and_dense_modes_are_baselines_of_the_same_index(floods: NewsIndex) -> None:
    for mode in ("lexical", "dense"):
        floods.settings = replace(floods.settings, retrieve=replace(floods.settings.retrieve, mode=mode))
        hits = retrieve(floods, Query.make("Which party won the council election?", as_of="2022-12-31"))
        assert hits[0].article.article_id == "other"
        assert all((h.dense_rank is None) == (mode == "lexical") for h in hits)
    with pytest.raises(ValueError, match="Invalid retrieval mode"):
        replace(floods.settings.retrieve, mode="magic")


def test_question_dates_become_windows_relative_to_as_of() -> None:
    as_of = date(2022, 6, 16)
    january = question_dates("What happened in January 2006?", as_of)
    assert (january.since, january.until) == (date(2006, 1, 1), date(2006, 1, 31))
    year = question_dates("Who won in 2015?", as_of)
    assert (year.since, year.until) == (date(2015, 1, 1), date(2015, 12, 31))
    last_week = question_dates("What did the council decide last week?", as_of)
    assert last_week.until == as_of and last_week.since < as_of and last_week.recent
    assert question_dates("What happened yesterday?", as_of).since == date(2022, 6, 15)
    assert question_dates("Which show was recently renewed?", as_of).recent
    assert not question_dates("Which show was renewed?", as_of).recent


def test_an_index_without_the_headline_table_gets_it_filled_once(floods: NewsIndex) -> None:
    from rag.backends.local.store import SqliteStore as Store

    path, generation = floods.store.path, floods.store.generation()
    with floods.store.transaction() as db:
        db.execute("DELETE FROM titles_fts")  # as an index made before the table has it: empty
    generation += 1
    reopened = Store(path)
    assert reopened.query("SELECT COUNT(*) FROM titles_fts") == [(5,)]
    assert reopened.generation() == generation  # filling it is no change readers must reload for
    reopened.close()
