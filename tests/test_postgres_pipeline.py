"""The whole pipeline on PostgreSQL + pgvector (a real primary and hot standby from tests/cluster.py): the same
answers as the local backend, an index copied there and back unchanged, several processes on one database, a
writer killed mid-ingest, and questions answered by the standby while the primary restarts."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import ROOT
from test_copy import QUESTIONS, answers, assert_same_index, snapshot
from test_reliability import make_corpus, write_jsonl

from rag.backends.copy import copy_index
from rag.embed import HashEmbedder
from rag.errors import IndexMissingError
from rag.pipeline import NewsIndex

pytestmark = pytest.mark.postgres


def fresh_database(pg_cluster, multi: bool = False) -> str:  # noqa: ANN001
    """The URL of a new, empty database on the cluster (the standby replicates it too)."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_cluster.primary_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    base = pg_cluster.multi_url if multi else pg_cluster.primary_url
    return base.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def pg_demo(pg_cluster, demo_index, real_embedder):  # noqa: ANN001, ANN201
    """The demo index copied into a fresh database."""
    index = NewsIndex.open(fresh_database(pg_cluster), create=True, embedder=real_embedder)
    copy_index(demo_index, index)
    yield index
    index.close()


def test_a_url_without_an_index_says_so(pg_cluster) -> None:  # noqa: ANN001
    url = fresh_database(pg_cluster)
    with pytest.raises(IndexMissingError, match="no index at postgresql://"):
        NewsIndex.open(url)


def test_postgres_answers_as_the_local_backend_does(pg_demo, demo_index) -> None:  # noqa: ANN001
    local, remote = answers(demo_index), answers(pg_demo)
    # The seed question: the same answer, from the same passage. (Lower ranks may swap: BM25 on PostgreSQL is
    # computed from the matching rows' term frequencies, and document counts can differ from FTS5's in ties.)
    assert remote[0][0] == local[0][0] and remote[0][1][0] == local[0][1][0]
    assert pg_demo.ask(QUESTIONS[0], as_of="2020-01-01").short_answer == "April 2020"
    for (text, hits), (local_text, local_hits) in zip(remote, local, strict=True):
        assert hits[0][0] == local_hits[0][0]  # the same top article
        assert bool(text) and bool(local_text)


def test_local_to_postgres_and_back_is_lossless(pg_demo, demo_index, real_embedder, tmp_path: Path) -> None:  # noqa: ANN001
    assert snapshot(pg_demo) == snapshot(demo_index)
    back = NewsIndex.open(tmp_path / "back", create=True, embedder=real_embedder)
    try:
        copy_index(pg_demo, back)
        assert_same_index(demo_index, back)
    finally:
        back.close()


def test_an_article_written_through_one_process_is_answered_by_another(pg_cluster, tmp_path: Path) -> None:  # noqa: ANN001
    url = fresh_database(pg_cluster)
    writer = NewsIndex.open(url, create=True, embedder=HashEmbedder(256))
    reader = None
    try:
        writer.ingest([write_jsonl(tmp_path / "a.jsonl", make_corpus(3, "a"))])
        reader = NewsIndex.open(url, embedder=HashEmbedder(256))
        assert reader.ask("What happened in Velmoraa1?", as_of="2030-01-01").hits[0].article.article_id == "a-1"
        writer.ingest([write_jsonl(tmp_path / "b.jsonl", make_corpus(2, "b"))])
        # No reopening: the reader sees the new generation on its next question.
        assert reader.ask("What happened in Velmorab1?", as_of="2030-01-01").hits[0].article.article_id == "b-1"
    finally:
        writer.close()
        if reader is not None:
            reader.close()


def _ingest_cli(jsonl: Path, url: str) -> list[str]:
    return [sys.executable, "-m", "rag.cli", "ingest", str(jsonl), "--index", url, "--model", "hash-256", "--quiet"]


def test_a_writer_killed_mid_ingest_loses_nothing_committed(pg_cluster, tmp_path: Path) -> None:  # noqa: ANN001
    jsonl = write_jsonl(tmp_path / "wire.jsonl", make_corpus(400))
    reference = NewsIndex.open(tmp_path / "reference", create=True, embedder=HashEmbedder(256))
    reference.ingest([jsonl])
    url = fresh_database(pg_cluster)
    proc = subprocess.Popen(_ingest_cli(jsonl, url), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    watcher = None
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                watcher = watcher or NewsIndex.open(url, embedder=HashEmbedder(256))
                if watcher.store.counts()["articles"] >= 64:  # at least one batch committed
                    break
            except IndexMissingError:
                pass
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert watcher is not None
    committed = watcher.store.counts()["articles"]
    assert 64 <= committed < 400 and committed % 64 == 0  # whole batches only
    assert watcher.store.counts()["passages"] == sum(len(a.passages) for b in watcher.store.export_articles()
                                                     for a in b)
    watcher.close()
    done = subprocess.run(_ingest_cli(jsonl, url), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    again = NewsIndex.open(url, embedder=HashEmbedder(256))
    try:
        assert snapshot_rows(again) == snapshot_rows(reference)  # nothing lost, nothing twice
        assert again.stats()["dense_passages"] == reference.stats()["dense_passages"]
        assert again.ask("What happened in Velmoraart399?", as_of="2030-01-01").hits[0].article.article_id == "art-399"
    finally:
        again.close()
        reference.close()


def snapshot_rows(index: NewsIndex) -> list[tuple]:
    """Articles and their passages, without the times they were added."""
    return sorted((aid, row[0].title, tuple(row[6])) for aid, row in snapshot(index).items())


def test_the_standby_answers_while_the_primary_restarts(pg_cluster, tmp_path: Path) -> None:  # noqa: ANN001
    url = fresh_database(pg_cluster, multi=True)
    writer = NewsIndex.open(url, create=True, embedder=HashEmbedder(256))
    writer.ingest([write_jsonl(tmp_path / "a.jsonl", make_corpus(5, "s"))])
    writer.close()
    index = NewsIndex.open(url, embedder=HashEmbedder(256))
    deadline = time.monotonic() + 30  # the standby replays the write within moments
    while index.store.counts()["articles"] < 5 and time.monotonic() < deadline:
        time.sleep(0.2)
    pg_cluster.stop_primary()
    try:
        answer = index.ask("What happened in Velmoras3?", as_of="2030-01-01")
        assert answer.hits[0].article.article_id == "s-3" and not answer.abstained
    finally:
        pg_cluster.start_primary()
    writer = NewsIndex.open(url, embedder=HashEmbedder(256))  # writes reach the primary again
    try:
        assert writer.ingest([write_jsonl(tmp_path / "b.jsonl", make_corpus(1, "t"))]).added == 1
    finally:
        writer.close()
        index.close()


@pytest.mark.parametrize("question", QUESTIONS[:1])
def test_the_cli_asks_postgres(pg_demo, question: str) -> None:  # noqa: ANN001
    out = subprocess.run([sys.executable, "-m", "rag.cli", "ask", question, "--as-of", "2020-01-01", "--index",
                          pg_demo.location], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "April 2020" in out.stdout


def test_retention_by_age_works_and_by_size_is_refused(pg_cluster, tmp_path: Path) -> None:  # noqa: ANN001
    from rag.errors import RagError
    from rag.follow.retention import apply_retention
    from rag.follow.sources import Keep

    index = NewsIndex.open(fresh_database(pg_cluster), create=True, embedder=HashEmbedder(256))
    try:
        index.ingest([write_jsonl(tmp_path / "a.jsonl", make_corpus(24, "r"))])  # published 2021-01 .. 2021-12
        with pytest.raises(RagError, match="--keep with a size works on a local index directory only"):
            apply_retention(index, Keep(max_bytes=1))
        assert index.stats()["articles"] == 24  # nothing went
        now = time.mktime(time.strptime("2021-12-31", "%Y-%m-%d"))
        done = apply_retention(index, Keep(max_age_s=100 * 86400), now=now)  # keeps 2021-09-22 onwards
        kept = [a.article.published for b in index.store.export_articles() for a in b]
        assert done.removed == 24 - len(kept) > 0 and min(kept) >= "2021-09-22"
        assert index.ask("What happened in Velmorar11?", as_of="2030-01-01").hits[0].article.article_id == "r-11"
    finally:
        index.close()
