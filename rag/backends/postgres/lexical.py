"""Full-text and filter SQL of the PostgreSQL backend.

A ``LexicalQuery`` becomes a ``tsquery``: each term through ``phraseto_tsquery`` (stemmed like the passages,
a term of several words a phrase, as FTS5 reads a quoted term), OR-ed; the phrase, when there is one, AND-ed.
Passages are ranked by ``ts_rank_cd`` (cover density: how many query terms occur and how close together), with
a headline match weighted as a body match (``TITLE_WEIGHT``, as the local backend's BM25 does), normalized by
the log of the passage's length (flag 1) and mapped into [0, 1) (flag 32). Unlike BM25 it knows nothing of how
rare a term is across the index.

``ArticleFilter`` becomes conditions on the passages' own ``published`` (their partition key, so the planner
skips the partitions outside the range; undated passages are filed at -infinity, "on or before" includes them)
and ``source`` columns.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from rag.backends.base import ArticleFilter, LexicalQuery
from rag.backends.postgres.schema import TS_CONFIG

TITLE_WEIGHT = 1.0
BODY_WEIGHT = 1.0
# ts_rank_cd's weights are {D, C, B, A}: the body is weighted D, the headline A.
_WEIGHTS = f"'{{{BODY_WEIGHT}, 0.2, 0.4, {TITLE_WEIGHT}}}'::float4[]"
_NORMALIZATION = 1 | 32
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


def tsquery_sql(query: LexicalQuery) -> tuple[str, list[str]] | None:
    """The tsquery expression of ``query`` with its parameters; None when it has no terms."""
    terms = [t for t in query.terms[:MAX_TERMS] if t.strip()]
    if not terms:
        return None
    expr = " || ".join([f"phraseto_tsquery('{TS_CONFIG}', %s)"] * len(terms))
    params = list(terms)
    if query.phrase:
        expr = f"({expr}) && phraseto_tsquery('{TS_CONFIG}', %s)"
        params.append(" ".join(query.phrase))
    return expr, params


def lexical_sql(query: LexicalQuery, limit: int, where: ArticleFilter | None,
                headlines: bool) -> tuple[str, list[Any]] | None:
    """``SELECT passage_id, score`` best first (ties by id), or None when the query has no terms."""
    built = tsquery_sql(query)
    if built is None:
        return None
    expr, params = built
    clauses, filter_params = filter_sql(where)
    if headlines:
        match, rank = "p.ordinal = 0 AND p.title_tsv @@ q.q", f"ts_rank_cd(p.title_tsv, q.q, {_NORMALIZATION})"
    else:
        match, rank = "p.tsv @@ q.q", f"ts_rank_cd({_WEIGHTS}, p.tsv, q.q, {_NORMALIZATION})"
    conditions = " AND ".join([match, *clauses])
    sql = (f"WITH q AS MATERIALIZED (SELECT {expr} AS q) SELECT p.passage_id, {rank} AS score FROM passages p, q "
           f"WHERE {conditions} ORDER BY score DESC, p.passage_id LIMIT %s")
    return sql, [*params, *filter_params, limit]
