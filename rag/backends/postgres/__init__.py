"""The PostgreSQL + pgvector backend: articles, passages (partitioned by month, with their full-text rows and
HNSW-indexed half-precision vectors) and everything else of an index in one database; writes to the primary,
reads from a hot standby when the URL names one. See docs/postgres.md."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag.errors import RagError

if TYPE_CHECKING:
    from rag.backends.postgres.backend import PostgresBackend

INSTALL = "the PostgreSQL backend needs psycopg: pip install 'newsrag[postgres]'"


def open_postgres(url: str, create: bool = False) -> PostgresBackend:
    """The index in the database at ``url`` (``postgresql://user:password@host:port/db``, several ``host:port``
    for a primary and its standbys); ``create`` makes the schema where there is none (else IndexMissingError)."""
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError as err:
        raise RagError(f"{INSTALL} ({err})") from err
    from rag.backends.postgres.backend import PostgresBackend

    return PostgresBackend(url, create)


__all__ = ["INSTALL", "open_postgres"]
