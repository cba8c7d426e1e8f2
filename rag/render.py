"""Plain-text rendering of answers and stats for the terminal (the app renders its own HTML)."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from typing import Any

from rag.config import is_url
from rag.dates import human_date
from rag.types import Answer, Source


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun``, plural unless n is 1: '1 article', '2 articles', '1,200 passages'."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def shown_path(path: str | Path) -> str:
    """A directory as a user would type it: './index' for a relative path, else the path (or URL) as it is."""
    text = str(path)
    return text if is_url(text) or Path(text).is_absolute() or text.startswith(".") else f"./{text}"


def source_line(s: Source) -> str:
    parts = [s.source, human_date(s.published)]
    meta = ", ".join(p for p in parts if p)
    return f"{s.title}" + (f" — {meta}" if meta else "")


def highlighted(s: Source, left: str = "»", right: str = "«") -> str:
    if not s.highlight:
        return s.passage
    a, b = s.highlight
    return s.passage[:a] + left + s.passage[a:b] + right + s.passage[b:]


def answer_text(answer: Answer, width: int | None = None) -> str:
    width = width or min(100, shutil.get_terminal_size((100, 20)).columns)
    lines = [textwrap.fill(f"Answer: {answer.short_answer}", width), ""] if answer.short_answer else []
    lines.append(textwrap.fill(answer.text, width))
    if answer.search_query and answer.search_query != answer.question:
        lines.append(f"(searched for: {answer.search_query})")
    for title, items in (("Sources", answer.sources), ("Related", answer.related)):
        if not items:
            continue
        lines += ["", f"{title}:"]
        for s in items:
            lines.append(textwrap.fill(f"[{s.marker}] {source_line(s)}", width, subsequent_indent="    "))
            if s.url:
                lines.append(f"    {s.url}")
            if s.copies:
                lines.append(f"    also published as: {', '.join(s.copies)}")
            lines.append(textwrap.fill(highlighted(s), width, initial_indent="    ", subsequent_indent="    "))
    return "\n".join(lines)


def stats_text(stats: dict[str, Any]) -> str:
    sources = stats.get("sources") or {}
    shown = ", ".join(f"{k} ({v})" for k, v in list(sources.items())[:8])
    more = f" and {len(sources) - 8} more" if len(sources) > 8 else ""
    rows = [
        ("database" if is_url(stats["index_dir"]) else "directory", shown_path(stats["index_dir"])),
        ("articles", f"{stats['articles']:,} in {counted(stats['story_groups'], 'story', 'stories')}"),
        ("passages", f"{stats['passages']:,} ({stats['dense_passages']:,} with a dense vector)"),
        ("sources", (shown + more) or "-"),
        ("published", f"{human_date(stats['first_published']) or '-'} to {human_date(stats['last_published']) or '-'}"),
        ("model", f"{stats['model']} ({stats['dim']} dimensions)" if stats.get("dim") else stats["model"]),
        ("vector index", f"{stats['index_type'] or '-'}, {counted(stats['vectors'], 'vector')}"),
        ("size on disk", f"{stats['size_bytes'] / 1e6:.1f} MB"),
    ]
    return "\n".join(f"{k:>13}  {v}" for k, v in rows)
