"""End to end with the real model: the seed article answers when the S-400s will be fully installed."""

from __future__ import annotations

import json

import pytest

from rag.embed import HashEmbedder
from rag.errors import IndexMismatchError, IndexMissingError, QuestionError
from rag.pipeline import NewsIndex
from tests.conftest import SEED, WIKINEWS

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def seed_index(tmp_path_factory, real_embedder):  # noqa: ANN001, ANN201
    index = NewsIndex.open(tmp_path_factory.mktemp("seed") / "index", create=True, embedder=real_embedder)
    report = index.ingest([str(SEED)])
    assert report.added == 1 and report.passages > report.embedded == 1  # the headline and lead get a vector
    return index


def test_seed_question_says_april_and_cites_the_seed(seed_index: NewsIndex) -> None:
    answer = seed_index.ask("When will the S-400 systems be fully installed in Turkey?")
    assert not answer.abstained
    lead = answer.text.split("[1]")[0]
    assert "April" in lead
    assert answer.sources[0].title.startswith("Russia and Turkey will start joint production of S-400")
    assert answer.sources[0].published == "2019-12-14" and answer.sources[0].source == "Sputnik"
    cited = answer.citations[0]
    assert cited.sentence in answer.sources[0].passage
    a, b = answer.sources[0].highlight
    assert "fully installed" in answer.sources[0].passage[a:b]


def test_every_marker_points_at_a_passage_holding_its_sentence(demo_index: NewsIndex) -> None:
    for question in ["How many people died in the crane collapse in Mecca?", "Who founded LibriVox?",
                     "What did Ismail Demir say about the Patriot?"]:
        answer = demo_index.ask(question)
        by_marker = {s.marker: s for s in answer.sources}
        for c in answer.citations:
            assert c.sentence in by_marker[c.marker].passage
        for marker in {int(m) for m in __import__("re").findall(r"\[(\d+)\]", answer.text)}:
            assert marker in by_marker


def test_he_after_a_who_question_is_the_person_its_answer_named(demo_index: NewsIndex) -> None:
    answer = demo_index.ask("When was he interviewed?", history=["Who founded LibriVox?"])
    assert answer.search_query == "When was Hugh McGuire interviewed?"
    assert "28 May 2006" in answer.text
    # Not after a question that named its subject: "he" is the one it named.
    answer = demo_index.ask("When was he interviewed?", history=["What did Noam Chomsky say about Obama?"])
    assert answer.search_query == "When was Noam Chomsky interviewed?"


def test_reingest_adds_nothing_and_embeds_nothing(demo_index: NewsIndex) -> None:
    before = demo_index.stats()
    report = demo_index.ingest([str(WIKINEWS), str(SEED)])
    assert report.added == 0 and report.embedded == 0 and report.unchanged == before["articles"]
    assert demo_index.stats()["passages"] == before["passages"]


def test_model_mismatch_is_refused_with_a_message(demo_index_dir) -> None:  # noqa: ANN001
    with pytest.raises(IndexMismatchError, match="all-MiniLM-L6-v2"):
        NewsIndex.open(demo_index_dir, embedder=HashEmbedder(64))


def test_missing_index_says_how_to_make_one(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(IndexMissingError, match="newsrag ingest"):
        NewsIndex.open(tmp_path / "nothing")


def test_manifest_records_model_dimension_and_counts(demo_index_dir) -> None:  # noqa: ANN001
    manifest = json.loads((demo_index_dir / "manifest.json").read_text())
    assert manifest["model"] == "all-MiniLM-L6-v2" and manifest["dim"] == 384
    assert manifest["articles"] == 44 == manifest["vectors"] and manifest["passages"] > 200
    assert (demo_index_dir / manifest["vector_file"]).exists()


def test_empty_and_huge_questions_are_refused(demo_index: NewsIndex) -> None:
    with pytest.raises(QuestionError, match="empty"):
        demo_index.ask("   ")
    with pytest.raises(QuestionError, match="characters"):
        demo_index.ask("why " * 3000)


def test_an_index_opened_in_a_with_block_is_closed_after_it(tmp_path) -> None:  # noqa: ANN001
    with NewsIndex.open(tmp_path / "index", create=True, embedder=HashEmbedder(64)) as index:
        index.ingest([str(SEED)])
        assert index.store.counts()["articles"] == 1
    with pytest.raises(Exception, match="closed"):
        index.store.counts()
    with NewsIndex.open(tmp_path / "index", embedder=HashEmbedder(64)) as again:  # what it wrote is there
        assert again.store.counts()["articles"] == 1
