"""Frozen dataclasses that cross stage boundaries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Article:
    """One news article as read from a file, feed or URL; ``text`` is already cleaned."""

    article_id: str
    title: str
    text: str
    url: str = ""
    published: str | None = None  # ISO date, YYYY-MM-DD
    source: str = ""
    author: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Passage:
    """A span of an article's text: ``text == article.text[start:end]``."""

    article_id: str
    ordinal: int
    start: int
    end: int
    text: str
    passage_id: int = -1


@dataclass(frozen=True)
class ArticleInfo:
    """What retrieval and composing need to know of an article, without its text."""

    article_id: str
    title: str
    url: str
    published: str | None
    source: str
    author: str
    group_id: str


@dataclass(frozen=True)
class Hit:
    """A retrieved passage with the article it belongs to.

    ``copies`` lists the ids of near-duplicate articles of the same group (syndicated copies, updates).
    """

    passage: Passage
    article: ArticleInfo
    score: float
    dense_rank: int | None = None
    lexical_rank: int | None = None
    copies: tuple[str, ...] = ()


@dataclass(frozen=True)
class Source:
    """A cited passage as shown under an answer; ``highlight`` is a (start, end) span inside ``passage``."""

    marker: int
    article_id: str
    title: str
    source: str
    published: str | None
    url: str
    passage: str
    passage_id: int
    highlight: tuple[int, int] | None = None
    copies: tuple[str, ...] = ()


@dataclass(frozen=True)
class Citation:
    """A marker ``[marker]`` in the answer and the sentence of the passage it points at."""

    marker: int
    article_id: str
    passage_id: int
    sentence: str


@dataclass(frozen=True)
class Answer:
    """The composed reply to one question; every renderer (CLI, app, eval) starts from this."""

    question: str
    text: str
    citations: tuple[Citation, ...] = ()
    sources: tuple[Source, ...] = ()
    related: tuple[Source, ...] = ()
    abstained: bool = False
    choice: str | None = None
    search_query: str = ""
    # The answer in a few words ("April 2020", "Ismail Demir"): the option picked, or the phrase of the answering
    # sentence that answers; "" when the question is declined.
    short_answer: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    hits: tuple[Hit, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``short_answer``, ``answer``, ``citations``, ``sources``, ``related``, ``abstained``,
        ``choice``..."""
        return {
            "question": self.question,
            "search_query": self.search_query,
            "short_answer": self.short_answer,
            "answer": self.text,
            "abstained": self.abstained,
            "choice": self.choice,
            "citations": [c.__dict__ for c in self.citations],
            "sources": [_source_dict(s) for s in self.sources],
            "related": [_source_dict(s) for s in self.related],
            "retrieved_doc_ids": [h.article.article_id for h in self.hits],
            "timings_ms": {k: round(v, 2) for k, v in self.timings.items()},
        }


def _source_dict(s: Source) -> dict[str, Any]:
    d = dict(s.__dict__)
    d["highlight"] = list(s.highlight) if s.highlight else None
    d["copies"] = list(s.copies)
    return d


@dataclass(frozen=True)
class Problem:
    """An input that could not be ingested: where it is and why."""

    where: str
    reason: str
    skipped: bool = True  # False for a warning: the article still went in

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"
