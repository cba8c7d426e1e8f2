"""What the app's header and panel show of the followed sources: when each was last read and what came in.

Read from the index (``follow_sources``), so it is right whether the poller runs in the app or in another
process (``newsrag follow``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlparse

from rag.follow.state import FollowState


@dataclass(frozen=True)
class SourceStatus:
    url: str
    last_poll: float | None
    new: int
    changed: int
    errors: int
    message: str
    new_titles: tuple[str, ...]


def source_statuses(store) -> list[SourceStatus]:  # noqa: ANN001 - a Store
    """One entry per followed source, as of its last poll."""
    out = []
    for state in FollowState(store).all():
        r = state.last_report
        out.append(SourceStatus(state.url, state.last_poll, int(r.get("new", 0)), int(r.get("changed", 0)),
                                int(r.get("errors", 0)), str(r.get("message", "")), tuple(r.get("new_titles", ()))))
    return out


def ago(seconds: float) -> str:
    if seconds < 90:
        return f"{max(int(seconds), 0)} s ago"
    if seconds < 5400:
        return f"{round(seconds / 60)} min ago"
    if seconds < 48 * 3600:
        return f"{round(seconds / 3600)} h ago"
    return f"{round(seconds / 86400)} days ago"


def status_lines(store, now: float | None = None) -> list[str]:  # noqa: ANN001 - a Store
    """``host/path: read 3 min ago, 2 new, 1 changed (Title; Title)`` per source; empty when nothing is followed."""
    now = time.time() if now is None else now
    lines = []
    for s in source_statuses(store):
        parsed = urlparse(s.url)
        name = (parsed.netloc + parsed.path).rstrip("/")
        read = f"read {ago(now - s.last_poll)}" if s.last_poll else "not read yet"
        parts = [read, f"{s.new} new"] + ([f"{s.changed} changed"] if s.changed else [])
        if s.errors:
            parts.append(f"error: {s.message}")
        titles = f" ({'; '.join(s.new_titles)})" if s.new_titles else ""
        lines.append(f"{name}: {', '.join(parts)}{titles}")
    return lines


def status_text(store, now: float | None = None) -> str:  # noqa: ANN001 - a Store
    """The sources' lines joined for a header or panel ("" when none is followed)."""
    lines = status_lines(store, now)
    return ("Following: " + " · ".join(lines)) if lines else ""


def status_html(store, now: float | None = None) -> str:  # noqa: ANN001 - a Store
    """The sources' lines as a small HTML list for the app's header ("" when none is followed)."""
    from html import escape

    lines = status_lines(store, now)
    if not lines:
        return ""
    items = "".join(f"<li>{escape(line)}</li>" for line in lines)
    return (f'<div class="nr-follow" style="font-size:0.85rem;opacity:0.85"><strong>Following</strong>'
            f'<ul style="margin:0.2rem 0 0.4rem 1.2rem">{items}</ul></div>')
