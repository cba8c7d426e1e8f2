"""What the poller remembers of each source, kept in the index's store (``follow_rows``), so a restart sends
conditional requests only and the app can show when each source was last read."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from rag.backends.base import Store


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

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, url: str) -> SourceState:
        row = self.store.follow_row(url)
        return _state(row) if row else SourceState(url)

    def all(self) -> list[SourceState]:
        return [_state(row) for row in self.store.follow_rows()]

    def put(self, state: SourceState) -> None:
        row = asdict(state)
        row["last_report"] = json.dumps(state.last_report, ensure_ascii=False)
        self.store.put_follow_row(row)


def _state(row: dict) -> SourceState:
    return SourceState(**{**row, "last_report": json.loads(row.get("last_report") or "{}")})
