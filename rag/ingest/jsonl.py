"""JSONL: one article a line with ``id, title, text, url, published, source, author`` and any other fields."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Container, Iterator

from rag.dates import parse_date
from rag.ingest.clean import SURROGATE, clean_line, clean_text, make_article_id
from rag.ingest.decode import check_size
from rag.ingest.raw import NOTHING, raw_hash
from rag.types import Article, Problem, Unchanged

KNOWN = {"id", "title", "text", "url", "published", "source", "author"}


def read_jsonl(text: str, where: str, known: Container[str] = NOTHING) -> Iterator[Article | Problem | Unchanged]:
    """Articles from JSONL text; a bad line gives a Problem naming ``where:line`` and the others still go in; a
    line whose raw hash is in ``known`` is not parsed (``Unchanged``)."""
    # Only "\n" ends a line: str.splitlines() would also split at U+2028 or U+0085 inside a JSON string.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        place = f"{where}:{number}"
        digest = raw_hash(line)
        if digest in known:
            yield Unchanged(place, digest)
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            yield Problem(place, f"not valid JSON ({err.msg} at column {err.colno})")
            continue
        article = article_from_record(record, place)
        yield dataclasses.replace(article, raw_hash=digest) if isinstance(article, Article) else article


def article_from_record(record: object, place: str) -> Article | Problem:
    """An Article from a dict with at least ``text``; a Problem names the field that is wrong."""
    if not isinstance(record, dict):
        return Problem(place, f"expected a JSON object, got {type(record).__name__}")
    raw_text = record.get("text")
    if not isinstance(raw_text, str) or not raw_text.strip():
        return Problem(place, "field 'text' is missing or empty")
    too_big = check_size(raw_text, place)
    if too_big:
        return too_big
    title = _field(record, "title")
    text = clean_text(raw_text, title)
    headline_only = not text and bool(title)
    if headline_only:
        text = title  # a page whose body was only boilerplate still tells its headline
    if not text:
        return Problem(place, "field 'text' has no content once boilerplate is removed")
    url = _field(record, "url")
    given = record.get("id")
    article_id = clean_line(given) if given not in (None, "") else make_article_id(url, text)
    published = parse_date(record.get("published"))
    if record.get("published") and not published:
        return Problem(place, f"field 'published' is not a date: {str(record.get('published'))[:40]!r}")
    metadata = _scrubbed({k: v for k, v in record.items() if k not in KNOWN})
    return Article(article_id, title or _first_words(text), text, url, published,
                   _field(record, "source"), _field(record, "author"), metadata)


def _field(record: dict, name: str) -> str:
    value = record.get(name)
    return clean_line(value) if value is not None else ""


def _first_words(text: str, n: int = 12) -> str:
    words = text.split()
    return " ".join(words[:n]) + ("..." if len(words) > n else "")


def _scrubbed(metadata: dict) -> dict:
    """``metadata`` without lone surrogates in its keys and strings, so that it can be stored as UTF-8."""
    dumped = json.dumps(metadata, ensure_ascii=False, default=str)
    return json.loads(SURROGATE.sub("\ufffd", dumped)) if SURROGATE.search(dumped) else metadata
