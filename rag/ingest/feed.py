"""RSS and Atom feeds: each item becomes an article (its full content when present, else its summary)."""

from __future__ import annotations

import dataclasses
from collections.abc import Container, Iterator

from rag.dates import parse_date
from rag.ingest.clean import clean_line, clean_text, html_to_text, make_article_id
from rag.ingest.raw import NOTHING, item_spans, raw_hash
from rag.types import Article, Problem, Unchanged

MAX_ITEMS = 20_000


def looks_like_feed(head: str) -> bool:
    head = head[:2000].lower()
    return "<rss" in head or "<feed" in head or "<rdf:rdf" in head


def read_feed(data: bytes | str, where: str, known: Container[str] = NOTHING) -> Iterator[Article | Problem | Unchanged]:
    """Articles from the feed's items; an item without text gives a Problem naming its position.

    Each item's raw bytes are hashed before the feed is parsed: the items whose hash is in ``known`` come back
    as ``Unchanged`` and only the others are parsed (the feed is parsed whole when its items cannot be told
    apart by their tags, and then carry no raw hash)."""
    raw = data.encode("utf-8", errors="surrogatepass") if isinstance(data, str) else data
    spans = item_spans(raw)[:MAX_ITEMS]
    hashes = [raw_hash(raw[a:b]) for a, b in spans]
    positions = list(range(len(spans)))
    if spans and any(h in known for h in hashes):
        for number in positions:
            if hashes[number] in known:
                yield Unchanged(f"{where} item {number + 1}", hashes[number])
        positions = [n for n in positions if hashes[n] not in known]
        if not positions:
            return
        # The feed's head and tail around only the new items: feedparser reads a feed of those alone.
        fresh = raw[: spans[0][0]] + b"".join(raw[spans[n][0] : spans[n][1]] for n in positions) + raw[spans[-1][1] :]
        data = fresh.decode("utf-8", errors="surrogatepass") if isinstance(data, str) else fresh
    yield from _parsed(data, where, [(n + 1, hashes[n]) for n in positions])


def _parsed(data: bytes | str, where: str, numbered: list[tuple[int, str]]) -> Iterator[Article | Problem]:
    """The items of ``data``; ``numbered`` gives each its position in the whole feed and raw hash, when the
    parser found as many items as the tags said."""
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
    entries = parsed.entries[:MAX_ITEMS]
    if len(numbered) != len(entries):
        numbered = [(number, "") for number in range(1, len(entries) + 1)]
    for entry, (number, digest) in zip(entries, numbered, strict=True):
        item = _item(entry, f"{where} item {number}", site)
        yield dataclasses.replace(item, raw_hash=digest) if isinstance(item, Article) and digest else item
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
