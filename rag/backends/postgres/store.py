"""The PostgreSQL backend's ``Store`` (rag/backends/base.py): articles, passages with their full-text rows and
vectors, the embedding cache, near-duplicate buckets, raw-input hashes and the feed poller's state.

Writes run in one transaction on the primary (``transaction()``); passages and cached vectors go in by binary
COPY. Reads take a pooled connection (a standby's when there is one) and are safe from any number of threads.
Semantics follow the local store's exactly (copies without passages, raw hashes of copies dropped with their
original, headlines as ordinal-0 passages, group members newest first).
"""

from __future__ import annotations

import json
import logging
import re
import struct
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any

import numpy as np

from rag.backends.base import ArticleFilter, LexicalQuery, StoredArticle, batched
from rag.backends.postgres import schema
from rag.backends.postgres.connection import Connections
from rag.backends.postgres.lexical import lexical_sql
from rag.errors import RagError
from rag.types import Article, ArticleInfo, Passage

log = logging.getLogger(__name__)
_INFO = "article_id, title, url, published, source, author, group_id"
_PASSAGE = "passage_id, article_id, ordinal, span_start, span_end, text"
_FOLLOW = ("url", "etag", "last_modified", "body_hash", "last_poll", "next_poll", "errors", "last_new", "last_report")
# An article's age: its published day, else the day (UTC) it was added.
_AGE = "COALESCE(published, to_char(to_timestamp(added_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD'))"
_COPY_PASSAGES = ("COPY passages (passage_id, published, article_id, ordinal, span_start, span_end, text, "
                  "embed_hash, source, title, doc_len, title_len, embedding) FROM STDIN (FORMAT BINARY)")
_EPOCH = date(2000, 1, 1).toordinal()  # PostgreSQL's binary date: days since 2000-01-01
_UNDATED = -(2**31)  # ... and -infinity
_INT32 = struct.Struct(">i")
_WORD = re.compile(r"[^\W_]+")


def _passage(row: tuple) -> Passage:
    return Passage(row[1], row[2], row[3], row[4], row[5], row[0])


def passage_day(published: str | None) -> date | None:
    """The day an article's passages are filed under (None: undated, for a missing or unreadable date)."""
    try:
        return date.fromisoformat(published[:10]) if published else None
    except ValueError:
        return None


class PostgresStore:
    """One database; see the module's docstring. ``conns`` routes reads and writes."""

    def __init__(self, conns: Connections) -> None:
        self.conns = conns
        self._periods: set[date] | None = None  # periods with a partition; None: read them again
        self._period_months = schema.PARTITION_MONTHS
        self._dim_ready = False
        self._dumpers: list[type] | None = None
        self._vector_oid = 0

    def _rows(self, sql: str, params: Any = ()) -> list[tuple]:  # noqa: ANN401 - psycopg parameters
        return self.conns.query(sql, params)

    @contextmanager
    def transaction(self, bump_generation: bool = True) -> Iterator[Any]:
        """All-or-nothing write on the primary; yields the psycopg connection, in its transaction."""
        with self.conns.writing() as conn:
            try:
                with conn.transaction():
                    yield conn
                    if bump_generation:
                        conn.execute("UPDATE meta SET value = (value::bigint + 1)::text WHERE key = 'generation' "
                                     "RETURNING value")
            except BaseException:
                self._periods = None  # partitions made in the transaction are gone with it
                self._dim_ready = False
                raise

    # --- meta -------------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        rows = self._rows("SELECT value FROM meta WHERE key = %s", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, tx: Any, key: str, value: str) -> None:  # noqa: ANN401 - a psycopg connection
        tx.execute("INSERT INTO meta VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                   (key, value))

    def generation(self) -> int:
        return int(self.get_meta("generation") or 0)

    # --- articles ---------------------------------------------------------------------------------------
    def existing(self, article_ids: Iterable[str]) -> dict[str, str]:
        ids = list(article_ids)
        if not ids:
            return {}
        return dict(self._rows("SELECT article_id, text_hash FROM articles WHERE article_id = ANY(%s)", (ids,)))

    def stored_text_hash(self, article_id: str) -> str | None:
        rows = self._rows("SELECT text_hash FROM articles a WHERE article_id = %s AND EXISTS "
                          "(SELECT 1 FROM passages p WHERE p.article_id = a.article_id)", (article_id,))
        return rows[0][0] if rows else None

    def hash_owner(self, text_hash: str) -> str | None:
        rows = self._rows("SELECT a.article_id FROM articles a WHERE a.text_hash = %s AND EXISTS "
                          "(SELECT 1 FROM passages p WHERE p.article_id = a.article_id) LIMIT 1", (text_hash,))
        return rows[0][0] if rows else None

    def orphaned_copies(self, article_ids: Iterable[str]) -> set[str]:
        ids = list(article_ids)
        if not ids:
            return set()
        return {r[0] for r in self._rows(
            "SELECT a.article_id FROM articles a WHERE a.article_id = ANY(%s) "
            "AND NOT EXISTS (SELECT 1 FROM passages p WHERE p.article_id = a.article_id) "
            "AND NOT EXISTS (SELECT 1 FROM articles o JOIN passages p ON p.article_id = o.article_id "
            "WHERE o.text_hash = a.text_hash)", (ids,))}

    def group_of(self, tx: Any, article_id: str) -> str | None:  # noqa: ANN401 - a psycopg connection
        row = tx.execute("SELECT group_id FROM articles WHERE article_id = %s", (article_id,)).fetchone()
        return row[0] if row else None

    def insert_article(self, tx: Any, article: Article, text_hash: str, group_id: str,  # noqa: ANN401
                       signature: bytes | None, added_at: float | None = None) -> None:
        tx.execute("INSERT INTO articles VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                   (article.article_id, article.title, article.url, article.published, article.source,
                    article.author, json.dumps(article.metadata, ensure_ascii=False, default=str), article.text,
                    text_hash, group_id, signature, time.time() if added_at is None else added_at))

    def insert_passages(self, tx: Any, article: Article, passages: Sequence[Passage],  # noqa: ANN401
                        embed_hashes: Sequence[str | None], vectors: dict[str, np.ndarray]) -> list[int]:
        """One binary COPY of the passages, each with its vector (``vectors[embed_hash]``) beside it."""
        if not passages:
            return []
        day = passage_day(article.published)
        if day is not None:
            if self._periods is None:
                self._periods = schema.known_partitions(tx)
                self._period_months = int(tx.execute("SELECT value FROM meta WHERE key = 'partition_months'")
                                          .fetchone()[0])
                if 12 % self._period_months:
                    raise RagError(f"meta partition_months of {self.conns.location} is {self._period_months}: "
                                   "give 1, 2, 3, 4, 6 or 12")
            schema.ensure_partitions(tx, [schema.period_of(day, self._period_months)], self._period_months,
                                     self._periods)
        dims = {len(vectors[h]) for h in embed_hashes if h is not None}
        if dims and not self._dim_ready:
            schema.ensure_dim(tx, dims.pop())
            self._dim_ready = True
        ids = [r[0] for r in tx.execute("SELECT nextval('passage_ids') FROM generate_series(1, %s)",
                                        (len(passages),)).fetchall()]
        published = _UNDATED if day is None else day.toordinal() - _EPOCH
        title_words = word_count(article.title)
        lengths = [title_words + word_count(p.text) for p in passages]
        with tx.cursor() as cur:
            self._register_dumpers(cur)
            with cur.copy(_COPY_PASSAGES) as copy:
                copy.set_types(["int8", "date", "text", "int4", "int4", "int4", "text", "text", "text", "text",
                                "int4", "int4", self._vector_oid])
                for pid, passage, embed_hash, words in zip(ids, passages, embed_hashes, lengths, strict=True):
                    vec = None if embed_hash is None else _vector_bytes(vectors[embed_hash])
                    copy.write_row((pid, published, article.article_id, passage.ordinal, passage.start,
                                    passage.end, passage.text, embed_hash, article.source, article.title, words,
                                    title_words, vec))
        heads = [title_words for p in passages if p.ordinal == 0]
        _count_lexical(tx, len(passages), sum(lengths), len(heads), sum(heads))
        return ids

    def _register_dumpers(self, cur: Any) -> None:  # noqa: ANN401 - a psycopg cursor
        """Binary dumpers for the COPY: the day as PostgreSQL's int32 (so -infinity fits), the vector as bytes
        already in vector's wire format."""
        if self._dumpers is None:
            from psycopg.adapt import Dumper
            from psycopg.pq import Format

            self._vector_oid = cur.execute("SELECT 'vector'::regtype::oid").fetchone()[0]

            def raw(self: Any, obj: bytes) -> bytes:  # noqa: ANN401
                return obj

            def day(self: Any, obj: int) -> bytes:  # noqa: ANN401
                return _INT32.pack(obj)

            self._dumpers = [type("VectorDumper", (Dumper,), {"format": Format.BINARY, "oid": self._vector_oid,
                                                           "dump": raw}),
                             type("DayDumper", (Dumper,), {"format": Format.BINARY, "oid": 1082, "dump": day})]
        for dumper in self._dumpers:
            cur.adapters.register_dumper(None, dumper)

    def delete_articles(self, tx: Any, article_ids: Sequence[str]) -> list[int]:  # noqa: ANN401
        """Delete articles with their passages, LSH rows and raw hashes, and the raw hashes of the copies of their
        text (the next ingest reads those again and gives them the passages); returns the passage ids removed."""
        ids = list(article_ids)
        if not ids:
            return []
        tx.execute("DELETE FROM raw_inputs WHERE article_id IN (SELECT c.article_id FROM articles c JOIN articles a "
                   "ON a.text_hash = c.text_hash WHERE a.article_id = ANY(%s) AND c.article_id <> a.article_id)",
                   (ids,))
        rows = tx.execute("DELETE FROM passages WHERE article_id = ANY(%s) RETURNING passage_id, doc_len, ordinal, "
                          "title_len", (ids,)).fetchall()
        tx.execute("DELETE FROM articles WHERE article_id = ANY(%s)", (ids,))  # lsh and raw_inputs cascade
        heads = [r[3] for r in rows if r[2] == 0]
        _count_lexical(tx, -len(rows), -sum(r[1] for r in rows), -len(heads), -sum(heads))
        return sorted(r[0] for r in rows)

    def drop_unused_vectors(self, tx: Any) -> None:  # noqa: ANN401
        tx.execute("DELETE FROM embeddings e WHERE NOT EXISTS (SELECT 1 FROM passages p "
                   "WHERE p.embed_hash = e.text_hash)")

    def article_ids_where(self, *, urls: Sequence[str] = (), sources: Sequence[str] = (),
                          since: str | None = None, until: str | None = None) -> list[str]:
        clauses, params = [], []
        for column, values in (("url", urls), ("source", sources)):
            if values:
                clauses.append(f"{column} = ANY(%s)")
                params.append(list(values))
        for op, day in ((">=", since), ("<=", until)):
            if day:
                clauses.append(f"published {op} %s")
                params.append(day)
        if not clauses:
            return []
        return [r[0] for r in self._rows(f"SELECT article_id FROM articles WHERE {' AND '.join(clauses)}", params)]

    def article_ids_published_before(self, day: str) -> list[str]:
        return [r[0] for r in self._rows(f"SELECT article_id FROM articles WHERE {_AGE} < %s", (day,))]

    def oldest_article_ids(self, limit: int) -> list[str]:
        return [r[0] for r in self._rows(f"SELECT article_id FROM articles ORDER BY {_AGE}, added_at LIMIT %s",
                                         (limit,))]

    def article_infos(self, article_ids: Iterable[str]) -> dict[str, ArticleInfo]:
        ids = list(dict.fromkeys(article_ids))
        if not ids:
            return {}
        return {r[0]: ArticleInfo(*r) for r in self._rows(f"SELECT {_INFO} FROM articles WHERE article_id = ANY(%s)",
                                                           (ids,))}

    def group_members(self, group_ids: Iterable[str]) -> dict[str, list[str]]:
        """Newest first (undated last, as SQLite sorts NULL), ties by when they were added."""
        ids = list(dict.fromkeys(group_ids))
        out: dict[str, list[str]] = {}
        if not ids:
            return out
        for group_id, article_id in self._rows(
                "SELECT group_id, article_id FROM articles WHERE group_id = ANY(%s) "
                "ORDER BY published DESC NULLS LAST, added_at DESC", (ids,)):
            out.setdefault(group_id, []).append(article_id)
        return out

    def added_titles(self, article_ids: Sequence[str], since: float) -> list[tuple[float, str]]:
        ids = list(article_ids)
        if not ids:
            return []
        return [(r[0], r[1]) for r in self._rows("SELECT added_at, title FROM articles WHERE article_id = ANY(%s) "
                                                 "AND added_at >= %s ORDER BY added_at", (ids, since))]

    def recent_headlines(self, limit: int) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self._rows(
            "SELECT title, source FROM articles WHERE title <> '' ORDER BY published DESC NULLS LAST, added_at DESC "
            "LIMIT %s", (limit,))]

    def export_articles(self, batch: int = 256) -> Iterator[list[StoredArticle]]:
        """Originals (articles with passages) first, then copies, each in the order they were added."""
        for has in ("EXISTS", "NOT EXISTS"):
            ids = [r[0] for r in self._rows(f"SELECT article_id FROM articles a WHERE {has} (SELECT 1 FROM passages "
                                            "p WHERE p.article_id = a.article_id) ORDER BY added_at, article_id")]
            for chunk in batched(ids, batch):
                yield self._stored(list(chunk))

    def _stored(self, ids: list[str]) -> list[StoredArticle]:
        rows = self._rows("SELECT article_id, title, text, url, published, source, author, metadata, text_hash, "
                          "group_id, signature, added_at FROM articles WHERE article_id = ANY(%s)", (ids,))
        passages: dict[str, list[tuple]] = {}
        for r in self._rows(f"SELECT {_PASSAGE}, embed_hash FROM passages WHERE article_id = ANY(%s) "
                            "ORDER BY article_id, ordinal", (ids,)):
            passages.setdefault(r[1], []).append(r)
        raw: dict[str, list[str]] = {}
        for raw_hash, article_id in self._rows("SELECT raw_hash, article_id FROM raw_inputs WHERE article_id = "
                                               "ANY(%s) ORDER BY raw_hash COLLATE \"C\"", (ids,)):
            raw.setdefault(article_id, []).append(raw_hash)
        order = {article_id: i for i, article_id in enumerate(ids)}
        out = []
        for r in sorted(rows, key=lambda r: order[r[0]]):
            article = Article(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7])
            mine = passages.get(r[0], [])
            out.append(StoredArticle(article, r[8], r[9], None if r[10] is None else bytes(r[10]), r[11],
                                     tuple(_passage(p[:6]) for p in mine), tuple(p[6] for p in mine),
                                     tuple(raw.get(r[0], []))))
        return out

    # --- the feed poller's state ------------------------------------------------------------------------
    def follow_rows(self) -> list[dict[str, Any]]:
        return [dict(zip(_FOLLOW, r, strict=True))
                for r in self._rows(f"SELECT {', '.join(_FOLLOW)} FROM follow_sources ORDER BY url COLLATE \"C\"")]

    def follow_row(self, url: str) -> dict[str, Any] | None:
        rows = self._rows(f"SELECT {', '.join(_FOLLOW)} FROM follow_sources WHERE url = %s", (url,))
        return dict(zip(_FOLLOW, rows[0], strict=True)) if rows else None

    def put_follow_row(self, row: dict[str, Any]) -> None:
        updates = ", ".join(f"{c} = excluded.{c}" for c in _FOLLOW[1:])
        with self.transaction(bump_generation=False) as tx:
            tx.execute(f"INSERT INTO follow_sources ({', '.join(_FOLLOW)}) VALUES ({', '.join(['%s'] * len(_FOLLOW))}) "
                       f"ON CONFLICT (url) DO UPDATE SET {updates}", [row[c] for c in _FOLLOW])

    # --- raw input hashes -------------------------------------------------------------------------------
    def raw_known(self, raw_hash: str) -> bool:
        return bool(self._rows("SELECT 1 FROM raw_inputs WHERE raw_hash = %s", (raw_hash,)))

    def record_raw(self, tx: Any, pairs: Iterable[tuple[str, str]]) -> None:  # noqa: ANN401
        """Insert or replace (the last pair of a hash wins) the pairs whose article is stored."""
        latest = dict(pairs)
        if not latest:
            return
        tx.execute("INSERT INTO raw_inputs (raw_hash, article_id) SELECT t.h, t.a FROM unnest(%s::text[], %s::text[]) "
                   "AS t(h, a) WHERE EXISTS (SELECT 1 FROM articles WHERE article_id = t.a) "
                   "ON CONFLICT (raw_hash) DO UPDATE SET article_id = excluded.article_id",
                   (list(latest), list(latest.values())))

    # --- passages and full text -------------------------------------------------------------------------
    def passages(self, passage_ids: Iterable[int]) -> dict[int, Passage]:
        ids = list(dict.fromkeys(int(p) for p in passage_ids))
        if not ids:
            return {}
        return {r[0]: _passage(r) for r in self._rows(f"SELECT {_PASSAGE} FROM passages WHERE passage_id = ANY(%s)",
                                                       (ids,))}

    def article_passages(self, article_id: str) -> list[Passage]:
        return [_passage(r) for r in self._rows(f"SELECT {_PASSAGE} FROM passages WHERE article_id = %s "
                                                "ORDER BY ordinal", (article_id,))]

    def passage_articles(self, passage_ids: Iterable[int]) -> dict[int, tuple[str, bool]]:
        ids = list(dict.fromkeys(int(p) for p in passage_ids))
        if not ids:
            return {}
        return {r[0]: (r[1], r[2]) for r in self._rows(
            "SELECT passage_id, article_id, embed_hash IS NOT NULL FROM passages WHERE passage_id = ANY(%s)", (ids,))}

    def lexical_search(self, query: LexicalQuery, limit: int, where: ArticleFilter | None = None,
                       headlines: bool = False) -> list[tuple[int, float]]:
        """``[(passage_id, ts_rank_cd score)]`` best first; see rag/backends/postgres/lexical.py."""
        built = lexical_sql(query, limit, where, headlines)
        if built is None:
            return []
        return [(r[0], float(r[1])) for r in self._rows(*built)]

    # --- embeddings and near duplicates -----------------------------------------------------------------
    def cached_vectors(self, model: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        unique = list(dict.fromkeys(hashes))
        if not unique:
            return {}
        return {h: np.frombuffer(v, dtype=np.float32) for h, v in self._rows(
            "SELECT text_hash, vector FROM embeddings WHERE model = %s AND text_hash = ANY(%s)", (model, unique))}

    def put_vectors(self, tx: Any, model: str, vectors: dict[str, np.ndarray]) -> None:  # noqa: ANN401
        """COPY into a temporary table, then insert the ones not cached yet (float32, exactly as given)."""
        if not vectors:
            return
        tx.execute("CREATE TEMP TABLE IF NOT EXISTS embeddings_in (LIKE embeddings) ON COMMIT DELETE ROWS")
        with tx.cursor() as cur, cur.copy("COPY embeddings_in FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["text", "text", "bytea"])
            for text_hash, vec in vectors.items():
                copy.write_row((model, text_hash, np.asarray(vec, dtype=np.float32).tobytes()))
        tx.execute("INSERT INTO embeddings SELECT * FROM embeddings_in ON CONFLICT DO NOTHING")
        tx.execute("TRUNCATE embeddings_in")

    def indexed_vectors(self, model: str) -> tuple[np.ndarray, np.ndarray]:
        rows = self._rows("SELECT p.passage_id, e.vector FROM passages p JOIN embeddings e ON e.model = %s "
                          "AND e.text_hash = p.embed_hash ORDER BY p.passage_id", (model,))
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        return ids, np.vstack([np.frombuffer(r[1], dtype=np.float32) for r in rows])

    def lsh_candidates(self, tx: Any, buckets: Sequence[int]) -> list[tuple[str, str, bytes]]:  # noqa: ANN401
        if not buckets:
            return []
        rows = tx.execute("SELECT DISTINCT a.article_id, a.group_id, a.signature FROM lsh l JOIN articles a "
                          "ON a.article_id = l.article_id JOIN unnest(%s::int[], %s::bigint[]) AS b(band, bucket) "
                          "ON l.band = b.band AND l.bucket = b.bucket",
                          (list(range(len(buckets))), [int(b) for b in buckets])).fetchall()
        return [(r[0], r[1], None if r[2] is None else bytes(r[2])) for r in rows]

    def insert_lsh(self, tx: Any, article_id: str, buckets: Sequence[int]) -> None:  # noqa: ANN401
        tx.execute("INSERT INTO lsh SELECT b.band - 1, b.bucket, %s FROM unnest(%s::bigint[]) "
                   "WITH ORDINALITY AS b(bucket, band)", (article_id, [int(b) for b in buckets]))

    # --- stats and upkeep -------------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        (articles, passages, dense, groups), = self._rows(
            "SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM passages), "
            "(SELECT count(*) FROM passages WHERE embed_hash IS NOT NULL), "
            "(SELECT count(DISTINCT group_id) FROM articles)")
        return {"articles": articles, "passages": passages, "dense_passages": dense, "story_groups": groups}

    def sources(self) -> list[tuple[str, int]]:
        return [(r[0], r[1]) for r in self._rows(
            "SELECT source, count(*) FROM articles WHERE source <> '' GROUP BY source "
            "ORDER BY count(*) DESC, source COLLATE \"C\"")]

    def date_range(self) -> tuple[str | None, str | None]:
        (lo, hi), = self._rows("SELECT min(published), max(published) FROM articles")
        return lo, hi

    def vacuum(self) -> None:
        """Drop the partitions retention emptied (their files and HNSW graphs go back to the system), then
        VACUUM ANALYZE (space of deleted rows is reused; the files keep their size)."""
        dropped = schema.drop_empty_partitions(self.conns)
        self._periods = None
        if dropped:
            log.info("dropped %d empty passage partitions", dropped)
        with self.conns.writing() as conn:
            for table in ("articles", "passages", "embeddings", "lsh", "raw_inputs"):
                conn.execute(f"VACUUM (ANALYZE) {table}")

    def size_bytes(self) -> int:
        """The bytes of the index's tables with their indexes and TOAST, partitions included."""
        (size,), = self._rows(
            "SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'")
        return int(size)

    def close(self) -> None:
        self.conns.close()


def word_count(text: str) -> int:
    """Words as FTS5's unicode61 tokenizer counts them (runs of letters and digits), stop words included."""
    return len(_WORD.findall(text))


def _count_lexical(tx: Any, passages: int, words: int, headlines: int, headline_words: int) -> None:  # noqa: ANN401
    """Keep the corpus sizes BM25 needs (rag/backends/postgres/lexical.py) in step with the passages."""
    tx.execute("UPDATE meta SET value = (value::bigint + CASE key WHEN 'passage_count' THEN %s WHEN 'passage_words' "
               "THEN %s WHEN 'headline_count' THEN %s ELSE %s END)::text WHERE key IN ('passage_count', "
               "'passage_words', 'headline_count', 'headline_words')", (passages, words, headlines, headline_words))


def _vector_bytes(vec: np.ndarray) -> bytes:
    """pgvector's binary vector: int16 dimensions, int16 unused, then big-endian float32s."""
    return struct.pack(">hh", len(vec), 0) + np.asarray(vec, dtype=">f4").tobytes()
