"""The sources to follow: one URL a line (or an argument), with an optional ``every=5m`` of its own.

    # comments and blank lines are ignored
    https://example.org/rss.xml every=5m
    https://example.org/news/page.html
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rag.errors import RagError
from rag.ingest.url import is_url

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SIZES = {"b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4, "kib": 1024, "mib": 1024**2,
          "gib": 1024**3, "tib": 1024**4}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.I)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)\s*$", re.I)


@dataclass(frozen=True)
class Source:
    """A feed or page to poll every ``every_s`` seconds."""

    url: str
    every_s: float


@dataclass(frozen=True)
class Keep:
    """What retention keeps: articles younger than ``max_age_s``, or an index of at most ``max_bytes``."""

    max_age_s: float | None = None
    max_bytes: int | None = None


def parse_duration(text: str, where: str = "duration") -> float:
    """Seconds in ``30s``, ``15m``, ``2h``, ``90d`` or ``1w``; RagError names what is wrong."""
    found = _DURATION.match(str(text))
    if not found or float(found[1]) <= 0:
        raise RagError(f"{where}: expected a duration such as 30s, 15m, 2h or 90d, not {text!r}")
    return float(found[1]) * _UNITS[found[2].lower()]


def parse_keep(text: str) -> Keep:
    """``90d`` (an age) or ``2GB`` / ``500MiB`` (a size of the index on disk)."""
    found = _SIZE.match(str(text))
    if found:
        return Keep(max_bytes=int(float(found[1]) * _SIZES[found[2].lower()]))
    try:
        return Keep(max_age_s=parse_duration(text, "--keep"))
    except RagError:
        raise RagError(f"--keep: expected an age such as 90d or a size such as 2GB, not {text!r}") from None


def parse_sources(lines: list[str], every_s: float, where: str = "arguments") -> list[Source]:
    """Sources from lines of ``URL [every=DURATION]``; a bad line raises RagError naming ``where:line``."""
    sources: dict[str, Source] = {}
    for number, line in enumerate(lines, start=1):
        # A comment is a line starting with '#' or what follows a '#' after a space; a '#' inside a URL is its fragment.
        words = re.split(r"\s#", line, maxsplit=1)[0].split() if not line.lstrip().startswith("#") else []
        if not words:
            continue
        place = f"{where}:{number}" if where != "arguments" else f"argument {number}"
        url, options = words[0], words[1:]
        if not is_url(url):
            raise RagError(f"{place}: not an http(s) URL: {url!r}")
        interval = every_s
        for option in options:
            name, _, value = option.partition("=")
            if name != "every" or not value:
                raise RagError(f"{place}: unknown option {option!r}; the one option is every=DURATION (e.g. every=5m)")
            interval = parse_duration(value, place)
        sources[url] = Source(url, interval)
    return list(sources.values())


def read_sources(path: Path, every_s: float) -> list[Source]:
    """The sources listed in the file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise RagError(f"cannot read the list of sources {path}: {err.strerror or err}") from err
    return parse_sources(text.splitlines(), every_s, str(path))
