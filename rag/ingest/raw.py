"""The identity of an input record by its raw bytes, so that an unchanged record is skipped before it is parsed,
cleaned or split.

A record is what gives one article: a JSONL line, a feed item, a text file or an HTML page (with its URL, which
the page's article id depends on). ``READER_VERSION`` is part of every hash: when the readers change what they
make of the same bytes, bump it and the next ingest reads everything again.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Container

READER_VERSION = "1"
# RSS <item>, RDF <item rdf:about=...>, Atom <entry>: the byte span of each, without parsing the XML.
_ITEMS = re.compile(rb"<(item|entry)(?=[\s>/])[^>]*>.*?</\1\s*>", re.S | re.I)

NOTHING: Container[str] = frozenset()


def raw_hash(data: bytes | str, context: str = "") -> str:
    """sha1 of the reader version, ``context`` (what else the article depends on, such as a page's URL) and
    the bytes."""
    body = data.encode("utf-8", errors="surrogatepass") if isinstance(data, str) else data
    digest = hashlib.sha1(f"newsrag-raw/{READER_VERSION}\0{context}\0".encode("utf-8", errors="replace"))
    digest.update(body)
    return digest.hexdigest()


def item_spans(data: bytes) -> list[tuple[int, int]]:
    """``[(start, end)]`` of each feed item in ``data``, in document order (empty for no items or no XML)."""
    return [m.span() for m in _ITEMS.finditer(data)]
