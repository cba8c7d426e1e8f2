"""``newsrag copy SRC DEST``: move an index between backends (a directory and PostgreSQL, either way) without
reading or embedding any article again.

Articles keep their ids, story groups, raw-input hashes and the day they were added; passages keep their order
and offsets (they get new ids in DEST); vectors come from SRC's embedding cache; the feed poller's state comes
along. Each batch is one transaction in DEST, so an interrupted copy leaves whole articles only; it copies into
an empty index, so run it again into a fresh one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rag import dedup
from rag.errors import RagError
from rag.render import counted

log = logging.getLogger(__name__)
META_KEYS = ("model", "dim", "dense_passages")


@dataclass(frozen=True)
class CopyReport:
    articles: int
    passages: int
    vectors: int
    followed_sources: int


def copy_index(src, dst, progress: Callable[[int, int], None] | None = None) -> CopyReport:  # noqa: ANN001 - NewsIndexes
    """Copy every article of ``src`` into ``dst`` (opened with ``create=True`` and ``src``'s model), which must
    be empty; ``progress(articles, passages)`` after each batch."""
    total = src.store.counts()["articles"]
    if not total:
        raise RagError(f"{src.location} holds no articles: nothing to copy")
    articles = passages = vectors = 0
    with dst.writing():
        held = dst.store.counts()["articles"]
        if held:
            raise RagError(f"{dst.location} already holds {counted(held, 'article')}: copy into an empty index")
        meta = {key: src.store.get_meta(key) for key in META_KEYS}
        for batch in src.store.export_articles():
            hashes = list(dict.fromkeys(h for a in batch for h in a.embed_hashes if h))
            cached = src.store.cached_vectors(src.model_name, hashes)
            missing = [h for h in hashes if h not in cached]
            if missing:
                raise RagError(f"{src.location} lacks {len(missing):,} vectors of its passages (model "
                               f"{src.model_name}); rebuild it with `newsrag ingest` before copying")
            ids: list[int] = []
            rows: list[np.ndarray] = []
            with dst.store.transaction() as tx:
                for a in batch:
                    dst.store.insert_article(tx, a.article, a.text_hash, a.group_id, a.signature, a.added_at)
                    if a.signature is not None and a.passages:
                        dst.store.insert_lsh(tx, a.article.article_id, dedup.bands(dedup.from_bytes(a.signature)))
                    pids = dst.store.insert_passages(tx, a.article, a.passages, a.embed_hashes, cached)
                    for pid, key in zip(pids, a.embed_hashes, strict=True):
                        if key is not None:
                            ids.append(pid)
                            rows.append(cached[key])
                    passages += len(a.passages)
                dst.store.put_vectors(tx, src.model_name, cached)
                dst.store.record_raw(tx, [(h, a.article.article_id) for a in batch for h in a.raw_hashes])
                for key, value in meta.items():
                    if value is not None:
                        dst.store.set_meta(tx, key, value)
            dim = len(rows[0]) if rows else dst.dim
            dst.update_vectors([], np.asarray(ids, dtype=np.int64),
                               np.vstack(rows) if rows else np.zeros((0, dim), dtype=np.float32))
            articles += len(batch)
            vectors += len(ids)
            if progress:
                progress(len(batch), sum(len(a.passages) for a in batch))
        follow = src.store.follow_rows()
        for row in follow:
            dst.store.put_follow_row(row)
    log.info("copied %d articles, %d passages, %d vectors from %s to %s", articles, passages, vectors,
             src.location, dst.location)
    return CopyReport(articles, passages, vectors, len(follow))
