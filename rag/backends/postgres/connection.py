"""Connections to an index's database: writes to the primary, reads to a hot standby when there is one.

The URL is libpq's (``postgresql://user:password@host:port/db?options``, ``postgres://`` too). Given several
hosts (``postgresql://u@primary:5432,standby:5432/db``), writes connect with ``target_session_attrs=read-write``
(whichever host is the primary now) and reads with ``prefer-standby`` (a standby when one answers, else the
primary). Reads go to the primary while this process holds the write lock, so a writer never reads a standby
that has not replayed its own last batch yet.

Both pools are ``psycopg_pool.ConnectionPool``s of autocommit connections, opened on first use: a reader on a
standby starts and answers while the primary is down.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from rag.errors import RagError

log = logging.getLogger(__name__)
READ_POOL_SIZE = 8  # the app answers 4 questions at once, each with a lexical and a dense search in parallel
WRITE_POOL_SIZE = 2
CONNECT_TIMEOUT_S = 10


def public_url(url: str) -> str:
    """``url`` without its password, for messages and ``Backend.location``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[1]}"))


def _with_option(url: str, key: str, value: str) -> str:
    """``url`` with ``key=value`` among its query options (replacing one given there)."""
    parts = urlsplit(url)
    options = [o for o in parts.query.split("&") if o and not o.startswith(key + "=")]
    return urlunsplit(parts._replace(query="&".join([*options, f"{key}={value}"])))


class Connections:
    """The read pool, the write pool and the dedicated connections of one backend; thread-safe."""

    def __init__(self, url: str, read_pool_size: int = READ_POOL_SIZE) -> None:
        self.url = url
        self.location = public_url(url)
        self.write_url = _with_option(url, "target_session_attrs", "read-write")
        self.read_url = _with_option(url, "target_session_attrs", "prefer-standby")
        self._sizes = {"read": read_pool_size, "write": WRITE_POOL_SIZE}
        self._pools: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._primary_reads = 0  # > 0 while this process writes: reads go to the primary
        self.application_name = f"newsrag {socket.gethostname()} pid {os.getpid()}"[:63]

    def _kwargs(self) -> dict[str, Any]:
        return {"autocommit": True, "application_name": self.application_name,
                "connect_timeout": CONNECT_TIMEOUT_S}

    def _pool(self, kind: str) -> Any:  # noqa: ANN401 - a psycopg_pool.ConnectionPool
        pool = self._pools.get(kind)
        if pool is not None:
            return pool
        with self._lock:
            if kind not in self._pools:
                from psycopg_pool import ConnectionPool

                url = self.write_url if kind == "write" else self.read_url
                self._pools[kind] = ConnectionPool(url, kwargs=self._kwargs(), min_size=1,
                                                   max_size=self._sizes[kind], open=True, name=f"newsrag-{kind}",
                                                   timeout=CONNECT_TIMEOUT_S * 3)
            return self._pools[kind]

    @contextmanager
    def reading(self) -> Iterator[Any]:
        """A connection for a read: the standby's, unless this process is writing."""
        kind = "write" if self._primary_reads else "read"
        with self._translated(kind), self._pool(kind).connection() as conn:
            yield conn

    def query(self, sql: str, params: Any = (), settings: dict[str, str] | None = None) -> list[tuple]:  # noqa: ANN401
        """The rows of one read, tried twice: a standby cancels a query that conflicts with what it replays, and
        a pooled connection may have died with its server. A read that finds no table where the primary just made
        one (a standby still replaying a new index's schema) is read again on the primary. ``settings`` are set
        for this query only."""
        import psycopg

        for attempt in (1, 2):
            try:
                with self.reading() as conn:
                    return _run(conn, sql, params, settings)
            except psycopg.errors.UndefinedTable:
                if self._primary_reads:
                    raise
                # The read pool's connections may sit on different servers (prefer-standby falls back to the
                # primary when a standby does not answer): CI saw a new index's meta table on one and not the other.
                log.info("a read of %s found no table on a standby; reading the primary", self.location)
                with self._translated("write"), self._pool("write").connection() as conn:
                    return _run(conn, sql, params, settings)
            except RagError as err:
                if attempt == 2 or not isinstance(err.__cause__, psycopg.OperationalError):
                    raise
                log.info("retrying a read of %s: %s", self.location, err)
        raise AssertionError("unreachable")

    @contextmanager
    def writing(self) -> Iterator[Any]:
        """A connection to the primary."""
        with self._translated("write"), self._pool("write").connection() as conn:
            yield conn

    @contextmanager
    def primary_reads(self) -> Iterator[None]:
        with self._lock:
            self._primary_reads += 1
        try:
            yield
        finally:
            with self._lock:
                self._primary_reads -= 1

    def connect(self, primary: bool = True) -> Any:  # noqa: ANN401 - a psycopg.Connection
        """A connection of its own (the write lock's, the schema's), outside the pools."""
        import psycopg

        try:
            return psycopg.connect(self.write_url if primary else self.read_url, **self._kwargs())
        except psycopg.OperationalError as err:
            raise RagError(f"cannot connect to {self.location}: {_first_line(err)}") from err

    @contextmanager
    def _translated(self, kind: str) -> Iterator[None]:
        """Connection failures as RagError naming the database (the CLI and the app show RagErrors)."""
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            yield
        except PoolTimeout as err:
            what = "the primary" if kind == "write" else "any server"
            raise RagError(f"cannot connect to {what} of {self.location}: {_first_line(err)}") from err
        except psycopg.OperationalError as err:
            if isinstance(err, psycopg.errors.LockNotAvailable | psycopg.errors.QueryCanceled):
                raise
            raise RagError(f"the database {self.location} failed: {_first_line(err)}") from err

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()


def _run(conn: Any, sql: str, params: Any, settings: dict[str, str] | None) -> list[tuple]:  # noqa: ANN401
    """The rows of ``sql`` on ``conn``, with ``settings`` set for this query only."""
    if not settings:
        return conn.execute(sql, params).fetchall()
    with conn.transaction():
        for name, value in settings.items():
            conn.execute("SELECT set_config(%s, %s, true)", (name, value))
        return conn.execute(sql, params).fetchall()


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
