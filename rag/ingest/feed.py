"""RSS and Atom feeds: each item becomes an article (its full content when present, else its summary)."""

from __future__ import annotations

from collections.abc import Iterator

from rag.dates import parse_date
from rag.ingest.clean import clean_line, clean_text, html_to_text, make_article_id
from rag.types import Article, Problem

MAX_ITEMS = 20_000


def looks_like_feed(head: str) -> bool:
    head = head[:2000].lower()
    return "<rss" in head or "<feed" in head or "<rdf:rdf" in head


def read_feed(data: bytes | str, where: str) -> Iterator[Article | Problem]:
    """Articles from the feed's items; an item without text gives a Problem naming its position."""
    import feedparser

    try:
        parsed = feedparser.parse(data)
    except Exception as err:  # noqa: BLE001 - feedparser's loose parser fails on hostile input in ways of its own
        # (a surrogate character reference raises UnicodeEncodeError); a broken feed must not end the ingest.
        yield Problem(where, f"not a readable feed ({type(err).__name__}: {err})")
        return
    if not parsed.entries:
        reason = f"not a readable feed ({parsed.bozo_exception})" if parsed.bozo else "feed has no items"
        yield Problem(where, reason)
        return
    site = clean_line(parsed.feed.get("title", ""))
    for number, entry in enumerate(parsed.entries[:MAX_ITEMS], start=1):
        yield _item(entry, f"{where} item {number}", site)
    if len(parsed.entries) > MAX_ITEMS:
        yield Problem(where, f"feed has {len(parsed.entries)} items; only the first {MAX_ITEMS} were read")


def _item(entry: dict, place: str, site: str) -> Article | Problem:
    title = clean_line(html_to_text(entry.get("title", "")))
    contents = entry.get("content") or []
    raw = contents[0].get("value", "") if contents else entry.get("summary", "")
    text = clean_text(html_to_text(raw), title)
    if not text:
        return Problem(place, "feed item has no text")
    url = clean_line(entry.get("link", ""))
    published = parse_date(entry.get("published") or entry.get("updated") or entry.get("created"))
    item_id = clean_line(entry.get("id") or "")
    article_id = make_article_id(url or item_id, text)
    return Article(article_id, title or text[:80], text, url, published, site, clean_line(entry.get("author", "")))
