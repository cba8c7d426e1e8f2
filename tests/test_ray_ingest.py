"""Distributed ingest with Ray (issue #20): on the two-node cluster of tests/cluster.py, a Ray ingest gives the
index a local ingest gives (articles, passages, groups, vectors), both nodes embed, and an interrupted run run
again adds each article once, reusing the vectors it had cached. Without a cluster: the workers' split is the
local one, and a missing Ray or a dead address fails with a clear message."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from conftest import WIKINEWS

from rag import indexer
from rag.bench.ray_ingest import differences, fingerprint
from rag.chunk import chunk_article
from rag.cli import main
from rag.config import ChunkSettings
from rag.distributed import ray_ingest
from rag.distributed.stages import article_row, split_batch
from rag.embed import HashEmbedder
from rag.errors import RagError
from rag.indexer import embed_key, embed_text
from rag.ingest import read_inputs
from rag.pipeline import NewsIndex
from rag.types import Article


@pytest.fixture(scope="module")
def ray_address(request: pytest.FixtureRequest) -> str:
    """The address of the session's two-node Ray cluster (the ``ray_cluster`` fixture of tests/cluster.py), or
    of one named by NEWSRAG_TEST_RAY_ADDRESS."""
    pytest.importorskip("ray")
    try:
        return request.getfixturevalue("ray_cluster").address
    except pytest.FixtureLookupError:
        address = os.environ.get("NEWSRAG_TEST_RAY_ADDRESS")
        if not address:
            pytest.skip("no ray_cluster fixture and no NEWSRAG_TEST_RAY_ADDRESS")
        return address


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """Ten Wikinews articles and a copy of the first under another id (a duplicate the write path must catch)."""
    records = [json.loads(line) for line in WIKINEWS.read_text(encoding="utf-8").splitlines()[:10]]
    records.append({**records[0], "id": "copy-of-the-first"})
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


# --- without a cluster ---------------------------------------------------------------------------------------
def test_workers_split_as_the_write_path_does() -> None:
    articles = [a for a in read_inputs([WIKINEWS]) if isinstance(a, Article)][:6]
    chunk = ChunkSettings()
    rows = [article_row(key, a) for key, a in enumerate(articles)]
    batch = {name: [r[name] for r in rows] for name in rows[0]}
    out = split_batch(batch, chunk, dense_passages=2)
    for key, article in enumerate(articles):
        mine = [i for i, k in enumerate(out["key"]) if k == key]
        expected = chunk_article(article, chunk)
        assert [(out["ordinal"][i], out["start"][i], out["end"][i]) for i in mine] == \
            [(p.ordinal, p.start, p.end) for p in expected]
        assert [out["embed_hash"][i] for i in mine] == \
            [embed_key(embed_text(article, p)) if p.ordinal < 2 else "" for p in expected]


def test_windows_cut_after_so_many_articles_and_keep_problems_in_place() -> None:
    items = list(read_inputs([WIKINEWS, "/no/such/file.jsonl"]))
    windows = list(ray_ingest._windows(items, 4, [0.0]))
    assert [x for w in windows for x in w] == items
    assert [sum(isinstance(x, Article) for x in w) for w in windows][:-1] == [4] * (len(windows) - 1)


def test_a_dead_address_is_a_clear_error(hash_index: NewsIndex, corpus: Path) -> None:
    pytest.importorskip("ray")
    with pytest.raises(RagError, match=r"no Ray cluster answers at 127\.0\.0\.1:9"):
        hash_index.ingest([corpus], ray_address="127.0.0.1:9")
    with pytest.raises(RagError, match="as HOST:PORT"):
        hash_index.ingest([corpus], ray_address="head-node")
    assert hash_index.store.counts()["articles"] == 0


def test_cli_without_ray_names_the_install_command(monkeypatch: pytest.MonkeyPatch, corpus: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    code = main(["ingest", str(corpus), "--index", str(tmp_path / "i"), "--model", "hash-64", "--quiet",
                 "--ray", "127.0.0.1:9"])
    assert code == 2
    assert "distributed ingest needs Ray: pip install 'newsrag[ray]'" in capsys.readouterr().err


# --- on the two-node cluster ---------------------------------------------------------------------------------
@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.model
def test_ray_ingest_gives_the_local_index(ray_address: str, corpus: Path, tmp_path: Path, real_embedder,  # noqa: ANN001
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ray_ingest, "WINDOW_ARTICLES", 6)  # two windows
    local = NewsIndex.open(tmp_path / "local", create=True, embedder=real_embedder)
    local_report = local.ingest([corpus])
    # The model's name only: the driver never loads torch, the workers load the model from its package.
    remote = NewsIndex.open(tmp_path / "ray", create=True)
    report = remote.ingest([corpus], ray_address=ray_address)

    assert differences(fingerprint(local), fingerprint(remote)) == []
    assert (report.added, report.duplicates, report.passages) == (local_report.added, 1, local_report.passages)
    assert report.embedded == local_report.embedded == 10
    assert len(report.embedded_on) == 2 and all(n > 0 for n in report.embedded_on.values()), report.embedded_on
    assert not remote.embedder.torch_loaded
    local.close()
    remote.close()


@pytest.mark.ray
@pytest.mark.slow
def test_an_interrupted_ray_ingest_run_again_adds_each_article_once(ray_address: str, corpus: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(ray_ingest, "WINDOW_ARTICLES", 5)
    monkeypatch.setattr(indexer, "BATCH_ARTICLES", 2)  # the write path commits every 2 articles

    def stop(kind: str, articles: int, passages: int) -> None:
        raise KeyboardInterrupt  # Ctrl-C after the first commit: 2 articles stored, 3 embedded and cached

    remote = NewsIndex.open(tmp_path / "ray", create=True, embedder=HashEmbedder(256))
    with pytest.raises(KeyboardInterrupt):
        remote.ingest([corpus], stop, ray_address=ray_address)
    assert remote.store.counts()["articles"] == 2
    again = remote.ingest([corpus], ray_address=ray_address)
    assert (again.raw_unchanged, again.added, again.duplicates) == (2, 8, 1)
    assert (again.cache_hits, again.embedded) == (3, 5)  # the 3 cached before the interruption are not embedded again

    local = NewsIndex.open(tmp_path / "local", create=True, embedder=HashEmbedder(256))
    local.ingest([corpus])
    assert differences(fingerprint(local), fingerprint(remote)) == []
    local.close()
    remote.close()
    # The command line, a third time: everything is there, nothing goes to the cluster.
    assert main(["ingest", str(corpus), "--index", str(tmp_path / "ray"), "--quiet", "--ray", ray_address]) == 0
    assert "added 0 articles (0 replaced, 11 already indexed" in capsys.readouterr().out


@pytest.mark.ray
@pytest.mark.postgres
@pytest.mark.slow
def test_ray_ingest_into_postgres_gives_the_local_index(ray_address: str, pg_cluster, corpus: Path,  # noqa: ANN001
                                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_backends import fresh_database

    monkeypatch.setattr(ray_ingest, "WINDOW_ARTICLES", 100)  # one window: the test above crosses windows
    remote = NewsIndex.open(fresh_database(pg_cluster), create=True, embedder=HashEmbedder(256))
    report = remote.ingest([corpus], ray_address=ray_address)
    local = NewsIndex.open(tmp_path / "local", create=True, embedder=HashEmbedder(256))
    local.ingest([corpus])
    assert differences(fingerprint(local), fingerprint(remote)) == []
    assert (report.added, report.duplicates, report.embedded) == (10, 1, 10)
    local.close()
    remote.close()
