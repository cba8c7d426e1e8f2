"""Readers: turn paths, directories and URLs into Articles, or Problems that say what is wrong and where.

``read_inputs`` is the one entry point; it dispatches on the URL scheme, the file extension and the content.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Container, Iterable, Iterator
from pathlib import Path

from rag.errors import InputError
from rag.ingest.decode import decode_bytes
from rag.ingest.feed import looks_like_feed, read_feed
from rag.ingest.html import read_html
from rag.ingest.jsonl import read_jsonl
from rag.ingest.raw import NOTHING, raw_hash
from rag.ingest.text import read_text
from rag.ingest.titles import with_cased_title
from rag.ingest.url import fetch, is_url
from rag.types import Article, Problem, Unchanged

JSONL = {".jsonl", ".ndjson", ".json"}
TEXT = {".txt", ".text"}
HTML = {".html", ".htm", ".xhtml"}
FEED = {".xml", ".rss", ".atom"}
SUPPORTED = JSONL | TEXT | HTML | FEED
MAX_FILE_BYTES = 512 * 1024 * 1024

__all__ = ["SUPPORTED", "read_body", "read_inputs", "read_path", "read_url"]
Read = Article | Problem | Unchanged


def read_inputs(inputs: Iterable[str | Path], timeout_s: float = 15.0, max_fetch_bytes: int = 20 * 1024 * 1024,
                allow_private_urls: bool = True, known: Container[str] = NOTHING) -> Iterator[Read]:
    """Articles (and Problems) from each input in order: a file, a directory (recursively) or an http(s) URL.

    ``allow_private_urls=False`` refuses URLs whose host is a loopback, private or link-local address. A record
    (JSONL line, feed item, file, page) whose raw hash (``Article.raw_hash``) is in ``known`` is not parsed:
    it comes back as ``Unchanged``.
    """
    for item in inputs:
        text = str(item)
        if is_url(text):
            yield from read_url(text, timeout_s, max_fetch_bytes, allow_private_urls, known)
        elif "://" in text:
            yield Problem(text, "only http:// and https:// addresses can be fetched")
        else:
            yield from read_path(Path(text), known)


def read_path(path: Path, known: Container[str] = NOTHING) -> Iterator[Read]:
    if not path.exists():
        yield Problem(str(path), "no such file or directory")
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED)
        if not files:
            yield Problem(str(path), f"directory has no files ending in {', '.join(sorted(SUPPORTED))}")
        for file in files:
            yield from read_file(file, known)
    else:
        yield from read_file(path, known)


def read_file(path: Path, known: Container[str] = NOTHING) -> Iterator[Read]:
    where = str(path)
    suffix = path.suffix.lower()
    # Checked before reading: a device or pipe (/dev/zero, a FIFO) would never end, an unsupported file is
    # not worth reading.
    if suffix not in SUPPORTED:
        yield Problem(where, f"unsupported file type {suffix or '(none)'}; use one of {', '.join(sorted(SUPPORTED))}")
        return
    try:
        if not path.is_file():
            yield Problem(where, "not a regular file (a device, pipe or socket)")
            return
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            yield Problem(where, f"file is {size // (1024 * 1024)} MiB, over the {MAX_FILE_BYTES // (1024 * 1024)} MiB limit")
            return
        data = path.read_bytes()
    except OSError as err:
        yield Problem(where, f"cannot read file ({err.strerror or err})")
        return
    yield from _read_bytes(data, where, suffix, known=known)


def _read_bytes(data: bytes, where: str, suffix: str, url: str = "", known: Container[str] = NOTHING) -> Iterator[Read]:
    """What a file or fetched body holds, read by its suffix; every reader's articles pass here, so a headline made
    from a web address is cased here (:func:`rag.ingest.titles.with_cased_title`) for every way in: a local ingest,
    a Ray cluster's, a followed feed."""
    for item in _parsed(data, where, suffix, url, known):
        yield with_cased_title(item) if isinstance(item, Article) else item


def _parsed(data: bytes, where: str, suffix: str, url: str = "", known: Container[str] = NOTHING) -> Iterator[Read]:
    if suffix not in JSONL and suffix not in FEED:  # one article a file or page: skipped whole when unchanged
        whole = raw_hash(data, f"{suffix} {url}")
        if whole in known:
            yield Unchanged(where, whole)
            return
    text, problem = decode_bytes(data, where)
    if problem:
        yield problem
    if text is None:
        return
    if suffix in JSONL:
        yield from read_jsonl(text, where, known)
    elif suffix in FEED or looks_like_feed(text):
        yield from read_feed(data, where, known)
    else:
        article = read_html(text, where, url) if suffix in HTML else read_text(text, where)
        yield dataclasses.replace(article, raw_hash=whole) if isinstance(article, Article) else article


def read_url(url: str, timeout_s: float = 15.0, max_bytes: int = 20 * 1024 * 1024,
             allow_private: bool = True, known: Container[str] = NOTHING) -> Iterator[Read]:
    """The page or feed at ``url``; network failures (and refused private addresses) become one Problem naming
    the URL."""
    try:
        body, content_type, final_url = fetch(url, timeout_s, max_bytes, allow_private)
    except InputError as err:
        yield Problem(err.where, err.reason)
        return
    yield from read_body(body, content_type, url, final_url, known)


def read_body(body: bytes, content_type: str, where: str, final_url: str = "",
              known: Container[str] = NOTHING) -> Iterator[Read]:
    """The articles of a fetched page or feed, read by its content type (else by what it looks like)."""
    kind = content_type.split(";")[0].strip().lower()
    head = body[:2000].decode("utf-8", errors="replace")
    if "json" in kind or final_url.endswith((".jsonl", ".ndjson")):
        suffix = ".jsonl"
    elif "xml" in kind or "rss" in kind or "atom" in kind or looks_like_feed(head):
        suffix = ".xml"
    elif kind == "text/plain":
        suffix = ".txt"
    else:
        suffix = ".html"
    yield from _read_bytes(body, where, suffix, final_url, known)
