"""What the pipeline needs of an index, as two interfaces every backend implements.

``Store`` holds the truth: articles, passages, full-text search, the embedding cache, near-duplicate buckets,
raw-input hashes, the feed poller's state and a ``generation`` that every write bumps. ``Backend`` adds the
dense vectors (FAISS files beside SQLite, or pgvector columns inside PostgreSQL) and the life cycle: opening,
one writer at a time, picking up other processes' writes, sizes.

Writes go through ``with store.transaction() as tx:`` and the methods that take ``tx``; a backend decides
what ``tx`` is (a SQLite connection, a psycopg connection in a transaction). Reads that must see the
transaction's own uncommitted rows take ``tx`` too. Everything else reads committed state.

Implementations: ``rag.backends.local`` (SQLite + FAISS, the default) and ``rag.backends.postgres``
(PostgreSQL + pgvector). ``tests/test_backends.py`` runs the same contract tests on both.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from rag.types import Article, ArticleInfo, Passage


@dataclass(frozen=True)
class ArticleFilter:
    """Which articles may be evidence: published on or before ``latest`` (undated ones too, unless
    ``dated_only``), on or after ``since``, from one of ``sources`` (empty = any). Dates are ISO days."""

    latest: str | None = None
    since: str | None = None
    dated_only: bool = False
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class LexicalQuery:
    """A full-text query: passages matching any of ``terms`` (lower-cased words), ranked by how well they match
    (BM25 in SQLite, ``ts_rank_cd`` in PostgreSQL); with ``phrase`` (words in order), only passages that also
    contain that phrase."""

    terms: tuple[str, ...]
    phrase: tuple[str, ...] = ()


@dataclass(frozen=True)
class StoredArticle:
    """An article as stored, with everything derived from it that cannot be derived again without reading and
    embedding it (``newsrag copy`` moves these between backends): a copy of another article's text has no
    passages; ``embed_hashes`` key the embedding cache (None: the passage has no vector)."""

    article: Article
    text_hash: str
    group_id: str
    signature: bytes | None
    added_at: float
    passages: tuple[Passage, ...]
    embed_hashes: tuple[str | None, ...]
    raw_hashes: tuple[str, ...]


class Store(Protocol):
    """Articles, passages and everything derived from them, in one transactional database."""

    # --- transactions and meta ------------------------------------------------------------------------------
    def transaction(self, bump_generation: bool = True) -> AbstractContextManager[Any]:
        """All-or-nothing write; ``bump_generation`` (for writes that change articles, passages or vectors)
        tells readers in other processes that the index changed."""

    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, tx: Any, key: str, value: str) -> None: ...
    def generation(self) -> int: ...

    # --- articles -------------------------------------------------------------------------------------------
    def existing(self, article_ids: Iterable[str]) -> dict[str, str]:
        """``{article_id: text_hash}`` for the ids already stored."""

    def stored_text_hash(self, article_id: str) -> str | None:
        """The text hash of the article when it is stored with passages (a copy without passages gives None)."""

    def hash_owner(self, text_hash: str) -> str | None:
        """The article that holds the passages of this text; copies of it hold none and never own it."""

    def orphaned_copies(self, article_ids: Iterable[str]) -> set[str]:
        """The ids among ``article_ids`` stored as copies (no passages) whose original has been removed."""

    def group_of(self, tx: Any, article_id: str) -> str | None:
        """The story group of a stored article, as the transaction sees it."""

    def insert_article(self, tx: Any, article: Article, text_hash: str, group_id: str,
                       signature: bytes | None, added_at: float | None = None) -> None:
        """``added_at`` (Unix time) defaults to now."""

    def insert_passages(self, tx: Any, article: Article, passages: Sequence[Passage],
                        embed_hashes: Sequence[str | None], vectors: dict[str, np.ndarray]) -> list[int]:
        """Store the passages (with their full-text rows); returns their new ids in order. ``vectors`` maps
        ``embed_hashes`` to vectors, for a backend that keeps a passage's vector beside it."""

    def delete_articles(self, tx: Any, article_ids: Sequence[str]) -> list[int]:
        """Delete articles with everything derived from them; returns the passage ids removed."""

    def drop_unused_vectors(self, tx: Any) -> None:
        """Empty the embedding cache of vectors no stored passage uses (after retention removed articles)."""

    def article_ids_where(self, *, urls: Sequence[str] = (), sources: Sequence[str] = (),
                          since: str | None = None, until: str | None = None) -> list[str]:
        """Ids of the articles matching every given criterion; none given gives none."""

    def article_ids_published_before(self, day: str) -> list[str]:
        """Articles published before ``day``; an undated one counts by the day it was added."""

    def oldest_article_ids(self, limit: int) -> list[str]:
        """The ``limit`` oldest articles, by the same age as ``article_ids_published_before``."""

    def article_infos(self, article_ids: Iterable[str]) -> dict[str, ArticleInfo]: ...
    def group_members(self, group_ids: Iterable[str]) -> dict[str, list[str]]:
        """Article ids of each story group, newest first."""

    def added_titles(self, article_ids: Sequence[str], since: float) -> list[tuple[float, str]]:
        """``(added_at, title)`` of those articles added at or after the Unix time ``since``."""

    def recent_headlines(self, limit: int) -> list[tuple[str, str]]:
        """``(title, source)`` of the newest articles that have a headline."""

    def export_articles(self, batch: int = 256) -> Iterator[list[StoredArticle]]:
        """Every article, originals before the copies of their text, in batches of about ``batch``."""

    # --- raw input hashes -----------------------------------------------------------------------------------
    def raw_known(self, raw_hash: str) -> bool: ...
    def record_raw(self, tx: Any, pairs: Iterable[tuple[str, str]]) -> None:
        """Remember ``(raw_hash, article_id)`` pairs whose article is stored."""

    # --- passages and full text -----------------------------------------------------------------------------
    def passages(self, passage_ids: Iterable[int]) -> dict[int, Passage]: ...
    def article_passages(self, article_id: str) -> list[Passage]:
        """Every passage of one article, in reading order."""

    def passage_articles(self, passage_ids: Iterable[int]) -> dict[int, tuple[str, bool]]:
        """``{passage_id: (article_id, has a dense vector)}``."""

    def lexical_search(self, query: LexicalQuery, limit: int, where: ArticleFilter | None = None,
                       headlines: bool = False) -> list[tuple[int, float]]:
        """``[(passage_id, score)]`` best first, higher is better; with ``headlines``, articles ranked by
        their headline alone, each as its lead passage (ordinal 0)."""

    # --- embeddings and near duplicates ---------------------------------------------------------------------
    def cached_vectors(self, model: str, hashes: Sequence[str]) -> dict[str, np.ndarray]: ...
    def put_vectors(self, tx: Any, model: str, vectors: dict[str, np.ndarray]) -> None: ...
    def indexed_vectors(self, model: str) -> tuple[np.ndarray, np.ndarray]:
        """``(passage_ids int64 [n], vectors float32 [n, dim])`` of every passage that has a dense vector."""

    def lsh_candidates(self, tx: Any, buckets: Sequence[int]) -> list[tuple[str, str, bytes]]:
        """``(article_id, group_id, signature)`` of articles sharing any LSH bucket, as the transaction sees it."""

    def insert_lsh(self, tx: Any, article_id: str, buckets: Sequence[int]) -> None: ...

    # --- the feed poller's state ----------------------------------------------------------------------------
    def follow_rows(self) -> list[dict[str, Any]]:
        """Every followed source's saved state (the columns of ``rag.follow.state.SourceState``), by url."""

    def follow_row(self, url: str) -> dict[str, Any] | None: ...
    def put_follow_row(self, row: dict[str, Any]) -> None:
        """Insert or replace one source's state (committed on its own; bumps no generation)."""

    # --- stats and upkeep -----------------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """``articles``, ``passages``, ``dense_passages``, ``story_groups``."""

    def sources(self) -> list[tuple[str, int]]: ...
    def date_range(self) -> tuple[str | None, str | None]: ...
    def vacuum(self) -> None:
        """Give the space of deleted rows back."""

    def close(self) -> None: ...


class Backend(Protocol):
    """A ``Store`` plus the dense vectors and the index's life cycle."""

    store: Store
    location: str  # a directory or a URL without its password, for messages
    generation: int  # the generation whose vectors searches see
    # True when size_bytes() falls as soon as removed articles are vacuumed away (retention by size needs it).
    reclaims_space: bool

    def recorded(self) -> dict[str, Any] | None:
        """What the index records of itself (``model``, ``dim``, ``format_version``), None for a new one."""

    def refresh(self, force: bool = False) -> bool:
        """Pick up writes of other processes; True when something changed."""

    def writing(self, wait_s: float = 600.0) -> AbstractContextManager[None]:
        """Hold the index's write lock: one writer at a time, across processes and machines."""

    def searching(self) -> AbstractContextManager[None]:
        """Held around searches (FAISS must not be searched while it changes in place)."""

    def apply(self, removed: Sequence[int], ids: np.ndarray, vectors: np.ndarray) -> None:
        """After a committed write: drop the ``removed`` passages' vectors, add ``vectors`` under ``ids``."""

    def dense_search(self, vector: np.ndarray, limit: int, where: ArticleFilter | None = None) -> list[int]:
        """Passage ids nearest to ``vector`` (1 x dim, normalized), best first. A backend may apply ``where``
        before ranking (PostgreSQL) or leave it to the caller (FAISS)."""

    def vector_stats(self) -> dict[str, Any]:
        """``index_type`` and ``vectors`` (how many are searchable)."""

    def size_bytes(self) -> int: ...
    def close(self) -> None: ...


def batched(items: Sequence, size: int = 500) -> Iterator[Sequence]:
    """``items`` in slices of ``size`` (SQLite limits the variables of one statement)."""
    for lo in range(0, len(items), size):
        yield items[lo : lo + size]
