"""What only the PostgreSQL backend does (tests/test_backends.py holds the contract both backends keep): reads
on the standby and writes on the primary, monthly partitions pruned by the date filter, the schema created once
when two processes open a new database at once, BM25 scores equal to FTS5's, HNSW checked against exact search,
the busy writer named, emptied partitions dropped."""

from __future__ import annotations

import sys
import threading
import time
from datetime import date

import numpy as np
import pytest
from test_backends import DIM, MODEL, PARIS, ROME, _open, article, fresh_database, split, vec, write

from rag.backends.base import ArticleFilter, LexicalQuery
from rag.backends.postgres import INSTALL, open_postgres, schema
from rag.errors import IndexBusyError, IndexMismatchError, IndexMissingError, RagError

pytestmark = pytest.mark.postgres


@pytest.fixture
def url(pg_cluster) -> str:  # noqa: ANN001
    return fresh_database(pg_cluster)


@pytest.fixture
def backend(url: str):  # noqa: ANN201
    opened = _open("postgres", url)
    yield opened
    opened.close()


def _in_recovery(conn) -> bool:  # noqa: ANN001
    return conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]


def test_reads_go_to_the_standby_and_writes_to_the_primary(pg_cluster, url: str) -> None:  # noqa: ANN001
    import psycopg

    name = url.rsplit("/", 1)[1]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the standby replays CREATE DATABASE within moments
        try:
            psycopg.connect(pg_cluster.standby_url.rsplit("/", 1)[0] + "/" + name).close()
            break
        except psycopg.OperationalError:
            time.sleep(0.1)
    multi = pg_cluster.multi_url.rsplit("/", 1)[0] + "/" + name
    backend = _open("postgres", multi)
    try:
        write(backend, [(ROME, [vec(2), None, None])])
        with backend.conns.reading() as conn:
            assert _in_recovery(conn)
        with backend.conns.writing() as conn:
            assert not _in_recovery(conn)
        with backend.writing(), backend.conns.reading() as conn:
            assert not _in_recovery(conn)  # a writer reads what it wrote
        deadline = time.monotonic() + 30
        while backend.store.counts()["articles"] < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert backend.store.article_infos(["rome"])["rome"].title == ROME.title
        assert "@" in backend.location and ":" not in backend.location.split("@")[0].split("//")[1]
    finally:
        backend.close()


def monthly(backend) -> None:  # noqa: ANN001
    """Partitions of one month (set before the first write), as a short-window feed index might have."""
    with backend.store.transaction(bump_generation=False) as tx:
        backend.store.set_meta(tx, "partition_months", "1")


def test_passages_are_partitioned_by_year_by_default(backend) -> None:  # noqa: ANN001
    write(backend, [(PARIS, [vec(0), None, None]), (ROME, [vec(1), None, None])])
    write(backend, [(article("later", "Later", "Next year came", "2023-03-01"), [vec(2)])])
    with backend.conns.writing() as conn:
        assert schema.known_partitions(conn) == {date(2022, 1, 1), date(2023, 1, 1)}


def test_passages_are_partitioned_by_month_and_filters_prune(backend) -> None:  # noqa: ANN001
    monthly(backend)
    undated = article("undated", "Undated note", "Something happened once", None)
    write(backend, [(PARIS, [vec(0), None, None]), (ROME, [vec(1), None, None]), (undated, [vec(2)])])
    with backend.conns.writing() as conn:
        assert schema.known_partitions(conn) == {date(2022, 6, 1), date(2022, 7, 1)}
        rows = conn.execute("SELECT tableoid::regclass::text, count(*) FROM passages GROUP BY 1 ORDER BY 1").fetchall()
        assert rows == [("passages_2022_06", 3), ("passages_2022_07", 3), ("passages_undated", 1)]
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN SELECT passage_id FROM passages p WHERE p.published <= %s", (date(2022, 6, 30),)))
    assert "passages_2022_06" in plan and "passages_undated" in plan and "passages_2022_07" not in plan
    assert backend.dense_search(vec(1, 2)[None, :], 3, ArticleFilter(latest="2022-06-30")) == [
        backend.store.article_passages("undated")[0].passage_id, backend.store.article_passages("paris")[0].passage_id]


def test_a_read_that_finds_no_table_on_a_standby_reads_the_primary(pg_cluster, url: str) -> None:  # noqa: ANN001
    # A standby that has not replayed a new index's schema yet: here, a read URL naming a database without it.
    from rag.backends.postgres.connection import Connections

    backend = _open("postgres", url)
    backend.close()
    conns = Connections(url)
    conns.read_url = fresh_database(pg_cluster)
    try:
        assert conns.query("SELECT value FROM meta WHERE key = 'schema_version'") == [(str(schema.SCHEMA_VERSION),)]
        with pytest.raises(Exception, match='relation "nothing" does not exist'):
            conns.query("SELECT * FROM nothing")  # missing on the primary too: the error stands
    finally:
        conns.close()


def test_two_processes_opening_a_new_database_create_the_schema_once(url: str) -> None:
    errors: list[BaseException] = []
    opened = []

    def open_one() -> None:
        try:
            opened.append(open_postgres(url, create=True))
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert not errors and len(opened) == 4
        assert opened[0].store.get_meta("schema_version") == str(schema.SCHEMA_VERSION)
        assert opened[0].store.generation() == 0
    finally:
        for b in opened:
            b.close()


def test_a_missing_or_newer_index_says_so(url: str) -> None:
    with pytest.raises(IndexMissingError, match="no index at postgresql://"):
        open_postgres(url)
    backend = open_postgres(url, create=True)
    with backend.store.transaction(bump_generation=False) as tx:
        backend.store.set_meta(tx, "schema_version", "99")
    backend.close()
    with pytest.raises(IndexMismatchError, match="schema version 99"):
        open_postgres(url)


def test_a_busy_index_names_its_writer(url: str) -> None:
    first, second = _open("postgres", url), _open("postgres", url)
    try:
        busy = pytest.raises(IndexBusyError, match=r"newsrag .* pid \d+ from .*server pid \d+")
        with first.writing(), busy, second.writing(wait_s=0):
            pass
    finally:
        first.close()
        second.close()


def test_bm25_scores_equal_the_local_backends(tmp_path, url: str) -> None:  # noqa: ANN001
    texts = ["The council approved the budget after a long debate. Taxes will rise next year",
             "Budget talks stalled again. The council meets on Monday to debate taxes and roads",
             "Roads across the region closed after heavy snow. The council asked drivers to stay home",
             "A quiet week: no debate, no budget, only sunshine over the region"]
    articles = [article(f"n{i}", f"Council news {i}", t, f"2023-01-0{i + 1}") for i, t in enumerate(texts)]
    items = [(a, [vec(i)] + [None] * (len(split(a)) - 1)) for i, a in enumerate(articles)]
    local, remote = _open("local", tmp_path / "local"), _open("postgres", url)
    try:
        for b in (local, remote):
            write(b, items)
        for terms, phrase, headlines in ((("budget", "taxes"), (), False), (("council", "roads", "snow"), (), False),
                                         (("debate",), ("council", "meets"), False), (("news", "council"), (), True)):
            query = LexicalQuery(terms, phrase)
            want = local.store.lexical_search(query, 10, headlines=headlines)
            got = remote.store.lexical_search(query, 10, headlines=headlines)
            assert [p for p, _ in got] == [p for p, _ in want], terms
            assert np.allclose([s for _, s in got], [s for _, s in want], rtol=1e-4), terms
    finally:
        local.close()
        remote.close()


def test_dense_search_finds_what_exact_search_finds(backend) -> None:  # noqa: ANN001
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(1500, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    text = ". ".join(f"Sentence {i}" for i in range(30))
    items = [(article(f"v{i}", f"Vectors {i}", text, f"2022-{i % 12 + 1:02d}-01"), list(vectors[i * 30:(i + 1) * 30]))
             for i in range(50)]
    ids = write(backend, items)
    pids = np.asarray([pid for a, _ in items for pid in ids[a.article_id]])
    hits = total = 0
    for q in rng.normal(size=(40, DIM)).astype(np.float32):
        q /= np.linalg.norm(q)
        exact = pids[np.argsort(-(vectors @ q), kind="stable")[:10]].tolist()
        found = backend.dense_search(q[None, :], 10)
        hits += len(set(found) & set(exact))
        total += 10
        if set(found) == set(exact):
            assert found == exact  # the float32 re-rank gives the exact order
    assert hits / total >= 0.95


def test_vacuum_drops_the_partitions_retention_emptied(backend) -> None:  # noqa: ANN001
    monthly(backend)
    write(backend, [(PARIS, [vec(0), vec(1), None]), (ROME, [vec(2), None, None])])
    with backend.writing(), backend.store.transaction() as tx:
        backend.store.delete_articles(tx, ["paris"])
        backend.store.drop_unused_vectors(tx)
    backend.store.vacuum()
    with backend.conns.writing() as conn:
        assert [m.month for m in schema.known_partitions(conn)] == [7]
        assert conn.execute("SELECT to_regclass('passages_2022_06')").fetchone()[0] is None
    assert backend.store.cached_vectors(MODEL, ["paris#0", "rome#0"]).keys() == {"rome#0"}
    write(backend, [(PARIS, [vec(0), None, None])])  # the month comes back when an article does
    assert [p.text for p in backend.store.article_passages("paris")] == [p.text for p in split(PARIS)]


def test_without_psycopg_the_install_command_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(RagError, match=r"pip install 'newsrag\[postgres\]'"):
        open_postgres("postgresql://nobody@127.0.0.1:1/none")
    assert "newsrag[postgres]" in INSTALL


def test_searches_from_many_threads_at_once_agree_with_one_at_a_time(backend) -> None:  # noqa: ANN001
    write(backend, [(PARIS, [vec(0), vec(1), None]), (ROME, [vec(2), vec(3), None])])
    queries = [(vec(i % DIM, (i + 3) % DIM)[None, :], LexicalQuery(("floods", "heat", "closed")[i % 3:]))
               for i in range(16)]

    def search(v: np.ndarray, q: LexicalQuery) -> tuple:
        return (tuple(backend.dense_search(v, 4)), tuple(backend.store.lexical_search(q, 5)),
                tuple(backend.store.article_infos(["paris", "rome"])))

    alone = [search(*q) for q in queries]
    together: list = [None] * len(queries)

    def run(i: int) -> None:
        together[i] = search(*queries[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(queries))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert together == alone
