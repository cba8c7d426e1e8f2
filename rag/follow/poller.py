"""Polling rounds: each due source is fetched with its validators, its new and changed items are ingested, and
its state and one report line are recorded; errors back off, and one failing source never stops the others.

    poller = Poller(index, sources, FollowSettings(allow_private=False))
    poller.poll_round()            # once (``newsrag follow --once``)
    poller.start()                 # a daemon thread polling on schedule, until poller.stop()
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from rag.errors import InputError, RagError
from rag.follow.fetch import HostGate, conditional_get, retry_after_s
from rag.follow.retention import cutoff_day
from rag.follow.sources import Source
from rag.follow.state import FollowState, PollReport, SourceState
from rag.indexer import StoredRaw
from rag.ingest import read_body
from rag.ingest.raw import item_spans
from rag.types import Article

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FollowSettings:
    """``allow_private=False`` is the app's SSRF guard; ``host_gap_s`` spaces requests to one host;
    ``max_backoff_s`` caps the wait after errors in a row (it doubles from the source's interval);
    ``keep_age_s`` (``--keep 90d``) skips items published before that age, which retention would only remove."""

    timeout_s: float = 15.0
    max_bytes: int = 20 * 1024 * 1024
    allow_private: bool = False
    host_gap_s: float = 1.0
    max_backoff_s: float = 6 * 3600.0
    workers: int = 4
    keep_age_s: float | None = None

    def backoff_s(self, every_s: float, errors: int) -> float:
        """The wait after ``errors`` failed polls in a row: ``every_s`` doubled per error, up to the cap (the
        exponent is capped first, so a source failing for months does not overflow a float)."""
        return min(every_s * 2 ** min(max(errors - 1, 0), 30), max(self.max_backoff_s, every_s))


class Poller:
    """Polls ``sources`` into ``index`` (a NewsIndex); ``on_report`` gets each PollReport."""

    def __init__(self, index, sources: Sequence[Source], settings: FollowSettings | None = None,  # noqa: ANN001
                 on_report: Callable[[PollReport], None] | None = None) -> None:
        if not sources:
            raise RagError("no sources to follow: give feed or page URLs, or a file listing them")
        self.index = index
        self.sources = list(sources)
        self.settings = settings or FollowSettings()
        self.on_report = on_report
        self.state = FollowState(index.store)
        for source in self.sources:  # listed at once, so the app shows "not read yet" before the first poll
            if self.state.get(source.url).last_poll is None:
                self.state.put(self.state.get(source.url))
        self.gate = HostGate(self.settings.host_gap_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- one source -----------------------------------------------------------------------------------------
    def poll(self, source: Source) -> PollReport:
        """Fetch ``source`` once and ingest what is new or changed; never raises for what the source does."""
        state = self.state.get(source.url)
        start, now = time.perf_counter(), time.time()
        try:
            with self.gate.turn(source.url):
                response = conditional_get(source.url, state.etag, state.last_modified, self.settings.timeout_s,
                                           self.settings.max_bytes, self.settings.allow_private)
        except InputError as err:
            return self._finish(source, state, PollReport(source.url, 0, errors=1, message=err.reason), start, now)
        if response.status == 304:
            return self._finish(source, state, PollReport(source.url, 304), start, now)
        if not 200 <= response.status < 300:
            wait = retry_after_s(response.headers.get("Retry-After")) if response.status in (429, 503) else None
            report = PollReport(source.url, response.status, errors=1,
                                message=f"server answered HTTP {response.status} {response.reason}"
                                        + (f"; retry after {wait:g} s" if wait is not None else ""))
            return self._finish(source, state, report, start, now, wait)
        body_hash = hashlib.sha1(response.body).hexdigest()
        if body_hash == state.body_hash:  # a server that ignores the validators, sending the same bytes
            report = PollReport(source.url, response.status, skipped=len(item_spans(response.body)) or 1)
        else:
            report = self._ingest(source, response.status, response.body, response.headers.get("Content-Type", ""),
                                  response.final_url, now)
        if not report.errors or report.new or report.changed or report.skipped:
            state.etag = response.headers.get("ETag", "") or ""
            state.last_modified = response.headers.get("Last-Modified", "") or ""
            state.body_hash = body_hash
        return self._finish(source, state, report, start, now)

    def _ingest(self, source: Source, status: int, body: bytes, content_type: str, final_url: str,
                now: float) -> PollReport:
        ids: list[str] = []
        old = 0
        cutoff = cutoff_day(self.settings.keep_age_s, now) if self.settings.keep_age_s is not None else None

        def noting(items):  # noqa: ANN001, ANN202 - the reader's items, passed through
            nonlocal old
            for item in items:
                if isinstance(item, Article):
                    if cutoff and item.published and item.published < cutoff:  # retention would remove it again
                        old += 1
                        continue
                    ids.append(item.article_id)
                yield item

        result = self.index.ingest_read(noting(read_body(body, content_type, source.url, final_url,
                                                         StoredRaw(self.index.store))))
        failed = [p for p in result.problems if p.skipped]
        titles: tuple[str, ...] = ()
        if ids and (result.added or result.replaced):
            rows = self.index.store.added_titles(ids, now - 1)
            titles = tuple(title for _, title in sorted(rows, key=lambda r: r[0]))[:5]
        return PollReport(source.url, status, result.added, result.replaced,
                          result.unchanged + result.duplicates + old, len(failed), failed[0].reason if failed else "",
                          new_titles=titles)

    def _finish(self, source: Source, state: SourceState, report: PollReport, start: float, now: float,
                wait_s: float | None = None) -> PollReport:
        report = PollReport(**{**report.__dict__, "seconds": time.perf_counter() - start})
        whole_failure = report.errors and not (report.new or report.changed or report.skipped)
        state.errors = state.errors + 1 if whole_failure else 0
        delay = source.every_s
        if whole_failure:
            delay = max(self.settings.backoff_s(source.every_s, state.errors), wait_s or 0.0)
        state.last_poll, state.next_poll = now, now + delay
        if report.new or report.changed:
            state.last_new = now
        state.last_report = {k: v for k, v in report.__dict__.items() if k != "url"}
        state.last_report["new_titles"] = list(report.new_titles)
        self.state.put(state)
        (log.warning if report.errors else log.info)("follow %s", report.line())
        if self.on_report:
            self.on_report(report)
        return report

    # --- rounds ---------------------------------------------------------------------------------------------
    def due(self, now: float | None = None, scheduled: bool = True) -> list[Source]:
        """The sources to poll now: those whose next poll has come (``scheduled=False``: every source not
        backing off after errors)."""
        now = time.time() if now is None else now
        out = []
        for source in self.sources:
            state = self.state.get(source.url)
            waiting = state.next_poll is not None and state.next_poll > now
            if not waiting or (not scheduled and not state.errors):
                out.append(source)
        return out

    def poll_round(self, scheduled: bool = False) -> list[PollReport]:
        """Poll the due sources at once (hosts in parallel, one request at a time per host); reports in the
        order of the sources."""
        sources = self.due(scheduled=scheduled)
        with ThreadPoolExecutor(max(1, min(self.settings.workers, len(sources) or 1)),
                                thread_name_prefix="newsrag-follow") as pool:
            return list(pool.map(self.poll, sources))

    def start(self) -> threading.Thread:
        """Poll on schedule in a daemon thread until ``stop()``."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True, name="newsrag-follow")
        self._thread.start()
        return self._thread

    def stop(self, wait_s: float = 30.0) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(wait_s)

    def _run(self) -> None:
        flying: dict[str, Future] = {}
        with ThreadPoolExecutor(self.settings.workers, thread_name_prefix="newsrag-follow") as pool:
            while not self._stop.is_set():
                flying = {url: f for url, f in flying.items() if not f.done()}
                for source in self.due():
                    if source.url not in flying:
                        flying[source.url] = pool.submit(self._safe_poll, source)
                self._stop.wait(self._sleep_s())

    def _safe_poll(self, source: Source) -> None:
        try:
            self.poll(source)
        except Exception as err:  # noqa: BLE001 - a bug or a full disk must not end the thread that follows every source
            log.exception("follow %s: the poll failed", source.url)
            try:  # count it as an error, so the source backs off instead of being polled again at once
                state = self.state.get(source.url)
                state.errors += 1
                state.last_poll = time.time()
                state.next_poll = state.last_poll + self.settings.backoff_s(source.every_s, state.errors)
                state.last_report = {"errors": 1, "message": f"{type(err).__name__}: {err}"}
                self.state.put(state)
            except Exception:  # noqa: BLE001 - the store itself failing; the next round tries again
                log.exception("follow %s: could not record the failure", source.url)

    def _sleep_s(self) -> float:
        """Until the next source is due, between 0.2 and 5 s."""
        upcoming = [s.next_poll for s in (self.state.get(x.url) for x in self.sources) if s.next_poll]
        if not upcoming:
            return 0.2
        return min(max(min(upcoming) - time.time(), 0.2), 5.0)


def follow_file(index, path: str, every_s: float = 900.0, settings: FollowSettings | None = None) -> Poller:  # noqa: ANN001
    """Start polling the sources listed in the file at ``path`` into ``index`` in a daemon thread (the app's
    ``--follow FILE``); returns the running Poller."""
    from pathlib import Path

    from rag.follow.sources import read_sources

    sources = read_sources(Path(path), every_s)
    if not sources:
        raise RagError(f"{path}: lists no sources to follow (one feed or page URL a line; # starts a comment)")
    poller = Poller(index, sources, settings)
    poller.start()
    return poller
