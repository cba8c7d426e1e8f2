"""Bytes to text, with the checks every file reader needs."""

from __future__ import annotations

import codecs
import re

from rag.types import Problem

MAX_ARTICLE_CHARS = 2_000_000
# C0 controls other than tab, newline, form feed and carriage return: plenty in binary data, none in text.
_BINARY_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]")


def _cp1252_fallback(err: UnicodeDecodeError) -> tuple[str, int]:
    """Decode the bytes that are not UTF-8 as Windows-1252 (a superset of Latin-1 in its printable range),
    the usual encoding of text that is not UTF-8; so 'Zürich' in Latin-1 inside a UTF-8 file stays 'Zürich'."""
    bad = err.object[err.start : err.end]
    return bad.decode("cp1252", errors="replace"), err.end


codecs.register_error("newsrag-cp1252", _cp1252_fallback)


def decode_bytes(data: bytes, where: str) -> tuple[str | None, Problem | None]:
    """``(text, None)`` for good UTF-8; ``(text, warning)`` when some bytes were not UTF-8 and were read as
    Windows-1252; ``(None, problem)`` for binary data or an empty file."""
    if not data.strip():
        return None, Problem(where, "file is empty")
    head = data[:8192]
    if b"\x00" in head:
        return None, Problem(where, "looks like a binary file (it contains NUL bytes), not text")
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as err:
        first_bad = err.start
    text = data.decode("utf-8-sig", errors="newsrag-cp1252")
    sample = text[:65536]
    if len(_BINARY_CONTROL.findall(sample)) > max(8, len(sample) // 100):
        return None, Problem(where, f"not UTF-8 text (invalid byte at offset {first_bad}) and full of control "
                             "characters; is it binary?")
    return text, Problem(where, f"not valid UTF-8 (first bad byte at offset {first_bad}); the bytes that are not "
                         "UTF-8 were read as Windows-1252 (Latin-1)", False)


def check_size(text: str, where: str) -> Problem | None:
    if len(text) > MAX_ARTICLE_CHARS:
        return Problem(where, f"article text is {len(text) / 1e6:.1f} million characters, over the limit of "
                       f"{MAX_ARTICLE_CHARS / 1e6:.0f} million; split it into articles")
    return None
