"""HTML pages: main text and metadata (title, date, author, site name) through trafilatura."""

from __future__ import annotations

import logging
import re

from rag.dates import parse_date
from rag.ingest.clean import clean_line, clean_text, html_to_text, make_article_id
from rag.ingest.decode import check_size
from rag.types import Article, Problem

log = logging.getLogger(__name__)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)


def read_html(html: str, where: str, url: str = "") -> Article | Problem:
    """The article in an HTML page; a page with no readable text gives a Problem."""
    too_big = check_size(html, where)
    if too_big:
        return too_big
    meta = _extract(html, url)
    # trafilatura puts one newline between paragraphs; clean_text splits paragraphs at blank lines.
    raw = (meta.get("text") or "").replace("\n", "\n\n")
    if not raw.strip():
        raw = html_to_text(html)
    title = clean_line(meta.get("title") or _fallback_title(html))
    text = clean_text(raw, title)
    if not text:
        return Problem(where, "HTML page has no readable article text")
    page_url = clean_line(url or meta.get("url") or "")
    return Article(
        make_article_id(page_url, text), title or text[:80], text, page_url,
        parse_date(meta.get("date")), clean_line(meta.get("sitename") or ""), clean_line(meta.get("author") or ""),
    )


def _extract(html: str, url: str) -> dict:
    try:
        import trafilatura
    except ImportError:  # pragma: no cover - a dependency of the package
        log.warning("trafilatura is not installed (pip install trafilatura); using plain HTML text")
        return {}
    try:
        doc = trafilatura.bare_extraction(html, url=url or None, with_metadata=True, include_comments=False,
                                          favor_precision=True)
    except (ValueError, TypeError, RecursionError) as err:
        log.info("trafilatura could not read the page: %s", err)
        return {}
    if doc is None:
        return {}
    return doc if isinstance(doc, dict) else doc.as_dict()


def _fallback_title(html: str) -> str:
    found = _TITLE.search(html[:200_000])
    return html_to_text(found[1]) if found else ""
