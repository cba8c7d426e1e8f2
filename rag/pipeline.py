"""The facade that wires the stages: ``NewsIndex`` opens an index directory and offers ingest, remove, ask
and stats. The CLI, the app and eval all go through it."""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from rag import compose, followup, retrieve
from rag.config import FORMAT_VERSION, READER_SHIPPED, Settings, load_settings
from rag.dates import to_date
from rag.embed import Embedder, make_embedder
from rag.errors import IndexBusyError, IndexMismatchError, IndexMissingError, QuestionError, RagError
from rag.indexer import IngestReport, ingest, ingest_read
from rag.ingest.clean import SURROGATE
from rag.manifest import check_compatible, read_manifest, write_manifest
from rag.question import is_true_false, offered_choices
from rag.reader.base import Reader, load_reader
from rag.store import Store
from rag.types import Answer, Article, Problem, Unchanged
from rag.vectors import VectorIndex

log = logging.getLogger(__name__)
DB_NAME = "newsrag.sqlite"
MAX_QUESTION_CHARS = 2000
EARLIEST, LATEST = date(1000, 1, 1), date(9000, 12, 31)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class SearchLock:
    """Many searches at once, or one in-place change of the FAISS index: FAISS is not safe for both at once
    (a search during ``add_with_ids``/``remove_ids`` can crash the process). A waiting change goes first."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.searching = 0
        self.changes_waiting = 0
        self._changing = False

    @contextmanager
    def search(self):  # noqa: ANN201 - a context manager
        with self._cond:
            self._cond.wait_for(lambda: not self._changing and not self.changes_waiting)
            self.searching += 1
        try:
            yield
        finally:
            with self._cond:
                self.searching -= 1
                self._cond.notify_all()

    @contextmanager
    def change(self):  # noqa: ANN201 - a context manager
        with self._cond:
            self.changes_waiting += 1
            self._cond.wait_for(lambda: not self._changing and not self.searching)
            self.changes_waiting -= 1
            self._changing = True
        try:
            yield
        finally:
            with self._cond:
                self._changing = False
                self._cond.notify_all()


class NewsIndex:
    """An index directory: ``newsrag.sqlite`` (truth), ``vectors.<generation>.faiss`` and ``manifest.json``.

    Open with ``NewsIndex.open(dir)`` to read (raises IndexMissingError when there is none) or
    ``NewsIndex.open(dir, create=True)`` to write. Safe to share between threads; other processes may write
    meanwhile, and ``refresh()`` (called by ``ask``) picks their changes up.
    """

    def __init__(self, settings: Settings, embedder: Embedder | None = None, create: bool = False,
                 explicit_model: str | None = None, reader: Reader | None = None) -> None:
        self.settings = settings
        self.dir = Path(settings.index_dir)
        db_path = self.dir / DB_NAME
        if not db_path.exists() and not create:
            raise IndexMissingError(f"no index at {self.dir}: run `newsrag ingest FILES --index {self.dir}` first")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(db_path)
        # The database records the model too, so a lost or garbled manifest cannot switch the index's model.
        manifest = _merged_manifest(read_manifest(self.dir), self.store)
        explicit = embedder.name if embedder else explicit_model
        if manifest:
            check_compatible(manifest, explicit, self.dir)
        model = (manifest or {}).get("model") or explicit or settings.embed.model
        self.embedder = embedder or make_embedder(model, settings.embed.batch_size)
        self.model_name = self.embedder.name
        self._dim = int(manifest["dim"]) if manifest and manifest.get("dim") else None
        self.vectors: VectorIndex | None = None
        self.generation = -1
        self._reload_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self.search_lock = SearchLock()
        self._writer_thread: int | None = None  # the thread inside writing(), which may repair the vectors
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

    # --- vectors: load, repair, update --------------------------------------------------------------------
    def refresh(self, force: bool = False) -> bool:
        """Load the vectors of the newest complete generation; True when something changed.

        When the vector file does not match the database (a crash between the two writes), the vectors are
        rebuilt from the database, which holds every vector; nothing is served from a stale file silently.
        """
        current = self.store.generation()
        if current == self.generation and not force:
            return False
        with self._reload_lock:
            if current == self.generation and not force:
                return False
            manifest = read_manifest(self.dir) or {}
            loaded = self._load_current(manifest, current)
            if loaded is not None:
                self.vectors = loaded
            elif self._write_lock.locked() and self._writer_thread != threading.get_ident():
                return False  # this process's writer is between its two writes; it updates the vectors itself
            elif self._writer_thread is None and self._writer_active() and self.vectors is not None:
                return False  # another process is between its two writes; keep serving the last whole state
            else:
                if manifest or self.store.counts()["passages"]:
                    log.warning("the vector file of %s is missing, unreadable or older than the database (manifest "
                                "generation %s, database %s); rebuilding it from the stored vectors", self.dir,
                                manifest.get("generation"), current)
                self._rebuild_vectors(current)
            self.generation = current
            return True

    def _load_current(self, manifest: dict[str, Any], generation: int) -> VectorIndex | None:
        """The manifest's vector file when it is of ``generation``, readable, and holds one vector per passage
        the database gives one; else None (the caller rebuilds or waits for the writer)."""
        name = manifest.get("vector_file")
        if manifest.get("generation") != generation or not name or not (self.dir / name).is_file():
            return None
        try:
            vectors = VectorIndex.load(self.dir / name)
        except RuntimeError as err:  # faiss's error for a truncated or garbled file
            log.warning("cannot read the vector file %s (%s)", self.dir / name, err)
            return None
        same_generation, dense = self.store.generation_and_dense()
        if same_generation == generation and len(vectors) != dense:
            log.warning("vector file %s holds %d vectors, the database %d", self.dir / name, len(vectors), dense)
            return None
        return vectors

    def _rebuild_vectors(self, generation: int) -> None:
        ids, vecs = self.store.indexed_vectors(self.model_name)
        dim = vecs.shape[1] if len(ids) else (self._dim or 0)
        if not dim and self.store.counts()["passages"] == 0:
            self.vectors = None
            return
        dim = dim or self.dim
        self.vectors = VectorIndex.build(dim, ids, vecs)
        self._dim = dim
        if not self._writer_active() or self._write_lock.locked():
            self._save_vectors(generation)

    def _save_vectors(self, generation: int) -> None:
        assert self.vectors is not None
        name = f"vectors.{generation}.faiss"
        self.vectors.save(self.dir / name)
        counts = self.store.counts()
        write_manifest(self.dir, {"model": self.model_name, "dim": self.dim, "generation": generation,
                                  "vector_file": name, "index_type": self.vectors.kind,
                                  "vectors": len(self.vectors), **counts})
        for old in self.dir.glob("vectors.*.faiss"):
            if old.name != name and _generation_of(old) < generation - 1:
                old.unlink(missing_ok=True)

    def update_vectors(self, removed: Sequence[int], ids: np.ndarray, vecs: np.ndarray) -> None:
        """Called by the indexer after each committed batch: apply it to FAISS and save a new generation."""
        generation = self.store.generation()
        if self.vectors is None:
            self.vectors = VectorIndex(vecs.shape[1] if len(ids) else self.dim)
        if self._dim is None and len(ids):
            self._dim = vecs.shape[1]
        if len(ids) and vecs.shape[1] != self.vectors.dim:
            raise IndexMismatchError(f"model {self.model_name} gives {vecs.shape[1]}-dimensional vectors, the "
                                     f"index holds {self.vectors.dim}")
        with self.search_lock.change():
            self.vectors.remove(list(removed))
            self.vectors.add(ids, vecs)
        if self.vectors.needs_rebuild():
            self._rebuild_vectors(generation)
        self._save_vectors(generation)
        self.generation = generation

    # --- writing -----------------------------------------------------------------------------------------
    @contextmanager
    def writing(self, wait_s: float = 600.0):  # noqa: ANN201 - a context manager
        """Hold the index's write lock (one writer at a time, across processes)."""
        with self._write_lock:
            fh = open(self.dir / ".write.lock", "a+")  # noqa: SIM115 - held for the block
            deadline = time.monotonic() + wait_s
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        fh.close()
                        raise IndexBusyError(f"another process is writing to {self.dir}; try again later") from None
                    time.sleep(0.2)
            self._writer_thread = threading.get_ident()
            try:
                self.refresh()
                yield
            finally:
                self._writer_thread = None
                fcntl.flock(fh, fcntl.LOCK_UN)
                fh.close()

    def _writer_active(self) -> bool:
        path = self.dir / ".write.lock"
        if not path.exists():
            return False
        with open(path, "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
        return False

    def ingest(self, inputs: Iterable[str | Path], progress: Callable[[str, int, int], None] | None = None, *,
               allow_private_urls: bool | None = None, dense_passages: int | None = None) -> IngestReport:
        """Read, split, embed and store the articles of ``inputs``; see ``IngestReport`` for what happened.

        ``allow_private_urls`` (default ``settings.allow_private_urls``) False refuses URLs on loopback, private
        and link-local addresses. ``dense_passages`` (how many leading passages of an article get a vector, 0 =
        all) defaults to what this index was last built with, so later articles are embedded alike, else to
        ``settings.embed.dense_passages``; it is recorded in the index.
        """
        settings = self._ingest_settings(allow_private_urls, dense_passages)
        with self.writing():
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
        with self.search_lock.search():
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
        size = sum(p.stat().st_size for p in self.dir.iterdir() if p.is_file())
        return {**counts, "sources": dict(self.store.sources()), "first_published": first,
                "last_published": last, "model": self.model_name, "dim": self._dim,
                "index_type": self.vectors.kind if self.vectors else None,
                "vectors": len(self.vectors) if self.vectors else 0, "generation": self.generation,
                "size_bytes": size, "index_dir": str(self.dir)}

    def close(self) -> None:
        self.store.close()


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


def _merged_manifest(manifest: dict[str, Any] | None, store: Store) -> dict[str, Any] | None:
    """The manifest, with the model and dimension the database records (the truth) over its own."""
    model = store.get_meta("model")
    recorded = {"model": model, "dim": store.get_meta("dim")} if model else {}
    if not manifest and not recorded:
        return None
    return {"format_version": FORMAT_VERSION, **(manifest or {}), **recorded}


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


def _generation_of(path: Path) -> int:
    try:
        return int(path.name.split(".")[1])
    except (IndexError, ValueError):
        return -1
