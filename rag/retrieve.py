"""Hybrid retrieval: dense (FAISS) and lexical (SQLite FTS5 BM25) candidates, fused by reciprocal rank,
weighted by date, then collapsed so the top results come from distinct stories, each with its best passage.

Dates: articles published after ``as_of`` are never evidence. A date window named in the question ("in
January 2006", "last week") favours articles inside it; "recently", "latest" and plain news questions favour
articles close before ``as_of``; articles without a date are ranked on content alone.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date

from rag.backends.base import ArticleFilter, LexicalQuery
from rag.dates import DateIntent, question_dates, to_date
from rag.text import content_terms
from rag.types import ArticleInfo, Hit, Passage

# Recency prior: score x (1 + boost * exp(-age_days / tau)). News questions are mostly about the news of
# their day; a question that says "recently" or "this week" gets a stronger, shorter prior.
RECENCY = (1.0, 30.0)
RECENCY_STRONG = (2.0, 10.0)
WINDOW_BOOST = 3.0
# The lexical search runs here while the calling thread embeds the question: SQLite and torch both release
# the GIL, so the two overlap on two cores.
_LEXICAL_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="newsrag-lexical")


@dataclass(frozen=True)
class Query:
    text: str
    as_of: date
    top_k: int = 10
    sources: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None
    intent: DateIntent = field(default_factory=DateIntent)

    @classmethod
    def make(cls, text: str, *, as_of: date | str | None = None, sources=(), since=None, until=None,  # noqa: ANN001
             top_k: int = 10) -> Query:
        if top_k < 1:
            raise ValueError(f"top_k must be greater than 0. Currently, top_k is {top_k}")
        day = to_date(as_of) or date.today()
        return cls(text, day, top_k, tuple(s for s in sources if s), to_date(since), to_date(until),
                   question_dates(text, day))

    @property
    def latest(self) -> date:
        """The last publication date an article may have to count as evidence."""
        return min(self.as_of, self.until) if self.until else self.as_of


def lexical_query(text: str, phrase: str = "") -> LexicalQuery:
    """The full-text query of ``text``: its content terms (at most 32), any of which may match; with
    ``phrase``, passages must also hold that phrase."""
    return LexicalQuery(tuple(content_terms(text)[:32]), tuple(phrase.split()))


def retrieve(index, query: Query, timings: dict[str, float] | None = None) -> list[Hit]:  # noqa: ANN001
    """The ``query.top_k`` best passages from distinct stories, best first."""
    timings = timings if timings is not None else {}
    n = index.settings.retrieve.candidates
    mode = index.settings.retrieve.mode
    with_headlines = mode == "hybrid" and index.settings.retrieve.headline_weight
    # The dense list goes 3 x ``candidates`` deep (most passages have no vector, so it is short on stories);
    # a lexical list as deep measured the same once headlines are ranked, and costs 7 ms more.
    lexical_job = _LEXICAL_POOL.submit(_timed_lexical, index, query, n, with_headlines) if mode != "dense" else None
    dense = _dense(index, query, n * 3, timings) if mode != "lexical" else []
    lexical, headlines, timings["lexical"] = lexical_job.result() if lexical_job else ([], [], 0.0)
    t1 = time.perf_counter()
    hits = _fuse(index, query, dense, _with_headlines(lexical, headlines, index.settings.retrieve), lexical)
    timings["fuse"] = (time.perf_counter() - t1) * 1000
    return hits


def _timed_lexical(index, query: Query, n: int, with_headlines: bool) -> tuple[list[int], list[int], float]:  # noqa: ANN001
    t0 = time.perf_counter()
    lexical = _lexical(index, query, n)
    headlines = _headlines(index, query, n) if with_headlines else []
    return lexical, headlines, (time.perf_counter() - t0) * 1000


def _dense(index, query: Query, n: int, timings: dict[str, float]) -> list[int]:  # noqa: ANN001
    if not index.backend.vector_stats()["vectors"]:
        return []
    t0 = time.perf_counter()
    vec = index.embedder.embed([query.text])
    t1 = time.perf_counter()
    ids = index.backend.dense_search(vec, n, search_filter(query))
    timings["embed"] = (t1 - t0) * 1000
    timings["dense"] = (time.perf_counter() - t1) * 1000
    return ids


def _lexical(index, query: Query, n: int) -> list[int]:  # noqa: ANN001
    return [pid for pid, _ in index.store.lexical_search(lexical_query(query.text), n, article_filter(query))]


def _headlines(index, query: Query, n: int) -> list[int]:  # noqa: ANN001
    """Articles whose headline matches the question, best first, each as its lead passage: a headline names
    what the whole article is about. (One row an article in its own table: ranking the headline column of
    every passage took 20 ms a question on RealTimeQA.)"""
    return [pid for pid, _ in index.store.lexical_search(lexical_query(query.text), n, article_filter(query),
                                                         headlines=True)]


def article_filter(query: Query) -> ArticleFilter:
    """The articles ``query`` allows as evidence (the same test as ``_allowed``), for the store to apply."""
    return ArticleFilter(query.latest.isoformat(), query.since.isoformat() if query.since else None,
                         bool(query.until), query.sources)


def search_filter(query: Query) -> ArticleFilter:
    """What the dense search may filter on before ranking: the explicit filters (since, until, sources), which a
    PostgreSQL backend prunes partitions by. The as-of cutoff alone is applied after ranking, by ``_fuse``, as
    it is to FAISS's results, so that both backends rank alike: applied before, the articles it drops no longer
    push the allowed ones down the dense ranking that fusion weighs (RealTimeQA dev mrr@10 0.732 against the
    local backend's 0.758; 0.742 applied after). With a live index the cutoff is today and drops nothing."""
    return ArticleFilter(query.until.isoformat() if query.until else None,
                         query.since.isoformat() if query.since else None, bool(query.until), query.sources)


def _allowed(info: ArticleInfo, query: Query) -> bool:
    published = to_date(info.published)
    if query.sources and info.source not in query.sources:
        return False
    if published is None:
        return not (query.since or query.until)
    if published > query.latest:
        return False
    return not (query.since and published < query.since)


def date_weight(published: str | None, query: Query) -> float:
    """How much the article's date makes it more likely to be the one asked about (1.0 = neutral)."""
    day = to_date(published)
    if day is None:
        return 1.0
    weight = 1.0
    intent = query.intent
    if intent.since or intent.until:
        inside = (not intent.since or day >= intent.since) and (not intent.until or day <= intent.until)
        weight *= WINDOW_BOOST if inside else 1.0
    boost, tau = RECENCY_STRONG if intent.recent else RECENCY
    age = max(0, (query.as_of - day).days)
    return weight * (1.0 + boost * math.exp(-age / tau))


def _with_headlines(lexical: list[int], headlines: list[int], settings) -> list[int]:  # noqa: ANN001
    """The lexical list re-ranked by reciprocal rank fusion with the headline list (measured: this beats
    fusing the headlines as a third list beside dense and lexical)."""
    if not headlines:
        return lexical
    k, wh = settings.rrf_k, settings.headline_weight
    scores: dict[int, float] = {}
    for rank, pid in enumerate(lexical, start=1):
        scores[pid] = scores.get(pid, 0.0) + 1.0 / (k + rank)
    for rank, pid in enumerate(headlines, start=1):
        scores[pid] = scores.get(pid, 0.0) + wh / (k + rank)
    return sorted(scores, key=lambda pid: -scores[pid])


def _evidence(index, query: Query, passage_ids) -> list[tuple[Passage, ArticleInfo]]:  # noqa: ANN001
    """The passages of ``passage_ids`` (in their order) whose articles the query allows, with those articles."""
    allowed, _ = _allowed_articles(index, query, passage_ids)
    passages = index.store.passages(pid for pid, _ in allowed)
    return [(passages[pid], info) for pid, info in allowed if pid in passages]


def _fuse(index, query: Query, dense: list[int], lexical: list[int], answer_lexical: list[int]) -> list[Hit]:  # noqa: ANN001
    """Stories ranked with ``lexical`` (headline-aware); each shown by the passage that ``answer_lexical`` (the
    plain BM25 ranking) and dense retrieval rank best, since every passage of an article shares its headline."""
    k = index.settings.retrieve.rrf_k
    wd, wl = index.settings.retrieve.dense_weight, index.settings.retrieve.lexical_weight
    scores: dict[int, float] = {}
    dense_rank: dict[int, int] = {}
    lexical_rank: dict[int, int] = {}
    for rank, pid in enumerate(dense, start=1):
        dense_rank[pid] = rank
        scores[pid] = scores.get(pid, 0.0) + wd / (k + rank)
    for rank, pid in enumerate(lexical, start=1):
        scores[pid] = scores.get(pid, 0.0) + wl / (k + rank)
    lexical_pick: dict[int, float] = {}
    for rank, pid in enumerate(answer_lexical, start=1):
        lexical_rank[pid] = rank
        lexical_pick[pid] = wl / (k + rank)
    pick = dict(lexical_pick)
    for pid, rank in dense_rank.items():
        pick[pid] = pick.get(pid, 0.0) + wd / (k + rank)
    allowed, without_vector = _allowed_articles(index, query, scores)
    ranked: list[tuple[float, int, ArticleInfo]] = []
    for pid, info in allowed:
        prior = date_weight(info.published, query) if index.settings.retrieve.date_prior else 1.0
        ranked.append((scores[pid] * prior, pid, info))
    ranked.sort(key=lambda r: (-r[0], r[1]))
    # A story is as good as its best passage, plus a little for each further passage that matches: an article
    # about the asked event matches in several places, a digest of many stories in one.
    by_group: dict[str, list[tuple[float, int, ArticleInfo]]] = {}
    grouped = index.settings.retrieve.group_stories
    for item in ranked:
        by_group.setdefault(item[2].group_id if grouped else item[2].article_id, []).append(item)
    support = index.settings.retrieve.story_support
    story = {g: items[0][0] + sum(support ** i * it[0] for i, it in enumerate(items[1:3], start=1))
             for g, items in by_group.items()}
    order = sorted(by_group, key=lambda g: (-story[g], by_group[g][0][1]))[: query.top_k]
    # The passage shown for a story: where some of its passages have no vector (``dense_passages``), the
    # dense ranks would favour the lead for having one, so the passages are compared on the lexical rank alone.
    shown = {}
    for g in order:
        fair = lexical_pick if any(it[1] in without_vector for it in by_group[g]) else pick
        shown[g] = max(by_group[g], key=lambda it: (fair.get(it[1], 0.0), it[0]))
    passages = index.store.passages(pid for _, pid, _ in shown.values())
    members = index.store.group_members(shown) if grouped else {}
    return [Hit(passages[pid], info, story[group], dense_rank.get(pid), lexical_rank.get(pid),
                tuple(m for m in members.get(group, []) if m != info.article_id))
            for group, (_, pid, info) in shown.items() if pid in passages]


def _allowed_articles(index, query: Query, passage_ids) -> tuple[list[tuple[int, ArticleInfo]], set[int]]:  # noqa: ANN001
    """``(passage_id, article)`` for the passages of ``passage_ids`` whose articles the query allows, and the
    ids among them that have no dense vector; reads no passage text (fusion looks at a few hundred candidates
    and shows ten)."""
    owners = index.store.passage_articles(passage_ids)
    infos = index.store.article_infos(aid for aid, _ in owners.values())
    out = []
    for pid in passage_ids:
        info = infos.get(owners[pid][0]) if pid in owners else None
        if info is not None and _allowed(info, query):
            out.append((pid, info))
    return out, {pid for pid, (_, has_vector) in owners.items() if not has_vector}


def option_hits_later(index, query: Query, options: Sequence[str]) -> Future[list[Hit]]:  # noqa: ANN001
    """:func:`option_hits` on the lexical thread pool: the pipeline searches a question's options while it
    retrieves (the question is embedded meanwhile, off the GIL), not after."""
    return _LEXICAL_POOL.submit(option_hits, index, query, options)


def option_hits(index, query: Query, options: Sequence[str], limit: int = 5) -> list[Hit]:  # noqa: ANN001
    """Passages that name an option together with the question's terms, within the query's dates and filters:
    the best ``limit`` for each option in turn, wherever the main retrieval ranked them; the evidence for a
    question's choices. The passages and articles of all options are read in one go."""
    if not lexical_query(query.text).terms:
        return []
    where = article_filter(query)
    found: dict[int, float] = {}
    for option in options:
        phrase = " ".join(t for t in content_terms(option)) or option
        if phrase.strip():
            for pid, score in index.store.lexical_search(lexical_query(query.text, phrase), limit, where):
                found.setdefault(pid, score)
    return [Hit(passage, info, found[passage.passage_id] * date_weight(info.published, query), lexical_rank=rank)
            for rank, (passage, info) in enumerate(_evidence(index, query, found), start=1)]
