"""The PostgreSQL schema of an index, versioned: ``meta.schema_version`` says which of ``MIGRATIONS`` ran.

Opening an index applies the missing migrations in one transaction under an advisory lock, so two processes
opening a new database at once do not both create it. Passages are partitioned by publication period
(``meta.partition_months``, 12 unless changed before the first write; a partition is made when a batch brings a
new period, see ``ensure_partitions``); undated passages carry
``published = '-infinity'`` and live in ``passages_undated``, so the filter "published on or before X, undated
ones too" is one range condition the planner prunes partitions with. The vector column gets its dimension (and
its HNSW index) at the first write that has vectors (``ensure_dim``): HNSW needs a typed dimension.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from rag.errors import IndexMismatchError, RagError

log = logging.getLogger(__name__)

# pg_advisory_lock(LOCK_SPACE, n): one namespace of advisory locks for newsrag ('news' in ASCII).
LOCK_SPACE = 0x6E657773
SCHEMA_LOCK = 1
WRITE_LOCK = 2
TS_CONFIG = "english"
UNDATED = "-infinity"  # the partition key of passages of undated articles
# Months a passage partition spans. Every search that spans all partitions pays about a millisecond a partition
# (planning, one index scan each): monthly partitions made RealTimeQA's lexical search (2,113 articles over
# 2012-2022, 120 partitions) 4 times slower than one table, yearly ones cost little. Retention drops whole
# partitions only once they are empty, so a long-running feed index with a short --keep may prefer 1.
PARTITION_MONTHS = 12

_V1 = f"""
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE articles (
    article_id text PRIMARY KEY, title text NOT NULL, url text NOT NULL, published text COLLATE "C", source text NOT NULL,
    author text NOT NULL, metadata jsonb NOT NULL, text text NOT NULL, text_hash text NOT NULL,
    group_id text NOT NULL, signature bytea, added_at double precision NOT NULL);
CREATE INDEX articles_hash ON articles (text_hash);
CREATE INDEX articles_url ON articles (url);
CREATE INDEX articles_published ON articles (published);
CREATE INDEX articles_source ON articles (source);
CREATE INDEX articles_group ON articles (group_id);
CREATE SEQUENCE passage_ids AS bigint;
-- title and source are copied from the article so that full-text rows and filters need no join; doc_len and
-- title_len count the words of title + text and of the title (BM25's document lengths, rag/backends/postgres/lexical.py).
CREATE TABLE passages (
    passage_id bigint NOT NULL, published date NOT NULL,
    article_id text NOT NULL REFERENCES articles ON DELETE CASCADE,
    ordinal integer NOT NULL, span_start integer NOT NULL, span_end integer NOT NULL, text text NOT NULL,
    embed_hash text, source text NOT NULL, title text NOT NULL, doc_len integer NOT NULL,
    title_len integer NOT NULL, embedding vector,
    tsv tsvector GENERATED ALWAYS AS (setweight(to_tsvector('{TS_CONFIG}', title), 'A')
                                      || setweight(to_tsvector('{TS_CONFIG}', text), 'D')) STORED,
    title_tsv tsvector GENERATED ALWAYS AS (
        CASE WHEN ordinal = 0 THEN to_tsvector('{TS_CONFIG}', title) END) STORED,
    PRIMARY KEY (passage_id, published)
) PARTITION BY RANGE (published);
CREATE TABLE passages_undated PARTITION OF passages FOR VALUES FROM (MINVALUE) TO ('0001-01-01');
CREATE INDEX passages_article ON passages (article_id);
CREATE INDEX passages_source ON passages (source);
CREATE INDEX passages_tsv ON passages USING gin (tsv);
CREATE INDEX passages_headline ON passages USING gin (title_tsv) WHERE ordinal = 0;
CREATE INDEX passages_embed_hash ON passages (embed_hash);
CREATE TABLE embeddings (model text NOT NULL, text_hash text NOT NULL, vector bytea NOT NULL,
                         PRIMARY KEY (model, text_hash));
CREATE TABLE lsh (band integer NOT NULL, bucket bigint NOT NULL,
                  article_id text NOT NULL REFERENCES articles ON DELETE CASCADE);
CREATE INDEX lsh_bucket ON lsh (band, bucket);
CREATE INDEX lsh_article ON lsh (article_id);
CREATE TABLE raw_inputs (raw_hash text PRIMARY KEY,
                         article_id text NOT NULL REFERENCES articles ON DELETE CASCADE);
CREATE INDEX raw_inputs_article ON raw_inputs (article_id);
CREATE TABLE follow_sources (
    url text PRIMARY KEY, etag text NOT NULL DEFAULT '', last_modified text NOT NULL DEFAULT '',
    body_hash text NOT NULL DEFAULT '', last_poll double precision, next_poll double precision,
    errors integer NOT NULL DEFAULT 0, last_new double precision, last_report text NOT NULL DEFAULT '{{}}');
INSERT INTO meta (key, value) VALUES ('generation', '0'), ('partition_months', '{PARTITION_MONTHS}'),
    ('passage_count', '0'), ('passage_words', '0'), ('headline_count', '0'), ('headline_words', '0');
"""

# Each entry upgrades the schema by one version; never edit a released one, append a new one.
MIGRATIONS: list[Callable[[Any], None]] = [
    lambda conn: conn.execute(_V1),
]
SCHEMA_VERSION = len(MIGRATIONS)


def has_schema(conn: Any) -> bool:  # noqa: ANN401 - a psycopg connection
    return conn.execute("SELECT to_regclass('meta') IS NOT NULL").fetchone()[0]


def migrate(conn: Any) -> int:  # noqa: ANN401 - a psycopg connection on the primary
    """Bring the schema to ``SCHEMA_VERSION``; returns the version found before. Raises IndexMismatchError for
    a database written by a newer newsrag."""
    import psycopg

    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_SPACE, SCHEMA_LOCK))
        conn.execute("CREATE TABLE IF NOT EXISTS meta (key text PRIMARY KEY, value text NOT NULL)")
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        found = int(row[0]) if row else 0
        if found > SCHEMA_VERSION:
            raise IndexMismatchError(f"the index's schema is version {found}, this newsrag knows up to "
                                     f"{SCHEMA_VERSION}: upgrade newsrag")
        for version in range(found, SCHEMA_VERSION):
            log.info("upgrading the index schema to version %d", version + 1)
            try:
                MIGRATIONS[version](conn)
            except psycopg.errors.InsufficientPrivilege as err:
                raise RagError(f"cannot create the index schema (version {version + 1}): {err}. The database "
                               "user needs CREATE on the database and the pgvector extension "
                               "(CREATE EXTENSION vector, run once by a superuser)") from err
            except psycopg.errors.UndefinedFile as err:
                raise RagError(f"pgvector is not installed on the server: {err}") from err
        if found != SCHEMA_VERSION:
            conn.execute("INSERT INTO meta VALUES ('schema_version', %s) ON CONFLICT (key) DO UPDATE "
                         "SET value = excluded.value", (str(SCHEMA_VERSION),))
    return found


def period_of(day: date, months: int) -> date:
    """The first day of the partition period (``months`` long, counted from January) holding ``day``."""
    return date(day.year, (day.month - 1) // months * months + 1, 1)


def _add_months(start: date, months: int) -> date:
    index = start.year * 12 + start.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def ensure_partitions(tx: Any, starts: Iterable[date], months: int, known: set[date]) -> None:  # noqa: ANN401
    """Make the partitions of the periods starting at ``starts`` not in ``known`` (which it extends), inside the
    transaction.

    CREATE TABLE + ATTACH PARTITION rather than CREATE TABLE ... PARTITION OF: the latter holds an ACCESS
    EXCLUSIVE lock on ``passages`` until the write commits, which would stall every search meanwhile; ATTACH
    takes SHARE UPDATE EXCLUSIVE, which readers and the indexes' own writes pass."""
    for start in sorted(set(starts) - known):
        name = f"passages_{start.year:04d}_{start.month:02d}"
        exists = tx.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()[0]
        if not exists:
            upper = _add_months(start, months)
            tx.execute(f"CREATE TABLE {name} (LIKE passages INCLUDING DEFAULTS INCLUDING GENERATED "
                       f"INCLUDING CONSTRAINTS, CHECK (published >= '{start}' AND published < '{upper}'))")
            tx.execute(f"ALTER TABLE passages ATTACH PARTITION {name} FOR VALUES FROM ('{start}') TO ('{upper}')")
        known.add(start)


def known_partitions(conn: Any) -> set[date]:  # noqa: ANN401 - psycopg
    """The first days of the periods that have a partition already."""
    rows = conn.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                        "WHERE i.inhparent = 'passages'::regclass").fetchall()
    out = set()
    for (name,) in rows:
        parts = name.split("_")
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            out.add(date(int(parts[1]), int(parts[2]), 1))
    return out


def drop_empty_partitions(conns: Any) -> int:  # noqa: ANN401 - a Connections
    """Drop the partitions that hold no passage (after retention), each in a short transaction of its own
    that gives up rather than wait for searches (DROP locks ``passages`` exclusively for a moment); returns how
    many went."""
    import psycopg

    dropped = 0
    with conns.writing() as conn:
        for start in sorted(known_partitions(conn)):
            name = f"passages_{start.year:04d}_{start.month:02d}"
            try:
                with conn.transaction():
                    conn.execute("SET LOCAL lock_timeout = '2s'")
                    if conn.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {name})").fetchone()[0]:
                        conn.execute(f"DROP TABLE {name}")
                        dropped += 1
            except psycopg.errors.LockNotAvailable:
                log.info("partition %s is busy; it stays until the next retention", name)
    return dropped


def ensure_dim(tx: Any, dim: int) -> None:  # noqa: ANN401 - psycopg
    """Type the vector column ``vector(dim)`` and build its HNSW index, once, at the first write with vectors
    (the ALTER takes an exclusive lock on passages, until that write commits). Raises IndexMismatchError when the
    column holds another dimension.

    The column keeps float32 (searches re-rank their candidates exactly, in FAISS's order); the HNSW graphs index
    it at half precision (``halfvec``), half the size. Inner product on normalized vectors ranks as cosine."""
    row = tx.execute("SELECT value FROM meta WHERE key = 'vector_dim'").fetchone()
    if row:
        if int(row[0]) != dim:
            raise IndexMismatchError(f"the index holds {row[0]}-dimensional vectors, not {dim}")
        return
    dim = int(dim)
    tx.execute(f"ALTER TABLE passages ALTER COLUMN embedding TYPE vector({dim})")
    tx.execute(f"CREATE INDEX passages_embedding ON passages USING hnsw ((embedding::halfvec({dim})) halfvec_ip_ops)")
    tx.execute("INSERT INTO meta VALUES ('vector_dim', %s)", (str(dim),))
