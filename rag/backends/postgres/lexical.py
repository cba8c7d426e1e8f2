"""Full-text and filter SQL of the PostgreSQL backend.

Passages are ranked by BM25 as SQLite's FTS5 computes it (``bm25()``: k1 = 1.2, b = 0.75, idf =
ln((N - n + 0.5) / (n + 0.5)), at least 1e-6), so both backends rank alike; only the tokenizers differ (FTS5's
Porter stemmer and unicode61 against PostgreSQL's ``english`` configuration, which also drops stop words).
Each term of a ``LexicalQuery`` becomes a ``phraseto_tsquery`` (stemmed like the passages; a term of several
words a phrase, as FTS5 reads a quoted term). The GIN index finds the passages matching any term; for each,
``ts_rank_cd`` of one term with normalization 0 and unit weights is that term's frequency (headline occurrences
weighted ``TITLE_WEIGHT``); the matches themselves give each term's document count ``n`` (every passage holding
a term matches the OR), and ``meta`` keeps N and the total words (``store._count_lexical``). With a phrase,
only passages holding it are returned, and the phrase scores as one more term, as in FTS5.

``ArticleFilter`` becomes conditions on the passages' own ``published`` (their partition key, so a dense search
skips the partitions outside the range; undated passages are filed at -infinity, so "on or before" includes
them) and ``source`` columns. Lexical search applies it after counting the matches, as the local backend does.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from rag.backends.base import ArticleFilter, LexicalQuery
from rag.backends.postgres.schema import TS_CONFIG

TITLE_WEIGHT = 1.0  # a headline occurrence against one in the body (the local backend's BM25 weight)
K1, B = 1.2, 0.75
# ts_rank_cd's weights are {D, C, B, A}: the body is weighted D, the headline A.
_WEIGHTS = f"'{{1.0, 1.0, 1.0, {TITLE_WEIGHT}}}'::float4[]"
MAX_TERMS = 32


def filter_sql(where: ArticleFilter | None, alias: str = "p") -> tuple[list[str], list[Any]]:
    """The filter as conditions on ``alias`` (passages) columns, with their parameters."""
    if where is None:
        return [], []
    clauses: list[str] = []
    params: list[Any] = []
    if where.latest:
        clauses.append(f"{alias}.published <= %s")  # -infinity (undated) included
        params.append(date.fromisoformat(where.latest))
    if where.since:
        clauses.append(f"{alias}.published >= %s")
        params.append(date.fromisoformat(where.since))
    if where.dated_only:
        clauses.append(f"{alias}.published >= '0001-01-01'")
    if where.sources:
        clauses.append(f"{alias}.source = ANY(%s)")
        params.append(list(where.sources))
    return clauses, params


def lexical_sql(query: LexicalQuery, limit: int, where: ArticleFilter | None,
                headlines: bool) -> tuple[str, list[Any]] | None:
    """``SELECT passage_id, bm25`` best first (ties by id), or None when the query has no terms."""
    terms = [t for t in query.terms[:MAX_TERMS] if t.strip()]
    if not terms:
        return None
    phrases = [*terms, " ".join(query.phrase)] if query.phrase else terms
    k = len(phrases)
    tsv, length, stats = ("title_tsv", "title_len", "headline") if headlines else ("tsv", "doc_len", "passage")
    clauses, filter_params = filter_sql(where)
    if query.phrase:
        clauses.append(f"p.{tsv} @@ q.t{k - 1}")
    ok = " AND ".join(clauses) or "true"
    q = ", ".join(f"phraseto_tsquery('{TS_CONFIG}', %s) AS t{i}" for i in range(k))
    any_term = " || ".join(f"q.t{i}" for i in range(len(terms)))
    # ts_rank_cd only where the term occurs: @@ is a binary search, ts_rank_cd builds the document's positions.
    tf = ", ".join(f"CASE WHEN p.{tsv} @@ q.t{i} THEN ts_rank_cd({_WEIGHTS}, p.{tsv}, q.t{i}, 0) ELSE 0 END AS f{i}"
                   for i in range(k))
    df = ", ".join(f"count(*) FILTER (WHERE f{i} > 0) AS n{i}" for i in range(k))
    norm = f"{K1} * (1 - {B} + {B} * m.len / GREATEST(s.words / GREATEST(s.n, 1), 1))"
    score = " + ".join(f"GREATEST(ln((s.n - d.n{i} + 0.5) / (d.n{i} + 0.5)), 1e-6) * m.f{i} * {K1 + 1} / "
                       f"(m.f{i} + {norm})" for i in range(k))
    head = "WHERE p.ordinal = 0 AND" if headlines else "WHERE"
    sql = (f"WITH q AS MATERIALIZED (SELECT {q}), "
           f"s AS MATERIALIZED (SELECT max(value::float8) FILTER (WHERE key = '{stats}_count') AS n, "
           f"max(value::float8) FILTER (WHERE key = '{stats}_words') AS words FROM meta), "
           f"m AS MATERIALIZED (SELECT p.passage_id, p.{length} AS len, ({ok}) AS ok, {tf} FROM passages p, q "
           f"{head} p.{tsv} @@ ({any_term})), "
           f"d AS MATERIALIZED (SELECT {df} FROM m) "
           f"SELECT m.passage_id, {score} AS score FROM m, d, s WHERE m.ok ORDER BY score DESC, m.passage_id LIMIT %s")
    return sql, [*phrases, *filter_params, limit]
