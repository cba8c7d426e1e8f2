"""Bytes to text, with the checks every file reader needs."""

from __future__ import annotations

from rag.types import Problem

MAX_ARTICLE_CHARS = 2_000_000


def decode_bytes(data: bytes, where: str) -> tuple[str | None, Problem | None]:
    """``(text, None)`` for good UTF-8; ``(text, warning)`` when bytes had to be replaced; ``(None, problem)``
    for binary data or an empty file."""
    if not data.strip():
        return None, Problem(where, "file is empty")
    head = data[:8192]
    if b"\x00" in head:
        return None, Problem(where, "looks like a binary file (it contains NUL bytes), not text")
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as err:
        text = data.decode("utf-8", errors="replace")
        if text.count("\ufffd") > max(16, len(text) // 20):
            return None, Problem(where, f"not UTF-8 text (invalid byte at offset {err.start}); is it binary?")
        return text, Problem(where, f"invalid UTF-8 at byte {err.start}; bad bytes were replaced with U+FFFD", False)


def check_size(text: str, where: str) -> Problem | None:
    if len(text) > MAX_ARTICLE_CHARS:
        return Problem(where, f"article text is {len(text) / 1e6:.1f} million characters, over the limit of "
                       f"{MAX_ARTICLE_CHARS / 1e6:.0f} million; split it into articles")
    return None
