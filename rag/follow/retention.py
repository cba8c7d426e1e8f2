"""Retention: drop the oldest articles (with their passages, full-text rows, vectors and cached embeddings) so
the index keeps a window of news (``--keep 90d``) or a size on disk (``--keep 2GB``), then reclaim the space."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from rag.errors import RagError
from rag.follow.sources import Keep

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetentionReport:
    removed: int
    bytes_before: int
    bytes_after: int


def cutoff_day(max_age_s: float, now: float | None = None) -> str:
    """The ISO day (UTC) before which an article is older than ``max_age_s``: retention removes those, and the
    poller does not ingest them."""
    return datetime.fromtimestamp((now or time.time()) - max_age_s, tz=timezone.utc).strftime("%Y-%m-%d")


def index_bytes(index) -> int:  # noqa: ANN001 - a NewsIndex
    return index.backend.size_bytes()


def check_keep(index, keep: Keep) -> None:  # noqa: ANN001 - a NewsIndex
    """RagError when ``index`` cannot keep to ``keep``: a size limit needs a backend whose size falls when
    articles go (the local one); on PostgreSQL the files keep their size, and removing articles until it fell
    would remove them all."""
    if keep.max_bytes is not None and not index.backend.reclaims_space:
        raise RagError(f"--keep with a size works on a local index directory only; {index.location} keeps its "
                       "size after deletions (plain VACUUM reuses the space). Keep an age instead, e.g. --keep 90d")


def apply_retention(index, keep: Keep, now: float | None = None) -> RetentionReport:  # noqa: ANN001
    """Remove what ``keep`` does not keep, oldest first, and VACUUM; the report says how much went.

    A size limit needs a backend whose size falls when articles go (``check_keep``)."""
    check_keep(index, keep)
    before = index_bytes(index)
    removed = 0
    if keep.max_age_s is not None:
        cutoff = cutoff_day(keep.max_age_s, now)
        ids = index.store.article_ids_published_before(cutoff)
        removed += _remove(index, ids)
    if keep.max_bytes is not None:
        for _ in range(8):  # each pass estimates the bytes an article takes; usually one or two do
            size = index_bytes(index)
            count = index.store.counts()["articles"]
            if size <= keep.max_bytes or not count:
                break
            share = math.ceil(count * (size - keep.max_bytes) / size * 1.05)
            ids = index.store.oldest_article_ids(max(share, 1))
            removed += _remove(index, ids)
    after = index_bytes(index)
    log.info("retention removed %d articles; the index went from %d to %d bytes", removed, before, after)
    return RetentionReport(removed, before, after)


def _remove(index, ids: list[str]) -> int:  # noqa: ANN001
    """Remove ``ids`` the way ``newsrag remove`` does, drop the embeddings no passage uses any more, VACUUM."""
    if not ids:
        return 0
    removed = index.remove(article_ids=ids)
    store = index.store
    with index.writing():
        with store.transaction(bump_generation=False) as db:
            store.drop_unused_vectors(db)
        store.vacuum()
    return len(removed)
