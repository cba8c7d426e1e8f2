"""What the poller remembers of each source, kept in the index's SQLite file (table ``follow_sources``), so a
restart sends conditional requests only and the app can show when each source was last read."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from rag.store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS follow_sources (
    url TEXT PRIMARY KEY, etag TEXT NOT NULL DEFAULT '', last_modified TEXT NOT NULL DEFAULT '',
    body_hash TEXT NOT NULL DEFAULT '', last_poll REAL, next_poll REAL, errors INTEGER NOT NULL DEFAULT 0,
    last_new REAL, last_report TEXT NOT NULL DEFAULT '{}');
"""


@dataclass(frozen=True)
class PollReport:
    """One poll of one source: ``status`` is the HTTP status (0 when no answer came), ``new`` / ``changed``
    articles ingested, ``skipped`` items already indexed, ``errors`` items or fetches that failed, ``message``
    the first error's text."""

    url: str
    status: int = 0
    new: int = 0
    changed: int = 0
    skipped: int = 0
    errors: int = 0
    message: str = ""
    seconds: float = 0.0
    new_titles: tuple[str, ...] = ()

    def line(self) -> str:
        """The one log line of this poll."""
        status = {0: "no answer", 304: "304 not modified"}.get(self.status, str(self.status))
        tail = f": {self.message}" if self.message else ""
        return (f"{self.url}: {status}, {self.new} new, {self.changed} changed, {self.skipped} skipped, "
                f"{self.errors} errors in {self.seconds:.2f} s{tail}")


@dataclass
class SourceState:
    """The validators of the last whole answer, the hash of its body, when the source was last polled and is
    due next, the errors in a row (for backoff), when an article last came in, and the last poll's report."""

    url: str
    etag: str = ""
    last_modified: str = ""
    body_hash: str = ""
    last_poll: float | None = None
    next_poll: float | None = None
    errors: int = 0
    last_new: float | None = None
    last_report: dict = field(default_factory=dict)


class FollowState:
    """Read and write ``SourceState`` rows in the index's store."""

    def __init__(self, store: Store, create: bool = True) -> None:
        """``create=False`` reads only (no table: no sources), so a reader never waits for the write lock."""
        self.store = store
        self.exists = bool(store.query("SELECT 1 FROM sqlite_master WHERE name = 'follow_sources'"))
        if create and not self.exists:
            with store.transaction(bump_generation=False) as db:
                db.execute(SCHEMA)
            self.exists = True

    def get(self, url: str) -> SourceState:
        rows = self.store.query(f"SELECT {_COLUMNS} FROM follow_sources WHERE url = ?", (url,))
        return _state(rows[0]) if rows else SourceState(url)

    def all(self) -> list[SourceState]:
        if not self.exists:
            return []
        return [_state(row) for row in self.store.query(f"SELECT {_COLUMNS} FROM follow_sources ORDER BY url")]

    def put(self, state: SourceState) -> None:
        row = asdict(state)
        row["last_report"] = json.dumps(state.last_report, ensure_ascii=False)
        with self.store.transaction(bump_generation=False) as db:
            db.execute(f"INSERT OR REPLACE INTO follow_sources ({', '.join(row)}) VALUES "
                       f"({', '.join('?' * len(row))})", list(row.values()))


_COLUMNS = "url, etag, last_modified, body_hash, last_poll, next_poll, errors, last_new, last_report"


def _state(row: tuple) -> SourceState:
    *head, report = row
    return SourceState(*head, last_report=json.loads(report or "{}"))
