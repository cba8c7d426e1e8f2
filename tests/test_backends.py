"""The contract of rag/backends/base.py: the same tests run against every backend (the local SQLite + FAISS one
and PostgreSQL + pgvector on the throwaway primary of tests/cluster.py), through the Store and Backend methods
only."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from rag.backends.base import ArticleFilter, LexicalQuery
from rag.errors import IndexBusyError
from rag.types import Article, Passage

DIM = 8
MODEL = "test-model"


def fresh_database(pg_cluster) -> str:  # noqa: ANN001
    """The URL of a new, empty database on the test cluster's primary."""
    import psycopg

    name = "b_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_cluster.primary_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return pg_cluster.primary_url.rsplit("/", 1)[0] + "/" + name


def _open(kind: str, location: str | Path, create: bool = True):  # noqa: ANN202 - a Backend
    if kind == "local":
        from rag.backends.local import LocalBackend

        backend = LocalBackend(location, create)
    else:
        from rag.backends.postgres import open_postgres

        backend = open_postgres(str(location), create)
    backend.bind(MODEL, lambda: DIM)
    backend.refresh(force=True)
    return backend


@pytest.fixture(params=["local", pytest.param("postgres", marks=pytest.mark.postgres)])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], object]]:
    """Opens backends on one new index (each call another instance, as another process would)."""
    if request.param == "local":
        location: str | Path = tmp_path / "index"
    else:
        location = fresh_database(request.getfixturevalue("pg_cluster"))
    opened = []

    def open_one():  # noqa: ANN202
        opened.append(_open(request.param, location))
        return opened[-1]

    yield open_one
    for backend in opened:
        backend.close()


@pytest.fixture
def backend(opener):  # noqa: ANN001, ANN201
    return opener()


def vec(*hot: int) -> np.ndarray:
    """A normalized vector with weight on the given axes (the first the heaviest)."""
    v = np.zeros(DIM, dtype=np.float32)
    for rank, axis in enumerate(hot):
        v[axis] = 1.0 / (rank + 1)
    return v / np.linalg.norm(v)


def article(aid: str, title: str, text: str, published: str | None = "2022-06-01", source: str = "wire") -> Article:
    return Article(aid, title, text, f"https://news.example/{aid}", published, source, "Ann Author", {"lang": "en"})


def split(a: Article) -> list[Passage]:
    """One passage a sentence, in order, with offsets into the text."""
    out, start = [], 0
    for i, sentence in enumerate(a.text.split(". ")):
        end = start + len(sentence)
        out.append(Passage(a.article_id, i, start, end, a.text[start:end]))
        start = end + 2
    return out


def write(backend, items: list[tuple[Article, list[np.ndarray | None]]], *, remove: tuple[str, ...] = (),  # noqa: ANN001
          copies: tuple[tuple[Article, str], ...] = (), raw: tuple[tuple[str, str], ...] = (),
          groups: dict[str, str] | None = None) -> dict[str, list[int]]:
    """One ingest-like batch: remove, insert articles with their passages (a vector or None each), copies of
    stored texts, raw hashes; then apply it to the vectors, as rag/indexer.py does. Returns passage ids."""
    store, ids, added, vectors = backend.store, {}, [], []
    with backend.writing(), store.transaction() as tx:
        removed = store.delete_articles(tx, list(remove))
        for a, vecs in items:
            hashes = [None if v is None else f"{a.article_id}#{i}" for i, v in enumerate(vecs)]
            cache = {h: v for h, v in zip(hashes, vecs, strict=True) if h is not None}
            group = (groups or {}).get(a.article_id, a.article_id)
            store.insert_article(tx, a, "hash-" + a.article_id, group, b"sig-" + a.article_id.encode())
            store.insert_lsh(tx, a.article_id, [len(a.article_id), 7, hash(group) % 1000])
            ids[a.article_id] = store.insert_passages(tx, a, split(a), hashes, cache)
            store.put_vectors(tx, MODEL, cache)
            for pid, h in zip(ids[a.article_id], hashes, strict=True):
                if h is not None:
                    added.append(pid)
                    vectors.append(cache[h])
        for copy, owner in copies:
            store.insert_article(tx, copy, "hash-" + owner, store.group_of(tx, owner) or owner, None)
        store.record_raw(tx, list(raw))
        store.set_meta(tx, "model", MODEL)
        store.set_meta(tx, "dim", str(DIM))
    backend.apply(removed, np.asarray(added, dtype=np.int64),
                  np.vstack(vectors) if vectors else np.zeros((0, DIM), dtype=np.float32))
    return ids


PARIS = article("paris", "Floods in Paris", "The Seine flooded Paris streets. Museums closed early. Boats rescued "
                "residents from the flooded quarter", "2022-06-03", "lemonde")
ROME = article("rome", "Heat wave in Rome", "Rome broke its heat record. The Colosseum closed at noon. Fountains "
               "ran dry", "2022-07-20", "ansa")
OLD = article("old", "An undated note on floods", "Floods come back every spring. The river rose again",
              None, "blog")


@pytest.fixture
def filled(backend):  # noqa: ANN001, ANN201
    ids = write(backend, [(PARIS, [vec(0), vec(1), None]), (ROME, [vec(2), vec(3), None]), (OLD, [vec(4), None])],
                raw=(("raw-paris", "paris"), ("raw-rome", "rome")))
    return backend, ids


def test_articles_and_passages_read_back(filled) -> None:  # noqa: ANN001
    backend, ids = filled
    store = backend.store
    assert store.existing(["paris", "nope"]) == {"paris": "hash-paris"}
    assert store.stored_text_hash("rome") == "hash-rome"
    assert store.hash_owner("hash-rome") == "rome" and store.hash_owner("hash-none") is None
    info = store.article_infos(["paris"])["paris"]
    assert (info.title, info.published, info.source, info.group_id) == ("Floods in Paris", "2022-06-03", "lemonde",
                                                                         "paris")
    passages = store.article_passages("paris")
    assert [p.ordinal for p in passages] == [0, 1, 2] and [p.passage_id for p in passages] == ids["paris"]
    assert all(PARIS.text[p.start:p.end] == p.text for p in passages)
    assert store.passages([ids["rome"][1]])[ids["rome"][1]].text == "The Colosseum closed at noon"
    assert store.passage_articles(ids["paris"]) == {ids["paris"][0]: ("paris", True), ids["paris"][1]: ("paris", True),
                                                    ids["paris"][2]: ("paris", False)}
    exported = {a.article.article_id: a for batch in store.export_articles() for a in batch}
    assert exported["paris"].article == PARIS and exported["paris"].signature == b"sig-paris"
    assert exported["paris"].embed_hashes == ("paris#0", "paris#1", None)
    assert exported["rome"].raw_hashes == ("raw-rome",)
    pids, vectors = store.indexed_vectors(MODEL)
    assert sorted(pids.tolist()) == sorted(ids["paris"][:2] + ids["rome"][:2] + ids["old"][:1])
    assert np.array_equal(store.cached_vectors(MODEL, ["rome#1"])["rome#1"], vec(3))  # float32, exactly


def test_lexical_search_ranks_filters_headlines_and_phrases(filled) -> None:  # noqa: ANN001
    backend, ids = filled
    store = backend.store

    def found(terms: tuple[str, ...], where: ArticleFilter | None = None, phrase: tuple[str, ...] = (),
              headlines: bool = False) -> list[int]:
        hits = store.lexical_search(LexicalQuery(terms, phrase), 10, where, headlines)
        assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)  # best first
        return [pid for pid, _ in hits]

    flooded = found(("flooded",))  # stemmed: every passage under a "Floods" headline matches
    assert set(flooded) == set(ids["paris"] + ids["old"])
    assert set(flooded[:2]) == {ids["paris"][0], ids["paris"][2]}  # the headline and the body match
    assert set(found(("colosseum", "seine"))[:2]) == {ids["rome"][1], ids["paris"][0]}
    assert set(found(("floods",), ArticleFilter(latest="2022-06-30"))) == set(ids["paris"] + ids["old"])
    assert set(found(("floods",), ArticleFilter(latest="2022-06-30", dated_only=True))) == set(ids["paris"])
    assert set(found(("floods",), ArticleFilter(latest="2022-06-01"))) == set(ids["old"])  # Paris is later
    assert set(found(("floods",), ArticleFilter(since="2022-06-02"))) == set(ids["paris"])
    assert set(found(("closed",), ArticleFilter(sources=("ansa",)))) == {ids["rome"][1]}
    assert found(("rome", "paris"), headlines=True) and set(found(("rome", "paris"), headlines=True)) == {
        ids["rome"][0], ids["paris"][0]}  # each article once, as its lead passage
    assert found(("closed",), phrase=("museums", "closed")) == [ids["paris"][1]]
    assert found(("closed",), phrase=("closed", "museums")) == []
    assert found(()) == []


def test_dense_search_nearest_first(filled) -> None:  # noqa: ANN001
    backend, ids = filled
    with backend.searching():
        nearest = backend.dense_search(vec(3, 2)[None, :], 3)
    assert nearest[:2] == [ids["rome"][1], ids["rome"][0]]
    assert backend.vector_stats()["vectors"] == 5
    # A backend may filter before ranking or leave it to the caller: after the caller's filter, the order holds.
    where = ArticleFilter(sources=("lemonde",))
    allowed = {pid for pid, (aid, _) in backend.store.passage_articles(
        backend.dense_search(vec(1, 3)[None, :], 5, where)).items() if aid == "paris"}
    ranked = [p for p in backend.dense_search(vec(1, 3)[None, :], 5, where) if p in allowed]
    assert ranked == [ids["paris"][1], ids["paris"][0]]


def test_delete_removes_everything_derived(filled) -> None:  # noqa: ANN001
    backend, ids = filled
    store = backend.store
    copy = article("paris-copy", PARIS.title, PARIS.text, "2022-06-04", "syndicate")
    write(backend, [], copies=((copy, "paris"),), raw=(("raw-copy", "paris-copy"),))
    assert store.stored_text_hash("paris-copy") is None and store.hash_owner("hash-paris") == "paris"
    assert store.group_members(["paris"]) == {"paris": ["paris-copy", "paris"]}
    with store.transaction() as tx:
        assert {r[0] for r in store.lsh_candidates(tx, [5, 7])} == {"paris", "rome", "old"}
    with backend.writing(), store.transaction() as tx:
        removed = store.delete_articles(tx, ["paris"])
        store.drop_unused_vectors(tx)
    backend.apply(removed, np.zeros(0, dtype=np.int64), np.zeros((0, DIM), dtype=np.float32))
    assert sorted(removed) == sorted(ids["paris"])
    assert store.passages(ids["paris"]) == {} and store.article_infos(["paris"]) == {}
    assert not store.raw_known("raw-paris") and not store.raw_known("raw-copy")  # the copy gets read again
    assert store.raw_known("raw-rome")
    assert store.orphaned_copies(["paris-copy", "rome"]) == {"paris-copy"}
    assert store.cached_vectors(MODEL, ["paris#0", "rome#0"]).keys() == {"rome#0"}
    with store.transaction() as tx:
        assert "paris" not in {r[0] for r in store.lsh_candidates(tx, [5, 7])}
    assert not set(backend.dense_search(vec(0)[None, :], 10)) & set(ids["paris"])


def test_every_write_bumps_the_generation_once(backend) -> None:  # noqa: ANN001
    store = backend.store
    start = store.generation()
    write(backend, [(ROME, [vec(2), None, None])])
    assert store.generation() == start + 1
    with store.transaction(bump_generation=False) as tx:
        store.set_meta(tx, "note", "kept")
    assert store.generation() == start + 1 and store.get_meta("note") == "kept"
    with pytest.raises(RuntimeError), store.transaction() as tx:
        store.set_meta(tx, "note", "rolled back")
        raise RuntimeError("boom")
    assert store.generation() == start + 1 and store.get_meta("note") == "kept"


def test_group_members_newest_first_undated_last(backend) -> None:  # noqa: ANN001
    a = article("a", "Story", "First report of the story", "2022-06-01")
    b = article("b", "Story", "Update on the story with more", "2022-06-05")
    c = article("c", "Story", "Undated copy of the story here", None)
    write(backend, [(a, [vec(0)]), (b, [vec(1)]), (c, [vec(2)])], groups={"b": "a", "c": "a"})
    assert backend.store.group_members(["a", "zz"]) == {"a": ["b", "a", "c"]}
    assert backend.store.recent_headlines(2) == [("Story", "wire"), ("Story", "wire")]


def test_follow_rows_round_trip(backend) -> None:  # noqa: ANN001
    store = backend.store
    row = {"url": "https://feeds.example/b.xml", "etag": '"v1"', "last_modified": "", "body_hash": "abc",
           "last_poll": 1700000000.5, "next_poll": 1700000600.0, "errors": 2, "last_new": None,
           "last_report": '{"new": 3}'}
    store.put_follow_row(row)
    store.put_follow_row({**row, "url": "https://feeds.example/a.xml"})
    store.put_follow_row({**row, "errors": 0, "etag": '"v2"'})  # replaces
    assert [r["url"] for r in store.follow_rows()] == ["https://feeds.example/a.xml", "https://feeds.example/b.xml"]
    assert store.follow_row("https://feeds.example/b.xml") == {**row, "errors": 0, "etag": '"v2"'}
    assert store.follow_row("https://feeds.example/none.xml") is None


def test_counts_sources_dates_and_selections(filled) -> None:  # noqa: ANN001
    backend, _ = filled
    store = backend.store
    assert store.counts() == {"articles": 3, "passages": 8, "dense_passages": 5, "story_groups": 3}
    assert store.sources() == [("ansa", 1), ("blog", 1), ("lemonde", 1)]
    assert store.date_range() == ("2022-06-03", "2022-07-20")
    assert sorted(store.article_ids_where(sources=["ansa", "blog"])) == ["old", "rome"]
    assert store.article_ids_where(since="2022-06-04", until="2022-12-31") == ["rome"]
    assert store.article_ids_where(urls=["https://news.example/paris"]) == ["paris"]
    assert store.article_ids_where() == []
    assert sorted(store.article_ids_published_before("2022-07-01")) == ["paris"]  # "old" was added today
    assert store.oldest_article_ids(2) == ["paris", "rome"]
    assert [t for _, t in store.added_titles(["rome", "paris"], time.time() - 60)] != []
    assert store.added_titles(["rome"], time.time() + 60) == []
    assert store.recent_headlines(1) == [("Heat wave in Rome", "ansa")]
    assert backend.size_bytes() > 0
    assert backend.recorded()["model"] == MODEL


def test_one_writer_at_a_time_across_instances(opener) -> None:  # noqa: ANN001
    first, second = opener(), opener()
    acquired: list[float] = []

    def wait_for_the_lock() -> None:
        with second.writing(wait_s=10):
            acquired.append(time.monotonic())

    with first.writing():
        start = time.monotonic()
        with pytest.raises(IndexBusyError, match="another process is writing"), second.writing(wait_s=0.5):
            pass
        assert time.monotonic() - start >= 0.4
        waiter = threading.Thread(target=wait_for_the_lock)
        waiter.start()
        time.sleep(0.5)
        assert not acquired  # still waiting
        released = time.monotonic()
    waiter.join(10)
    assert acquired and acquired[0] >= released


def test_a_write_is_seen_by_another_instance_after_refresh(opener) -> None:  # noqa: ANN001
    writer, reader = opener(), opener()
    reader.refresh()
    ids = write(writer, [(ROME, [vec(2), vec(3), None])])
    assert reader.refresh() is True
    assert reader.generation == writer.store.generation()
    assert reader.store.counts()["articles"] == 1
    assert reader.dense_search(vec(3)[None, :], 1) == [ids["rome"][1]]
    assert reader.refresh() is False
