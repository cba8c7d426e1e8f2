"""``newsrag copy``: an index moved to another place (and, in test_postgres_backend.py, to PostgreSQL and back)
holds the same articles, passages, vectors, story groups, raw hashes and followed sources, and answers alike."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import SEED

from rag.backends.copy import copy_index
from rag.cli import main
from rag.errors import RagError
from rag.follow.state import FollowState, SourceState
from rag.pipeline import NewsIndex

QUESTIONS = ("When will the S-400 systems be fully installed in Turkey?", "Who founded LibriVox?",
             "What happened in Mecca?")


def snapshot(index: NewsIndex) -> dict:
    """Everything ``copy`` must carry, keyed by article id (passage ids may differ)."""
    out = {}
    for batch in index.store.export_articles():
        for a in batch:
            vectors = index.store.cached_vectors(index.model_name, [h for h in a.embed_hashes if h])
            out[a.article.article_id] = (
                a.article, a.text_hash, a.group_id, a.signature, round(a.added_at, 3), a.raw_hashes,
                [(p.ordinal, p.start, p.end, p.text) for p in a.passages],
                [vectors[h].round(6).tobytes() if h else None for h in a.embed_hashes])
    return out


def answers(index: NewsIndex) -> list[tuple[str, list[str]]]:
    out = []
    for q in QUESTIONS:
        answer = index.ask(q, as_of="2020-01-01")
        out.append((answer.text, [(h.article.article_id, h.passage.ordinal) for h in answer.hits]))
    return out


def assert_same_index(a: NewsIndex, b: NewsIndex) -> None:
    assert snapshot(a) == snapshot(b)
    assert {k: v for k, v in a.stats().items() if k not in ("index_dir", "size_bytes", "generation")} == \
        {k: v for k, v in b.stats().items() if k not in ("index_dir", "size_bytes", "generation")}
    assert answers(a) == answers(b)
    assert [s.url for s in FollowState(a.store).all()] == [s.url for s in FollowState(b.store).all()]


def test_a_copied_index_holds_and_answers_the_same(demo_index, real_embedder, tmp_path: Path) -> None:  # noqa: ANN001
    FollowState(demo_index.store).put(SourceState("https://example.org/feed.xml", etag='"v1"', errors=2))
    dst = NewsIndex.open(tmp_path / "copy", create=True, embedder=real_embedder)
    try:
        seen: list[int] = []
        report = copy_index(demo_index, dst, lambda articles, _passages: seen.append(articles))
        assert report.articles == demo_index.stats()["articles"] == sum(seen)
        assert report.vectors == demo_index.stats()["dense_passages"] and report.followed_sources == 1
        assert_same_index(demo_index, dst)
        assert FollowState(dst.store).get("https://example.org/feed.xml").etag == '"v1"'
        # What was embedded in the source is not embedded again when its articles come back.
        assert dst.ingest([str(SEED)]).embedded == 0
    finally:
        dst.close()
    reopened = NewsIndex.open(tmp_path / "copy", embedder=real_embedder)  # the FAISS file was saved with it
    try:
        assert len(reopened.backend.vectors) == demo_index.stats()["dense_passages"]
    finally:
        reopened.close()


def test_duplicates_and_groups_survive_the_copy(hash_index, tmp_path: Path) -> None:  # noqa: ANN001
    text = SEED.read_text(encoding="utf-8")
    corpus = tmp_path / "dupes.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in (
        {"id": "a", "title": "S-400 deal", "text": text, "published": "2019-12-14"},
        {"id": "b", "title": "S-400 deal (copy)", "text": text, "published": "2019-12-15"},
        {"id": "c", "title": "S-400 deal, updated", "text": text + " An update followed on Monday.",
         "published": "2019-12-16"})), encoding="utf-8")
    report = hash_index.ingest([str(corpus)])
    assert report.added == 2 and report.duplicates == 1 and report.near_duplicates == 1
    dst = NewsIndex.open(tmp_path / "copy", create=True, embedder=hash_index.embedder)
    try:
        copy_index(hash_index, dst)
        assert snapshot(dst) == snapshot(hash_index)
        assert dst.store.article_passages("b") == []  # still a copy, without passages of its own
        assert dst.store.group_members([dst.store.article_infos(["c"])["c"].group_id]) == \
            hash_index.store.group_members([hash_index.store.article_infos(["c"])["c"].group_id])
        # The raw hashes came along: the same file is skipped unread.
        assert dst.ingest([str(corpus)]).raw_unchanged == 3
    finally:
        dst.close()


def test_copy_refuses_a_destination_that_holds_articles(demo_index, real_embedder, tmp_path: Path) -> None:  # noqa: ANN001
    dst = NewsIndex.open(tmp_path / "busy", create=True, embedder=real_embedder)
    dst.ingest([str(SEED)])
    before = dst.stats()["articles"]
    with pytest.raises(RagError, match=r"busy already holds 1 article: copy into an empty index"):
        copy_index(demo_index, dst)
    assert dst.stats()["articles"] == before  # nothing half-copied
    dst.close()


def test_the_copy_command(demo_index_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["copy", str(demo_index_dir), str(tmp_path / "copy")]) == 0
    out = capsys.readouterr().out
    assert "copied 44 articles" in out and str(tmp_path / "copy") in out
    src, dst = NewsIndex.open(demo_index_dir), NewsIndex.open(tmp_path / "copy")
    try:
        assert np.isclose(src.stats()["passages"], dst.stats()["passages"])
        assert snapshot(src) == snapshot(dst)
    finally:
        src.close()
        dst.close()
    assert main(["copy", str(tmp_path / "nothing-here"), str(tmp_path / "other")]) == 2
    assert "no index at" in capsys.readouterr().err
