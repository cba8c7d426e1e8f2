"""Plain text articles: an optional leading date line, a title, an optional source line, then the body."""

from __future__ import annotations

from pathlib import Path

from rag.dates import parse_date
from rag.ingest.clean import clean_line, clean_text, make_article_id
from rag.ingest.decode import check_size
from rag.types import Article, Problem


def read_text(text: str, where: str) -> Article | Problem:
    """Read e.g. ``Saturday, 14 December 2019`` / title / ``Sputnik`` / body into an Article."""
    too_big = check_size(text, where)
    if too_big:
        return too_big
    lines = [clean_line(line) for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    head = [i for i, line in enumerate(lines) if line][:3]
    if not head:
        return Problem(where, "file has no text")
    published = None
    first = lines[head[0]]
    if len(first) <= 60 and parse_date(first):
        published = parse_date(first)
        head = head[1:]
    if not head:
        return Problem(where, "file has a date but no title or text")
    title = lines[head[0]]
    body_from = head[0] + 1
    source = ""
    if len(head) > 1 and _looks_like_source(lines[head[1]]):
        source = lines[head[1]]
        body_from = head[1] + 1
    body = clean_text("\n".join(lines[body_from:]), title)
    if not body:
        return Problem(where, "article has a title but no body text")
    return Article(make_article_id("", title + "\n" + body), title, body, "", published, source,
                   metadata={"file": Path(where).name})


def _looks_like_source(line: str) -> bool:
    """A short line without sentence punctuation, such as 'Sputnik' or 'The Guardian'."""
    return 0 < len(line.split()) <= 4 and not line.endswith((".", "?", "!", ":", ",")) and len(line) <= 40
