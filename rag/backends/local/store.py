"""The local backend's ``Store`` (rag/backends/base.py): articles, passages, the full-text (BM25) index, the
embedding cache, near-duplicate groups and the feed poller's state in one SQLite file.

SQLite is the source of truth: FAISS is derived from the ``embeddings`` rows and can always be rebuilt from
them. Every write is one transaction that also bumps ``generation``, which the vector file records.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from rag.backends.base import ArticleFilter, LexicalQuery, StoredArticle, batched
from rag.types import Article, ArticleInfo, Passage

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    article_id TEXT PRIMARY KEY, title TEXT NOT NULL, url TEXT NOT NULL, published TEXT,
    source TEXT NOT NULL, author TEXT NOT NULL, metadata TEXT NOT NULL, text TEXT NOT NULL,
    text_hash TEXT NOT NULL, group_id TEXT NOT NULL, signature BLOB, added_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS articles_hash ON articles(text_hash);
CREATE INDEX IF NOT EXISTS articles_url ON articles(url);
CREATE INDEX IF NOT EXISTS articles_published ON articles(published);
CREATE INDEX IF NOT EXISTS articles_source ON articles(source);
CREATE INDEX IF NOT EXISTS articles_group ON articles(group_id);
CREATE TABLE IF NOT EXISTS passages (
    passage_id INTEGER PRIMARY KEY, article_id TEXT NOT NULL REFERENCES articles ON DELETE CASCADE,
    ordinal INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, text TEXT NOT NULL,
    embed_hash TEXT);
CREATE INDEX IF NOT EXISTS passages_article ON passages(article_id);
CREATE VIRTUAL TABLE IF NOT EXISTS passages_fts USING fts5(
    title, text, tokenize = 'porter unicode61 remove_diacritics 2');
CREATE VIRTUAL TABLE IF NOT EXISTS titles_fts USING fts5(title, tokenize = 'porter unicode61 remove_diacritics 2');
CREATE TABLE IF NOT EXISTS embeddings (
    model TEXT NOT NULL, text_hash TEXT NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (model, text_hash));
CREATE TABLE IF NOT EXISTS lsh (band INTEGER NOT NULL, bucket INTEGER NOT NULL, article_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS lsh_bucket ON lsh(band, bucket);
CREATE INDEX IF NOT EXISTS lsh_article ON lsh(article_id);
CREATE TABLE IF NOT EXISTS raw_inputs (
    raw_hash TEXT PRIMARY KEY, article_id TEXT NOT NULL REFERENCES articles ON DELETE CASCADE);
CREATE INDEX IF NOT EXISTS raw_inputs_article ON raw_inputs(article_id);
CREATE TABLE IF NOT EXISTS follow_sources (
    url TEXT PRIMARY KEY, etag TEXT NOT NULL DEFAULT '', last_modified TEXT NOT NULL DEFAULT '',
    body_hash TEXT NOT NULL DEFAULT '', last_poll REAL, next_poll REAL, errors INTEGER NOT NULL DEFAULT 0,
    last_new REAL, last_report TEXT NOT NULL DEFAULT '{}');
"""
# raw_inputs (added without a format change: an older index gets the empty table when opened, and its first
# re-ingest fills it) maps the raw hash of each input record to the article it gave, so the next ingest of the
# same bytes skips them unread (rag/ingest/raw.py). Deleting an article drops its rows. follow_sources holds
# what the feed poller remembers of each source (rag/follow/state.py).

# BM25 weight of a headline match against a body match: a headline names what the article is about.
TITLE_WEIGHT = 1.0
_INFO = "article_id, title, url, published, source, author, group_id"
# An article's age: its published date, else the day it was added.
_AGE = "COALESCE(published, strftime('%Y-%m-%d', added_at, 'unixepoch'))"
_FOLLOW = ("url", "etag", "last_modified", "body_hash", "last_poll", "next_poll", "errors", "last_new", "last_report")


_PASSAGE_COLUMNS = "passage_id, article_id, ordinal, start, end, text"


def _passage(row: tuple) -> Passage:
    """A Passage from a row of ``_PASSAGE_COLUMNS``."""
    return Passage(row[1], row[2], row[3], row[4], row[5], row[0])


class SqliteStore:
    """One SQLite database file; safe to share between threads (calls are serialized)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._memo: dict[str, dict] = {}  # see _cached
        self._memo_generation = -1
        self.db = sqlite3.connect(path, check_same_thread=False, timeout=60, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.executescript(SCHEMA)
        self._backfill_titles()

    def _backfill_titles(self) -> None:
        """Indexes made before the headline table get it filled from their lead passages, once."""
        if self.db.execute("SELECT 1 FROM titles_fts LIMIT 1").fetchone() or not self.db.execute(
                "SELECT 1 FROM passages LIMIT 1").fetchone():
            return
        with self.transaction(bump_generation=False) as db:
            if not db.execute("SELECT 1 FROM titles_fts LIMIT 1").fetchone():  # another process may have filled it
                db.execute("INSERT INTO titles_fts (rowid, title) SELECT p.passage_id, a.title FROM passages p "
                           "JOIN articles a ON a.article_id = p.article_id WHERE p.ordinal = 0")

    def close(self) -> None:
        with self._lock:
            self.db.close()

    @contextmanager
    def transaction(self, bump_generation: bool = True):  # noqa: ANN201 - a context manager over the connection
        """All-or-nothing write that bumps ``generation``; readers in other processes see it whole or not at all.

        ``bump_generation=False`` is for writes that change no article, passage or vector (readers compare the
        generation with the vector file's)."""
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
                if bump_generation:
                    self.db.execute(
                        "INSERT INTO meta VALUES ('generation', '1') "
                        "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1")
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    def query(self, sql: str, params: Sequence | dict = ()) -> list[tuple]:
        with self._lock:
            return self.db.execute(sql, params).fetchall()

    # --- meta -------------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        rows = self.query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, db: sqlite3.Connection, key: str, value: str) -> None:
        db.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                   (key, value))

    def generation(self) -> int:
        return int(self.get_meta("generation") or 0)

    def generation_and_dense(self) -> tuple[int, int]:
        """``(generation, passages with a dense vector)`` read in one statement, so from one snapshot."""
        (generation, dense), = self.query(
            "SELECT (SELECT value FROM meta WHERE key = 'generation'), "
            "(SELECT COUNT(*) FROM passages WHERE embed_hash IS NOT NULL)")
        return int(generation or 0), dense

    # --- articles ---------------------------------------------------------------------------------------
    def existing(self, article_ids: Iterable[str]) -> dict[str, str]:
        """``{article_id: text_hash}`` for the ids already stored."""
        ids = list(article_ids)
        out: dict[str, str] = {}
        for chunk in batched(ids):
            marks = ",".join("?" * len(chunk))
            out.update(self.query(f"SELECT article_id, text_hash FROM articles WHERE article_id IN ({marks})", chunk))
        return out

    def hash_owner(self, text_hash: str) -> str | None:
        """The article that holds the passages of this text; copies of it hold none and never own it."""
        rows = self.query("SELECT a.article_id FROM articles a WHERE a.text_hash = ? AND EXISTS "
                          "(SELECT 1 FROM passages p WHERE p.article_id = a.article_id) LIMIT 1", (text_hash,))
        return rows[0][0] if rows else None

    def stored_text_hash(self, article_id: str) -> str | None:
        rows = self.query("SELECT text_hash FROM articles a WHERE article_id = ? AND EXISTS "
                          "(SELECT 1 FROM passages p WHERE p.article_id = a.article_id)", (article_id,))
        return rows[0][0] if rows else None

    def group_of(self, tx: sqlite3.Connection, article_id: str) -> str | None:
        row = tx.execute("SELECT group_id FROM articles WHERE article_id = ?", (article_id,)).fetchone()
        return row[0] if row else None

    def orphaned_copies(self, article_ids: Iterable[str]) -> set[str]:
        """The ids among ``article_ids`` stored as copies (no passages) whose original has been removed."""
        ids = list(article_ids)
        out: set[str] = set()
        for chunk in batched(ids):
            out.update(r[0] for r in self.query(
                f"SELECT a.article_id FROM articles a WHERE a.article_id IN ({','.join('?' * len(chunk))}) "
                "AND NOT EXISTS (SELECT 1 FROM passages p WHERE p.article_id = a.article_id) "
                "AND NOT EXISTS (SELECT 1 FROM articles o JOIN passages p ON p.article_id = o.article_id "
                "WHERE o.text_hash = a.text_hash)", chunk))
        return out

    def insert_article(self, db: sqlite3.Connection, article: Article, text_hash: str, group_id: str,
                       signature: bytes | None, added_at: float | None = None) -> None:
        db.execute(
            "INSERT INTO articles VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (article.article_id, article.title, article.url, article.published, article.source, article.author,
             json.dumps(article.metadata, ensure_ascii=False, default=str), article.text, text_hash, group_id,
             signature, time.time() if added_at is None else added_at))

    def insert_passages(self, db: sqlite3.Connection, article: Article, passages: Sequence[Passage],
                        embed_hashes: Sequence[str | None], vectors: dict[str, np.ndarray] | None = None) -> list[int]:
        """The vectors stay in ``embeddings`` (``put_vectors``); FAISS gets them from the caller."""
        ids = []
        for passage, embed_hash in zip(passages, embed_hashes, strict=True):
            cur = db.execute(
                "INSERT INTO passages (article_id, ordinal, start, end, text, embed_hash) VALUES (?,?,?,?,?,?)",
                (article.article_id, passage.ordinal, passage.start, passage.end, passage.text, embed_hash))
            ids.append(cur.lastrowid)
            db.execute("INSERT INTO passages_fts (rowid, title, text) VALUES (?, ?, ?)",
                       (cur.lastrowid, article.title, passage.text))
            if passage.ordinal == 0:  # the headline, once an article, under its lead passage's id
                db.execute("INSERT INTO titles_fts (rowid, title) VALUES (?, ?)", (cur.lastrowid, article.title))
        return ids

    def delete_articles(self, db: sqlite3.Connection, article_ids: Sequence[str]) -> list[int]:
        """Delete articles with their passages, full-text rows and LSH rows; returns the passage ids removed.

        Copies of a deleted article's text lose their raw hashes, so the next ingest reads them again and gives
        them the passages the deleted one held."""
        removed: list[int] = []
        for article_id in article_ids:
            db.execute("DELETE FROM raw_inputs WHERE article_id IN (SELECT c.article_id FROM articles c JOIN "
                       "articles a ON a.text_hash = c.text_hash WHERE a.article_id = ? AND c.article_id != ?)",
                       (article_id, article_id))
            pids = [r[0] for r in db.execute("SELECT passage_id FROM passages WHERE article_id = ?", (article_id,))]
            db.executemany("DELETE FROM passages_fts WHERE rowid = ?", [(p,) for p in pids])
            db.executemany("DELETE FROM titles_fts WHERE rowid = ?", [(p,) for p in pids])
            db.execute("DELETE FROM passages WHERE article_id = ?", (article_id,))
            db.execute("DELETE FROM lsh WHERE article_id = ?", (article_id,))
            db.execute("DELETE FROM articles WHERE article_id = ?", (article_id,))
            removed.extend(pids)
        return removed

    def drop_unused_vectors(self, db: sqlite3.Connection) -> None:
        db.execute("DELETE FROM embeddings WHERE text_hash NOT IN "
                   "(SELECT embed_hash FROM passages WHERE embed_hash IS NOT NULL)")

    def article_ids_published_before(self, day: str) -> list[str]:
        return [r[0] for r in self.query(f"SELECT article_id FROM articles WHERE {_AGE} < ?", (day,))]

    def oldest_article_ids(self, limit: int) -> list[str]:
        return [r[0] for r in self.query(f"SELECT article_id FROM articles ORDER BY {_AGE}, added_at LIMIT ?",
                                         (limit,))]

    def added_titles(self, article_ids: Sequence[str], since: float) -> list[tuple[float, str]]:
        rows: list[tuple[float, str]] = []
        for chunk in batched(list(article_ids)):
            rows += self.query(f"SELECT added_at, title FROM articles WHERE article_id IN "
                               f"({','.join('?' * len(chunk))}) AND added_at >= ?", [*chunk, since])
        return rows

    def recent_headlines(self, limit: int) -> list[tuple[str, str]]:
        return self.query("SELECT title, source FROM articles WHERE title != '' ORDER BY published DESC LIMIT ?",
                          (limit,))

    def export_articles(self, batch: int = 256) -> Iterator[list[StoredArticle]]:
        """Originals (articles with passages) first, then copies, each in the order they were added."""
        for originals in (True, False):
            has = "EXISTS" if originals else "NOT EXISTS"
            ids = [r[0] for r in self.query(f"SELECT article_id FROM articles a WHERE {has} (SELECT 1 FROM passages "
                                            "p WHERE p.article_id = a.article_id) ORDER BY added_at, article_id")]
            for chunk in batched(ids, batch):
                yield self._stored(chunk)

    def _stored(self, ids: Sequence[str]) -> list[StoredArticle]:
        marks = ",".join("?" * len(ids))
        rows = self.query("SELECT article_id, title, text, url, published, source, author, metadata, text_hash, "
                          f"group_id, signature, added_at FROM articles WHERE article_id IN ({marks})", list(ids))
        passages: dict[str, list[tuple]] = {}
        for r in self.query(f"SELECT {_PASSAGE_COLUMNS}, embed_hash FROM passages WHERE article_id IN ({marks}) "
                            "ORDER BY article_id, ordinal", list(ids)):
            passages.setdefault(r[1], []).append(r)
        raw: dict[str, list[str]] = {}
        for raw_hash, article_id in self.query(f"SELECT raw_hash, article_id FROM raw_inputs WHERE article_id IN "
                                               f"({marks}) ORDER BY raw_hash", list(ids)):
            raw.setdefault(article_id, []).append(raw_hash)
        order = {article_id: i for i, article_id in enumerate(ids)}
        out = []
        for r in sorted(rows, key=lambda r: order[r[0]]):
            article = Article(r[0], r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7]))
            mine = passages.get(r[0], [])
            out.append(StoredArticle(article, r[8], r[9], r[10], r[11], tuple(_passage(p[:6]) for p in mine),
                                     tuple(p[6] for p in mine), tuple(raw.get(r[0], []))))
        return out

    # --- the feed poller's state ------------------------------------------------------------------------
    def follow_rows(self) -> list[dict]:
        return [dict(zip(_FOLLOW, r, strict=True))
                for r in self.query(f"SELECT {', '.join(_FOLLOW)} FROM follow_sources ORDER BY url")]

    def follow_row(self, url: str) -> dict | None:
        rows = self.query(f"SELECT {', '.join(_FOLLOW)} FROM follow_sources WHERE url = ?", (url,))
        return dict(zip(_FOLLOW, rows[0], strict=True)) if rows else None

    def put_follow_row(self, row: dict) -> None:
        with self.transaction(bump_generation=False) as db:
            db.execute(f"INSERT OR REPLACE INTO follow_sources ({', '.join(_FOLLOW)}) VALUES "
                       f"({', '.join('?' * len(_FOLLOW))})", [row[c] for c in _FOLLOW])

    # --- raw input hashes -------------------------------------------------------------------------------
    def raw_known(self, raw_hash: str) -> bool:
        """True when an input with this raw hash gave an article that is still stored."""
        return bool(self.query("SELECT 1 FROM raw_inputs WHERE raw_hash = ?", (raw_hash,)))

    def record_raw(self, db: sqlite3.Connection, pairs: Iterable[tuple[str, str]]) -> None:
        """Remember ``(raw_hash, article_id)`` pairs whose article is stored."""
        db.executemany("INSERT OR REPLACE INTO raw_inputs (raw_hash, article_id) SELECT ?1, ?2 "
                       "WHERE EXISTS (SELECT 1 FROM articles WHERE article_id = ?2)", list(pairs))

    def article_ids_where(self, *, urls: Sequence[str] = (), sources: Sequence[str] = (),
                          since: str | None = None, until: str | None = None) -> list[str]:
        clauses, params = [], []
        if urls:
            clauses.append(f"url IN ({','.join('?' * len(urls))})")
            params += list(urls)
        if sources:
            clauses.append(f"source IN ({','.join('?' * len(sources))})")
            params += list(sources)
        if since:
            clauses.append("published >= ?")
            params.append(since)
        if until:
            clauses.append("published <= ?")
            params.append(until)
        if not clauses:
            return []
        return [r[0] for r in self.query(f"SELECT article_id FROM articles WHERE {' AND '.join(clauses)}", params)]

    def _cached(self, name: str) -> dict:
        """A memo of query results that holds until any write (here or in another process) changes the
        generation: every question looks up a few hundred candidates' articles and passages."""
        with self._lock:
            generation = self.generation()
            if generation != self._memo_generation or sum(len(m) for m in self._memo.values()) > 2_000_000:
                self._memo, self._memo_generation = {}, generation
            return self._memo.setdefault(name, {})

    def article_infos(self, article_ids: Iterable[str]) -> dict[str, ArticleInfo]:
        """Metadata of the stored ones among ``article_ids``."""
        ids = list(dict.fromkeys(article_ids))
        cache = self._cached("infos")
        out = {i: cache[i] for i in ids if i in cache}
        missing = [i for i in ids if i not in out]
        for chunk in batched(missing):
            rows = self.query(f"SELECT {_INFO} FROM articles WHERE article_id IN ({','.join('?' * len(chunk))})", chunk)
            found = {r[0]: ArticleInfo(*r) for r in rows}
            out.update(found)
            cache.update(found)
        return out

    def passage_articles(self, passage_ids: Iterable[int]) -> dict[int, tuple[str, bool]]:
        """``{passage_id: (article_id, has a dense vector)}``, without the texts."""
        ids = list(dict.fromkeys(int(p) for p in passage_ids))
        cache = self._cached("owners")
        out = {i: cache[i] for i in ids if i in cache}
        missing = [i for i in ids if i not in out]
        for chunk in batched(missing):
            rows = self.query("SELECT passage_id, article_id, embed_hash IS NOT NULL FROM passages "
                              f"WHERE passage_id IN ({','.join('?' * len(chunk))})", chunk)
            found = {r[0]: (r[1], bool(r[2])) for r in rows}
            out.update(found)
            cache.update(found)
        return out

    def group_members(self, group_ids: Iterable[str]) -> dict[str, list[str]]:
        ids = list(dict.fromkeys(group_ids))
        if not ids:
            return {}
        rows = self.query(f"SELECT group_id, article_id FROM articles WHERE group_id IN ({','.join('?' * len(ids))}) "
                          "ORDER BY published DESC", ids)
        out: dict[str, list[str]] = {}
        for group_id, article_id in rows:
            out.setdefault(group_id, []).append(article_id)
        return out

    # --- passages ---------------------------------------------------------------------------------------
    def passages(self, passage_ids: Iterable[int]) -> dict[int, Passage]:
        ids = list(dict.fromkeys(int(p) for p in passage_ids))
        out: dict[int, Passage] = {}
        for chunk in batched(ids):
            rows = self.query(f"SELECT {_PASSAGE_COLUMNS} FROM passages "
                              f"WHERE passage_id IN ({','.join('?' * len(chunk))})", chunk)
            out.update({r[0]: _passage(r) for r in rows})
        return out

    def article_passages(self, article_id: str) -> list[Passage]:
        """Every passage of one article, in reading order."""
        rows = self.query(f"SELECT {_PASSAGE_COLUMNS} FROM passages WHERE article_id = ? ORDER BY ordinal",
                          (article_id,))
        return [_passage(r) for r in rows]

    def lexical_search(self, query: LexicalQuery, limit: int, where: ArticleFilter | None = None,
                       headlines: bool = False) -> list[tuple[int, float]]:
        """``[(passage_id, bm25)]`` best first (FTS5's bm25 is lower-is-better; returned negated); with
        ``headlines``, articles ranked by their headline alone, each as its lead passage.

        With a filter, the best ``4 * limit`` matches are ranked first and filtered after, which halves the
        time on a large index; only when that leaves too few is the filter applied to every match."""
        match = fts_match(query)
        if not match:
            return []
        sql_where, params = _filter_sql(where)
        table = "titles_fts" if headlines else "passages_fts"
        rank = "bm25(titles_fts)" if headlines else f"bm25(passages_fts, {TITLE_WEIGHT}, 1.0)"
        top = f"SELECT rowid, -{rank} AS s FROM {table} WHERE {table} MATCH ? ORDER BY {rank} LIMIT ?"
        try:
            if not sql_where:
                return [(r[0], r[1]) for r in self.query(top, [match, limit])]
            join = "JOIN passages p ON p.passage_id = f.rowid JOIN articles a ON a.article_id = p.article_id"
            found = self.query(f"SELECT f.rowid, f.s FROM ({top}) f {join} WHERE {sql_where} ORDER BY f.s DESC "
                               "LIMIT ?", [match, 4 * limit, *params, limit])
            if len(found) < limit:
                found = self.query(f"SELECT f.rowid, -{rank} AS s FROM {table} f {join} WHERE {table} "
                                   f"MATCH ? AND {sql_where} ORDER BY {rank} LIMIT ?", [match, *params, limit])
            return [(r[0], r[1]) for r in found]
        except sqlite3.OperationalError:
            return []

    # --- embeddings -------------------------------------------------------------------------------------
    def cached_vectors(self, model: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(hashes))
        for chunk in batched(unique):
            rows = self.query(f"SELECT text_hash, vector FROM embeddings WHERE model = ? AND text_hash IN "
                              f"({','.join('?' * len(chunk))})", [model, *chunk])
            out.update({h: np.frombuffer(v, dtype=np.float32) for h, v in rows})
        return out

    def put_vectors(self, db: sqlite3.Connection, model: str, vectors: dict[str, np.ndarray]) -> None:
        db.executemany("INSERT OR IGNORE INTO embeddings VALUES (?, ?, ?)",
                       [(model, h, v.astype(np.float32).tobytes()) for h, v in vectors.items()])

    def indexed_vectors(self, model: str) -> tuple[np.ndarray, np.ndarray]:
        """``(passage_ids int64 [n], vectors float32 [n, dim])`` of every passage that has a dense vector."""
        rows = self.query("SELECT p.passage_id, e.vector FROM passages p JOIN embeddings e "
                          "ON e.model = ? AND e.text_hash = p.embed_hash ORDER BY p.passage_id", (model,))
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        return ids, np.vstack([np.frombuffer(r[1], dtype=np.float32) for r in rows])

    # --- near duplicates --------------------------------------------------------------------------------
    def lsh_candidates(self, db: sqlite3.Connection, buckets: Sequence[int]) -> list[tuple[str, str, bytes]]:
        """``(article_id, group_id, signature)`` of articles sharing any LSH bucket, as ``db`` sees them."""
        if not buckets:
            return []
        clauses = " OR ".join("(l.band = ? AND l.bucket = ?)" for _ in buckets)
        params = [x for band, bucket in enumerate(buckets) for x in (band, bucket)]
        with self._lock:
            return db.execute(f"SELECT DISTINCT a.article_id, a.group_id, a.signature FROM lsh l JOIN articles a "
                              f"ON a.article_id = l.article_id WHERE {clauses}", params).fetchall()

    def insert_lsh(self, db: sqlite3.Connection, article_id: str, buckets: Sequence[int]) -> None:
        db.executemany("INSERT INTO lsh VALUES (?, ?, ?)", [(b, k, article_id) for b, k in enumerate(buckets)])

    def vacuum(self) -> None:
        """Rewrite the file without its free pages (after deletions) and empty the write-ahead log."""
        with self._lock:
            self.db.execute("VACUUM")
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # --- stats ------------------------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        (articles,), = self.query("SELECT COUNT(*) FROM articles")
        (passages,), = self.query("SELECT COUNT(*) FROM passages")
        (dense,), = self.query("SELECT COUNT(*) FROM passages WHERE embed_hash IS NOT NULL")
        (groups,), = self.query("SELECT COUNT(DISTINCT group_id) FROM articles")
        return {"articles": articles, "passages": passages, "dense_passages": dense, "story_groups": groups}

    def sources(self) -> list[tuple[str, int]]:
        return self.query("SELECT source, COUNT(*) FROM articles WHERE source != '' GROUP BY source "
                          "ORDER BY COUNT(*) DESC, source")

    def date_range(self) -> tuple[str | None, str | None]:
        (lo, hi), = self.query("SELECT MIN(published), MAX(published) FROM articles")
        return lo, hi


def fts_match(query: LexicalQuery) -> str:
    """An FTS5 MATCH expression: every term as a quoted phrase, OR-ed (BM25 ranks by how many match), and the
    phrase, when there is one, required."""
    terms = " OR ".join('"' + t.replace('"', "") + '"' for t in query.terms)
    if not terms or not query.phrase:
        return terms
    return '"' + " ".join(query.phrase).replace('"', "") + f'" AND ({terms})'


def _filter_sql(where: ArticleFilter | None) -> tuple[str, list]:
    """The filter as SQL on ``a.`` (articles) columns, with its parameters."""
    if where is None:
        return "", []
    clauses: list[str] = []
    params: list = []
    if where.latest:
        clauses.append("(a.published IS NULL OR a.published <= ?)")
        params.append(where.latest)
    if where.since:
        clauses.append("a.published >= ?")
        params.append(where.since)
    if where.dated_only:
        clauses.append("a.published IS NOT NULL")
    if where.sources:
        clauses.append(f"a.source IN ({','.join('?' * len(where.sources))})")
        params += list(where.sources)
    return " AND ".join(clauses), params
