"""The facade that wires the stages: ``NewsIndex`` opens an index (a directory or a PostgreSQL URL) and offers
ingest, remove, ask and stats. The CLI, the app and eval all go through it."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from rag import compose, followup, retrieve
from rag.backends import check_compatible, open_backend
from rag.config import READER_SHIPPED, Settings, load_settings
from rag.dates import to_date
from rag.embed import Embedder, make_embedder
from rag.errors import QuestionError, RagError
from rag.indexer import IngestReport, ingest, ingest_read
from rag.ingest.clean import SURROGATE
from rag.question import is_true_false, offered_choices
from rag.reader.base import Reader, load_reader
from rag.types import Answer, Article, Problem, Unchanged

log = logging.getLogger(__name__)
MAX_QUESTION_CHARS = 2000
EARLIEST, LATEST = date(1000, 1, 1), date(9000, 12, 31)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class NewsIndex:
    """An index (a directory, or a PostgreSQL database named by a URL: ``rag.backends``) with the pipeline
    over it.

    Open with ``NewsIndex.open(location)`` to read (raises IndexMissingError when there is none) or
    ``NewsIndex.open(location, create=True)`` to write. Safe to share between threads; other processes may write
    meanwhile, and ``refresh()`` (called by ``ask``) picks their changes up.
    """

    def __init__(self, settings: Settings, embedder: Embedder | None = None, create: bool = False,
                 explicit_model: str | None = None, reader: Reader | None = None) -> None:
        self.settings = settings
        self.backend = open_backend(settings.index_dir, create)
        self.store = self.backend.store
        self.location = self.backend.location
        recorded = self.backend.recorded()
        explicit = embedder.name if embedder else explicit_model
        if recorded:
            check_compatible(recorded, explicit, self.location)
        model = (recorded or {}).get("model") or explicit or settings.embed.model
        self.embedder = embedder or make_embedder(model, settings.embed.batch_size)
        self.model_name = self.embedder.name
        self._dim = int(recorded["dim"]) if recorded and recorded.get("dim") else None
        self.backend.bind(self.model_name, lambda: self.dim)
        self._reader = reader
        self._reader_loaded = reader is not None or settings.reader_off
        self._reader_lock = threading.Lock()
        self.refresh(force=True)

    @classmethod
    def open(cls, index_dir: str | Path | None = None, *, model: str | None = None, create: bool = False,
             embedder: Embedder | None = None, settings: Settings | None = None,
             reader: Reader | None = None) -> NewsIndex:
        """Open the index at ``index_dir`` (default ``NEWSRAG_INDEX`` or ``index/``).

        ``model`` (or ``NEWSRAG_MODEL``) must match the model the index was built with; without one, the
        index's own model is used. ``reader`` is used instead of loading the one ``settings.reader`` names.
        """
        base = settings or load_settings()
        explicit = model or os.environ.get("NEWSRAG_MODEL")
        return cls(base.with_index(index_dir).with_model(explicit), embedder, create, explicit, reader)

    def reader(self) -> Reader | None:
        """The reader ``settings.reader`` names, loaded on first use and kept; None when it is turned off.

        When the shipped model is missing, the composer's rules answer alone and a warning says so; a reader
        directory named explicitly that holds no model raises RagError."""
        if not self._reader_loaded:
            with self._reader_lock:
                if not self._reader_loaded:
                    self._reader = _load_reader(self.settings.reader)
                    self._reader_loaded = True
        return self._reader

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.embedder.dim)
        return self._dim

    def refresh(self, force: bool = False) -> bool:
        """Pick up what other processes wrote; True when something changed."""
        return self.backend.refresh(force)

    @property
    def generation(self) -> int:
        return self.backend.generation

    def update_vectors(self, removed: Sequence[int], ids: np.ndarray, vecs: np.ndarray) -> None:
        """Called by the indexer after each committed batch, with the vectors it added and the passages it removed."""
        if self._dim is None and len(ids):
            self._dim = vecs.shape[1]
        self.backend.apply(removed, ids, vecs)

    def writing(self, wait_s: float = 600.0):  # noqa: ANN201 - a context manager
        """Hold the index's write lock (one writer at a time, across processes)."""
        return self.backend.writing(wait_s)

    def ingest(self, inputs: Iterable[str | Path], progress: Callable[[str, int, int], None] | None = None, *,
               allow_private_urls: bool | None = None, dense_passages: int | None = None,
               ray_address: str | None = None) -> IngestReport:
        """Read, split, embed and store the articles of ``inputs``; see ``IngestReport`` for what happened.

        ``allow_private_urls`` (default ``settings.allow_private_urls``) False refuses URLs on loopback, private
        and link-local addresses. ``dense_passages`` (how many leading passages of an article get a vector, 0 =
        all) defaults to what this index was last built with, so later articles are embedded alike, else to
        ``settings.embed.dense_passages``; it is recorded in the index. ``ray_address`` (``HOST:PORT`` of a
        running Ray cluster) splits and embeds on the cluster's nodes (``rag.distributed.ray_ingest``); the
        index comes out the same.
        """
        settings = self._ingest_settings(allow_private_urls, dense_passages)
        with self.writing():
            if ray_address:
                from rag.distributed.ray_ingest import ingest_with_ray

                return ingest_with_ray(self, [str(i) for i in inputs], ray_address, settings, progress)
            return ingest(self, [str(i) for i in inputs], progress, settings)

    def ingest_read(self, items: Iterable[Article | Problem | Unchanged]) -> IngestReport:
        """Store articles being read elsewhere (``rag.ingest.read_body`` given ``known=StoredRaw(self.store)``,
        as the feed poller does), like ``ingest``."""
        settings = self._ingest_settings(None, None)
        with self.writing():
            return ingest_read(self, items, None, settings)

    def _ingest_settings(self, allow_private_urls: bool | None, dense_passages: int | None) -> Settings:
        settings = self.settings
        if allow_private_urls is not None:
            settings = dataclasses.replace(settings, allow_private_urls=allow_private_urls)
        recorded = self.store.get_meta("dense_passages")
        if recorded is None:  # an index from before it was recorded: every passage had a vector then
            counts = self.store.counts()
            recorded = "0" if counts["passages"] and counts["passages"] == counts["dense_passages"] else None
        if dense_passages is None and recorded is not None:
            dense_passages = int(recorded)
        if dense_passages is not None:
            if dense_passages < 0:
                raise ValueError(f"dense_passages must be 0 (all) or more, not {dense_passages}")
            settings = dataclasses.replace(settings, embed=dataclasses.replace(settings.embed,
                                                                               dense_passages=dense_passages))
        return settings

    def remove(self, *, article_ids: Sequence[str] = (), urls: Sequence[str] = (), sources: Sequence[str] = (),
               since: str | None = None, until: str | None = None) -> list[str]:
        """Remove articles by id, url, source or published date range (criteria other than ids combine with
        AND); returns the ids removed."""
        # An empty string would match every article without a url or source: it is no criterion.
        urls, sources = [u for u in urls if u.strip()], [s for s in sources if s.strip()]
        since, until = _iso_day("since", since), _iso_day("until", until)
        with self.writing():
            ids = [i for i in article_ids if i.strip()]
            if urls or sources or since or until:
                ids += self.store.article_ids_where(urls=urls, sources=sources, since=since, until=until)
            ids = list(self.store.existing(dict.fromkeys(ids)))
            if not ids:
                return []
            with self.store.transaction() as db:
                removed = self.store.delete_articles(db, ids)
            self.update_vectors(removed, np.zeros(0, dtype=np.int64), np.zeros((0, self.dim), dtype=np.float32))
            return ids

    # --- reading -----------------------------------------------------------------------------------------
    def ask(self, question: str, *, as_of: date | str | None = None, history: Sequence[str] = (),
            choices: Sequence[str] = (), sources: Sequence[str] = (), since: str | None = None,
            until: str | None = None, top_k: int | None = None) -> Answer:
        """Answer ``question`` from the indexed articles, as of ``as_of`` (default today).

        ``history`` holds the earlier questions of the chat, oldest first; ``choices`` makes it pick one.
        """
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        question = _check_question(question)
        history, choices, sources = ([_scrub(s) for s in values] for values in (history, choices, sources))
        as_of, since, until = (_check_date(name, value) for name, value in
                               (("as_of", as_of), ("since", since), ("until", until)))
        if top_k is not None and top_k < 1:
            raise QuestionError(f"top_k must be greater than 0. Currently, top_k is {top_k}")
        self.refresh()
        person = ""
        if followup.asks_after_person(question, history):  # "Who founded LibriVox?" "When was he interviewed?"
            # The earlier question is asked again with the two before it: a chain of such follow-ups costs at
            # most three more asks, however long the chat.
            previous = self.ask(history[-1], as_of=as_of, history=history[-3:-1], sources=sources, since=since,
                                until=until)
            person = "" if previous.abstained else followup.person_named(previous.text, previous.search_query)
        search_text = followup.rewrite(question, history, person)
        top_k = top_k or self.settings.retrieve.top_k
        # The composer reads as many stories as it needs whatever ``top_k`` is, so the app (5) answers as eval (10)
        # does; ``top_k`` is how many retrieved passages the Answer lists.
        query = retrieve.Query.make(search_text, as_of=as_of, sources=sources, since=since, until=until,
                                    top_k=max(top_k, compose.CHOICE_HITS))
        options = offered_choices(search_text, choices)
        with self.backend.searching():
            # A claim to call true or false is judged by its own words, not by passages naming "true" or "false".
            evidence = retrieve.option_hits_later(self, query, options) if options and not is_true_false(options) else None
            hits = retrieve.retrieve(self, query, timings)
            option_evidence = None
            if evidence is not None:
                t1 = time.perf_counter()
                option_evidence = evidence.result()
                timings["options"] = (time.perf_counter() - t1) * 1000  # the wait for it after retrieval
        t1 = time.perf_counter()
        answer = compose.compose(self, question, search_text, query, hits, choices, timings, option_evidence,
                                 reader=self.reader())
        timings["compose"] = (time.perf_counter() - t1) * 1000
        timings["total"] = (time.perf_counter() - t0) * 1000
        return dataclasses.replace(answer, hits=answer.hits[:top_k])

    def stats(self) -> dict[str, Any]:
        """Counts, sources, date range, model and size on disk (JSON-ready)."""
        counts = self.store.counts()
        first, last = self.store.date_range()
        return {**counts, "sources": dict(self.store.sources()), "first_published": first,
                "last_published": last, "model": self.model_name, "dim": self._dim, **self.backend.vector_stats(),
                "generation": self.generation, "size_bytes": self.backend.size_bytes(), "index_dir": self.location}

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> NewsIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _load_reader(path: str | None) -> Reader | None:
    """The reader in ``path``, or the shipped one when None or READER_SHIPPED; None (with a warning) when the
    shipped one is missing, so that newsrag answers by its rules."""
    if path is not None and path.strip().lower() != READER_SHIPPED:
        return load_reader(path)
    try:
        return load_reader()
    except RagError as err:
        log.warning("answering without a reader: %s", err)
        return None


def _check_question(question: str) -> str:
    question = " ".join(_CONTROL.sub(" ", _scrub(question)).split()) if isinstance(question, str) else ""
    if not question:
        raise QuestionError("the question is empty: type a question about the news")
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionError(f"the question is {len(question)} characters long; keep it under {MAX_QUESTION_CHARS}")
    return question


def _scrub(text: str) -> str:
    """``text`` without lone surrogates (which arrive through JSON escapes or undecodable argv bytes and cannot
    be encoded as UTF-8 for SQLite, the model or the terminal)."""
    return SURROGATE.sub("\ufffd", str(text))


def _check_date(name: str, value: date | str | None) -> date | None:
    """``value`` as a date (None for no date); a value that is no date, or one so far off that date arithmetic
    would overflow, is a QuestionError rather than being ignored."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        value = value.date()
    day = to_date(value) if isinstance(value, date | str) else None
    if day is None:
        raise QuestionError(f"{name} must be a date such as 2019-12-14; got {str(value)[:40]!r}")
    if not EARLIEST <= day <= LATEST:
        raise QuestionError(f"{name} must lie between {EARLIEST} and {LATEST}; got {day}")
    return day


def _iso_day(name: str, value: str | None) -> str | None:
    """``YYYY-MM-DD`` for a date bound; published dates compare as text, so '2020' or 'March 2020' would not
    mean what they say."""
    if value is None or not str(value).strip():
        return None
    try:
        day = _check_date(name, value)
    except QuestionError as err:  # the same check as for ask(), but this is no question
        raise RagError(str(err)) from None
    return day.isoformat() if day else None
