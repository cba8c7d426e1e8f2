"""The local backend: an index directory with ``newsrag.sqlite`` (the truth), ``vectors.<generation>.faiss``
and ``manifest.json``; one writer at a time by ``flock``, any number of readers in any number of processes.

Each write commits to SQLite (bumping ``generation``), then the vectors are updated in FAISS and saved as the
new generation's file with the manifest. A reader that finds the database ahead of the vector file (a crash
between the two writes) rebuilds the vectors from the database, which holds every vector.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from rag.backends.base import ArticleFilter
from rag.backends.local.manifest import read_manifest, write_manifest
from rag.backends.local.store import SqliteStore
from rag.backends.local.vectors import VectorIndex
from rag.config import FORMAT_VERSION
from rag.errors import IndexBusyError, IndexMismatchError, IndexMissingError

log = logging.getLogger(__name__)
DB_NAME = "newsrag.sqlite"


class SearchLock:
    """Many searches at once, or one in-place change of the FAISS index: FAISS is not safe for both at once
    (a search during ``add_with_ids``/``remove_ids`` can crash the process). A waiting change goes first."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.searching = 0
        self.changes_waiting = 0
        self._changing = False

    @contextmanager
    def search(self) -> Iterator[None]:
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
    def change(self) -> Iterator[None]:
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


class LocalBackend:
    """SQLite + FAISS in one directory (see the module's docstring); implements ``rag.backends.base.Backend``."""

    reclaims_space = True  # VACUUM rewrites the SQLite file; the vector file is rewritten on every change

    def __init__(self, index_dir: str | Path, create: bool = False) -> None:
        self.dir = Path(index_dir)
        self.location = str(self.dir)
        db_path = self.dir / DB_NAME
        if not db_path.exists() and not create:
            raise IndexMissingError(f"no index at {self.dir}: run `newsrag ingest FILES --index {self.dir}` first")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.store = SqliteStore(db_path)
        self.vectors: VectorIndex | None = None
        self.generation = -1
        self.search_lock = SearchLock()
        self.model_name = ""
        self._dim: Callable[[], int] = lambda: 0
        self._reload_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._writer_thread: int | None = None  # the thread inside writing(), which may repair the vectors

    def recorded(self) -> dict[str, Any] | None:
        """The manifest, with the model and dimension the database records (the truth) over its own, so a lost
        or garbled manifest cannot switch the index's model."""
        manifest = read_manifest(self.dir)
        model = self.store.get_meta("model")
        recorded = {"model": model, "dim": self.store.get_meta("dim")} if model else {}
        if not manifest and not recorded:
            return None
        return {"format_version": FORMAT_VERSION, **(manifest or {}), **recorded}

    def bind(self, model_name: str, dim: Callable[[], int]) -> None:
        """The model whose vectors the index holds, and how to learn their dimension (it may load the model)."""
        self.model_name, self._dim = model_name, dim

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
        dim = vecs.shape[1] if len(ids) else self._recorded_dim()
        if not dim and self.store.counts()["passages"] == 0:
            self.vectors = None
            return
        self.vectors = VectorIndex.build(dim or self._dim(), ids, vecs)
        if not self._writer_active() or self._write_lock.locked():
            self._save_vectors(generation)

    def _recorded_dim(self) -> int:
        dim = self.store.get_meta("dim") or (read_manifest(self.dir) or {}).get("dim")
        return int(dim) if dim else 0

    def _save_vectors(self, generation: int) -> None:
        assert self.vectors is not None
        name = f"vectors.{generation}.faiss"
        self.vectors.save(self.dir / name)
        counts = self.store.counts()
        write_manifest(self.dir, {"model": self.model_name, "dim": self.vectors.dim, "generation": generation,
                                  "vector_file": name, "index_type": self.vectors.kind,
                                  "vectors": len(self.vectors), **counts})
        for old in self.dir.glob("vectors.*.faiss"):
            if old.name != name and _generation_of(old) < generation - 1:
                old.unlink(missing_ok=True)

    def apply(self, removed: Sequence[int], ids: np.ndarray, vectors: np.ndarray) -> None:
        """After each committed write: apply it to FAISS and save a new generation."""
        generation = self.store.generation()
        if self.vectors is None:
            self.vectors = VectorIndex(vectors.shape[1] if len(ids) else self._recorded_dim() or self._dim())
        if len(ids) and vectors.shape[1] != self.vectors.dim:
            raise IndexMismatchError(f"model {self.model_name} gives {vectors.shape[1]}-dimensional vectors, the "
                                     f"index holds {self.vectors.dim}")
        with self.search_lock.change():
            self.vectors.remove(list(removed))
            self.vectors.add(ids, vectors)
        if self.vectors.needs_rebuild():
            self._rebuild_vectors(generation)
        self._save_vectors(generation)
        self.generation = generation

    def dense_search(self, vector: np.ndarray, limit: int, where: ArticleFilter | None = None) -> list[int]:
        """Nearest passages by FAISS; ``where`` is left to the caller, which filters every candidate."""
        if self.vectors is None or len(self.vectors) == 0:
            return []
        _, ids = self.vectors.search(vector, limit)
        return [int(i) for i in ids[0] if i >= 0]

    def searching(self):  # noqa: ANN201 - a context manager
        return self.search_lock.search()

    def vector_stats(self) -> dict[str, Any]:
        return {"index_type": self.vectors.kind if self.vectors else None,
                "vectors": len(self.vectors) if self.vectors else 0}

    # --- writing -----------------------------------------------------------------------------------------
    @contextmanager
    def writing(self, wait_s: float = 600.0) -> Iterator[None]:
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

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.dir.iterdir() if p.is_file())

    def close(self) -> None:
        self.store.close()


def _generation_of(path: Path) -> int:
    try:
        return int(path.name.split(".")[1])
    except (IndexError, ValueError):
        return -1
