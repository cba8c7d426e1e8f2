"""Full-text and filter SQL of the PostgreSQL backend.

Passages are ranked by BM25 as SQLite's FTS5 computes it (``bm25()``: k1 = 1.2, b = 0.75, idf =
ln((N - n + 0.5) / (n + 0.5)), at least 1e-6), so both backends rank alike; only the tokenizers differ (FTS5's
Porter stemmer and unicode61 against PostgreSQL's ``english`` configuration, which also drops stop words).
Each term of a ``LexicalQuery`` becomes a ``phraseto_tsquery`` (stemmed like the passages; a term of several
words a phrase, as FTS5 reads a quoted term). The GIN index finds each term's postings (the passages holding
it); for each, ``ts_rank_cd`` of that term with normalization 0 and unit weights is its frequency (headline
occurrences weighted ``TITLE_WEIGHT``); the postings' number is the term's document count ``n``, and ``meta``
keeps N and the total words (``store._count_lexical``). With a phrase, only passages holding it (and a term) are
returned, and the phrase scores as one more term, as in FTS5.

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
    """``SELECT passage_id, bm25`` best first (ties by id), or None when the query has no terms.

    One GIN lookup a term gives its postings (the passages holding it, with the term's frequency there); a
    term's postings count is its document count; a passage's score sums its postings'. Postings rather than
    every match times every term: a typical question's 18 terms match 11,000 of RealTimeQA's passages, and
    testing each term on each match took twice as long."""
    terms = [t for t in query.terms[:MAX_TERMS] if t.strip()]
    if not terms:
        return None
    phrases = [*terms, " ".join(query.phrase)] if query.phrase else terms
    tsv, length, stats = ("title_tsv", "title_len", "headline") if headlines else ("tsv", "doc_len", "passage")
    clauses, filter_params = filter_sql(where)
    ok = " AND ".join(clauses) or "true"
    tsqueries = ", ".join([f"phraseto_tsquery('{TS_CONFIG}', %s)"] * len(phrases))
    lead = " AND p.ordinal = 0" if headlines else ""
    # With a phrase (the last "term"): only passages holding it and at least one term, as FTS5's MATCH has it.
    having = f"HAVING bool_or(h.i = {len(phrases)}) AND bool_or(h.i < {len(phrases)}) " if query.phrase else ""
    sql = (f"WITH s AS MATERIALIZED (SELECT max(value::float8) FILTER (WHERE key = '{stats}_count') AS n, "
           f"GREATEST(max(value::float8) FILTER (WHERE key = '{stats}_words') / GREATEST(max(value::float8) "
           f"FILTER (WHERE key = '{stats}_count'), 1), 1) AS avgdl FROM meta), "
           f"h AS MATERIALIZED (SELECT u.i, p.passage_id, p.{length} AS len, ({ok}) AS ok, "
           f"ts_rank_cd({_WEIGHTS}, p.{tsv}, u.t, 0) AS f "
           f"FROM unnest(ARRAY[{tsqueries}]) WITH ORDINALITY AS u(t, i) JOIN passages p ON p.{tsv} @@ u.t{lead}), "
           f"d AS MATERIALIZED (SELECT h.i, GREATEST(ln((s.n - count(*) + 0.5) / (count(*) + 0.5)), 1e-6) AS idf "
           f"FROM h, s GROUP BY h.i, s.n) "
           f"SELECT h.passage_id, {K1 + 1} * sum(d.idf * h.f / (h.f + {K1} * (1 - {B} + {B} * h.len / s.avgdl))) "
           f"AS score FROM h JOIN d ON d.i = h.i, s WHERE h.ok GROUP BY h.passage_id {having}"
           "ORDER BY score DESC, h.passage_id LIMIT %s")
    return sql, [*filter_params, *phrases, limit]
