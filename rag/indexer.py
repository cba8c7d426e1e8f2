"""The write path: Articles -> passages -> vectors -> the index's backend, in batches.

Reading and splitting run in a background thread, so they overlap with embedding (torch releases the GIL).
Each batch is one transaction in the store followed by the backend's vector update (locally an atomic rewrite
of the FAISS file and the manifest), so the articles of a long ingest become searchable batch by batch, and a
crash loses at most the batch in flight.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from rag import dedup
from rag.chunk import chunk_article
from rag.config import ChunkSettings, Settings
from rag.ingest import read_inputs
from rag.ingest.clean import text_hash
from rag.types import Article, Passage, Problem, Unchanged

log = logging.getLogger(__name__)
BATCH_ARTICLES = 64
Split = Callable[[Article, ChunkSettings], list[Passage]]


@dataclass
class IngestReport:
    """What one ingest did; ``seconds`` splits wall time into parse, split, embed and write."""

    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    raw_unchanged: int = 0  # of ``unchanged``: skipped by the raw hash of their input, before being read
    duplicates: int = 0
    near_duplicates: int = 0
    passages: int = 0
    embedded: int = 0
    cache_hits: int = 0
    tokens_embedded: int = 0
    problems: list[Problem] = field(default_factory=list)
    embedded_on: dict[str, int] = field(default_factory=dict)  # a distributed ingest's passages embedded per node
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(("parse", "split", "embed", "write", "total"), 0.0))

    @property
    def failed(self) -> int:
        return sum(1 for p in self.problems if p.skipped)


@dataclass
class _Prepared:
    article: Article
    passages: list[Passage]
    hash: str


def embed_text(article: Article, passage: Passage) -> str:
    """What the model reads: the headline (and date) give the passage its context."""
    date = f" ({article.published})" if article.published else ""
    return f"{article.title}{date}\n{passage.text}"


def embed_key(text: str) -> str:
    """The embedding cache's key of what the model reads (``embed_text``)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def token_estimate(texts: Iterable[str]) -> int:
    """About how many word pieces the model reads in ``texts`` (1.35 a word, for reports)."""
    return sum(int(len(t.split()) * 1.35) for t in texts)


class StoredRaw:
    """The raw hashes of the index's input records, as a container the readers test before parsing."""

    def __init__(self, store) -> None:  # noqa: ANN001 - a Store
        self.store = store

    def __contains__(self, raw_hash: object) -> bool:
        return isinstance(raw_hash, str) and self.store.raw_known(raw_hash)


def _prepare(items: Iterable[Article | Problem | Unchanged], settings: Settings, report: IngestReport,
             stored_hash: Callable[[str], str | None] = lambda _: None,
             split: Split = chunk_article) -> Iterator[list[_Prepared | Problem]]:
    """Batches of read and split articles; an article already stored with the same text is not split again
    (it goes on with no passages and is counted as unchanged), and a record whose raw bytes are already
    indexed was not even read (counted as unchanged here)."""
    batch: list[_Prepared | Problem] = []
    clock = time.perf_counter()
    for item in items:
        now = time.perf_counter()
        report.seconds["parse"] += now - clock
        if isinstance(item, Unchanged):
            report.unchanged += 1
            report.raw_unchanged += 1
        elif isinstance(item, Problem):
            batch.append(item)
        else:
            digest = text_hash(item.text)
            unchanged = stored_hash(item.article_id) == digest
            batch.append(_Prepared(item, [] if unchanged else split(item, settings.chunk), digest))
            report.seconds["split"] += time.perf_counter() - now
        clock = time.perf_counter()
        if sum(isinstance(b, _Prepared) for b in batch) >= BATCH_ARTICLES:
            yield batch
            batch = []
            clock = time.perf_counter()
    if batch:
        yield batch


def _background(gen: Iterator, depth: int = 4) -> Iterator:
    """Run ``gen`` in a thread, ``depth`` items ahead of the consumer."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()

    def work() -> None:
        try:
            for item in gen:
                q.put(item)
        except BaseException as err:  # noqa: BLE001 - handed to the consumer, which re-raises it
            q.put(err)
        q.put(done)

    threading.Thread(target=work, daemon=True, name="newsrag-reader").start()
    while (item := q.get()) is not done:
        if isinstance(item, BaseException):
            raise item
        yield item


def ingest(index, inputs: Iterable[str], progress: Callable[[str, int, int], None] | None = None,  # noqa: ANN001
           settings: Settings | None = None) -> IngestReport:
    """Add the articles in ``inputs`` to ``index`` (a NewsIndex holding the write lock); ``settings`` (default
    the index's) say how to read them. An input record whose raw bytes were ingested before is skipped unread."""
    settings = settings or index.settings
    items = read_inputs(list(inputs), settings.fetch_timeout_s, settings.max_fetch_bytes, settings.allow_private_urls,
                        StoredRaw(index.store))
    return ingest_read(index, items, progress, settings)


def ingest_read(index, items: Iterable[Article | Problem | Unchanged],  # noqa: ANN001
                progress: Callable[[str, int, int], None] | None = None,
                settings: Settings | None = None, split: Split = chunk_article) -> IngestReport:
    """Add articles already being read (``rag.ingest.read_inputs`` or ``read_body``, given ``StoredRaw(index.store)`` as ``known``)
    to ``index``, which holds the write lock. ``split`` (default ``chunk_article``) gives an article's passages;
    the distributed ingest passes the ones its workers made."""
    report = IngestReport()
    start = time.perf_counter()
    for batch in _background(_prepare(items, settings or index.settings, report, index.store.stored_text_hash, split)):
        for item in batch:
            if isinstance(item, Problem):
                report.problems.append(item)
                if progress:
                    progress("problem", 0, 0)
        prepared = [b for b in batch if isinstance(b, _Prepared)]
        if prepared:
            _write_batch(index, prepared, report, settings or index.settings)
            if progress:
                progress("articles", len(prepared), sum(len(p.passages) for p in prepared))
    report.seconds["total"] = time.perf_counter() - start
    return report


def _write_batch(index, prepared: list[_Prepared], report: IngestReport, settings: Settings) -> None:  # noqa: ANN001
    store = index.store
    known = store.existing(p.article.article_id for p in prepared)
    orphaned = store.orphaned_copies(known)  # copies whose original was removed: ingest them in full now
    fresh: list[_Prepared] = []
    replace_ids: list[str] = []
    copies: list[tuple[Article, str, str]] = []  # (article, text hash, id of the article it copies)
    seen_hashes: dict[str, str] = {}
    raw = [(p.article.raw_hash, p.article.article_id) for p in prepared if p.article.raw_hash]
    for item in prepared:
        old_hash = known.get(item.article.article_id)
        if old_hash == item.hash and item.article.article_id not in orphaned:
            report.unchanged += 1
            continue
        owner = seen_hashes.get(item.hash) or store.hash_owner(item.hash)
        if owner and owner != item.article.article_id:
            # Same text under another id: no passages of its own, but kept as a citable copy of the story.
            report.duplicates += 1
            if old_hash is None:
                copies.append((item.article, item.hash, owner))
            continue
        seen_hashes[item.hash] = item.article.article_id
        if old_hash is not None:
            replace_ids.append(item.article.article_id)
        fresh.append(item)
    t0 = time.perf_counter()
    if fresh or copies:
        vectors, hashes = _embed(index, fresh, report, settings.embed.dense_passages)
        t1 = time.perf_counter()
        report.seconds["embed"] += t1 - t0
        _store(index, fresh, replace_ids, vectors, hashes, report, copies, settings.embed.dense_passages)
        t0 = t1
    if raw:
        with store.transaction(bump_generation=False) as db:
            store.record_raw(db, raw)
    report.seconds["write"] += time.perf_counter() - t0


def _embed(index, fresh: list[_Prepared], report: IngestReport,  # noqa: ANN001
           limit: int) -> tuple[dict[str, np.ndarray], list[list[str | None]]]:
    """Vectors for the passages that get one (the first ``limit`` of an article, 0 = all), from the cache when
    this model has seen the text before."""
    texts: dict[str, str] = {}
    hashes: list[list[str | None]] = []
    for item in fresh:
        row: list[str | None] = []
        for passage in item.passages:
            if limit and passage.ordinal >= limit:
                row.append(None)
                continue
            text = embed_text(item.article, passage)
            key = embed_key(text)
            texts[key] = text
            row.append(key)
        hashes.append(row)
    cached = index.store.cached_vectors(index.model_name, list(texts))
    missing = [k for k in texts if k not in cached]
    report.cache_hits += len(texts) - len(missing)
    if missing:
        batch = [texts[k] for k in missing]
        new = index.embedder.embed(batch)
        cached.update(zip(missing, new, strict=True))
        report.embedded += len(missing)
        report.tokens_embedded += token_estimate(batch)
    return {k: cached[k] for k in texts}, hashes


def _store(index, fresh: list[_Prepared], replace_ids: list[str], vectors: dict[str, np.ndarray],  # noqa: ANN001
           hashes: list[list[str | None]], report: IngestReport,
           copies: list[tuple[Article, str, str]] = (), dense_passages: int = 0) -> None:  # noqa: B006 - never mutated
    store = index.store
    new_ids: list[int] = []
    new_vecs: list[np.ndarray] = []
    with store.transaction() as db:
        removed = store.delete_articles(db, replace_ids)
        for item, row in zip(fresh, hashes, strict=True):
            sig = dedup.signature(item.article.text)
            buckets = dedup.bands(sig)
            group_id = _group_for(store, db, sig, buckets, item.article.article_id)
            if group_id != item.article.article_id:
                report.near_duplicates += 1
            store.insert_article(db, item.article, item.hash, group_id, sig.tobytes())
            store.insert_lsh(db, item.article.article_id, buckets)
            pids = store.insert_passages(db, item.article, item.passages, row, vectors)
            for pid, key in zip(pids, row, strict=True):
                if key is not None:
                    new_ids.append(pid)
                    new_vecs.append(vectors[key])
            report.passages += len(item.passages)
        for article, digest, owner in copies:
            store.insert_article(db, article, digest, store.group_of(db, owner) or owner, None)
        store.put_vectors(db, index.model_name, vectors)
        store.set_meta(db, "model", index.model_name)
        store.set_meta(db, "dim", str(index.dim))
        store.set_meta(db, "dense_passages", str(dense_passages))
    report.added += len(fresh) - len(replace_ids)
    report.replaced += len(replace_ids)
    index.update_vectors(removed, np.asarray(new_ids, dtype=np.int64),
                         np.vstack(new_vecs) if new_vecs else np.zeros((0, index.dim), dtype=np.float32))


def _group_for(store, db, sig: np.ndarray, buckets: list[int], article_id: str) -> str:  # noqa: ANN001
    """The story group of the most similar earlier article above the threshold, else the article's own id.

    Runs inside the batch's transaction, so articles earlier in the same batch are candidates too."""
    best, best_sim = article_id, dedup.THRESHOLD
    for other_id, group_id, blob in store.lsh_candidates(db, buckets):
        if other_id == article_id or blob is None:
            continue
        sim = dedup.similarity(sig, dedup.from_bytes(blob))
        if sim >= best_sim:
            best, best_sim = group_id, sim
    return best
