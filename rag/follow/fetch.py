"""Polite conditional GETs: validators from the last answer, one request at a time per host, the app's SSRF
guard (``rag.ingest.url``), timeouts and size caps, and the delay a 429 / 503 asks for."""

from __future__ import annotations

import email.utils
import threading
import time
from contextlib import contextmanager
from urllib.parse import urlparse

from rag.ingest.url import Response, fetch_response

MAX_RETRY_AFTER_S = 24 * 3600


def conditional_get(url: str, etag: str, last_modified: str, timeout_s: float, max_bytes: int,
                    allow_private: bool) -> Response:
    """The answer to a GET that sends ``If-None-Match`` / ``If-Modified-Since`` when there are validators (a
    304 means nothing changed); raises InputError when no answer came."""
    headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml, text/xml, text/html;q=0.9, "
                         "*/*;q=0.5"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return fetch_response(url, timeout_s, max_bytes, allow_private, headers)


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP date), capped at a day; None when
    absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_S)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return min(max(when.timestamp() - (now or time.time()), 0.0), MAX_RETRY_AFTER_S)


class HostGate:
    """One request at a time per host, at least ``gap_s`` apart."""

    def __init__(self, gap_s: float = 1.0) -> None:
        self.gap_s = gap_s
        self._locks: dict[str, threading.Lock] = {}
        self._last: dict[str, float] = {}
        self._guard = threading.Lock()

    @contextmanager
    def turn(self, url: str):  # noqa: ANN201 - a context manager
        host = (urlparse(url).hostname or "").lower()
        with self._guard:
            lock = self._locks.setdefault(host, threading.Lock())
        with lock:
            wait = self._last.get(host, 0.0) + self.gap_s - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                yield
            finally:
                self._last[host] = time.monotonic()
