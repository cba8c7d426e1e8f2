"""Dates: parse article dates, and turn a question's date words into a window relative to ``as_of``."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import lru_cache

MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
MONTH_NAMES = "|".join(MONTHS)  # the full names only, as a regex alternation: "january|february|..."
MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m})
MONTHS["sept"] = 9
WEEKDAYS = tuple(d.lower() for d in calendar.day_name)  # "monday", ..., "sunday"
WEEKDAY_NAMES = "|".join(WEEKDAYS)  # as a regex alternation
_MONTH_RE = "|".join(sorted(MONTHS, key=len, reverse=True))
_DAY_MONTH_YEAR = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH_RE})\.?,?\s+(\d{{4}})\b", re.I)
_MONTH_DAY_YEAR = re.compile(rf"\b({_MONTH_RE})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I)
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})")


def parse_date(value: object) -> str | None:
    """An ISO ``YYYY-MM-DD`` string for the date in ``value`` (ISO, RFC 2822, '14 December 2019'...), else None."""
    if value is None:
        return None
    if isinstance(value, datetime | date):
        return value.strftime("%Y-%m-%d")
    text = str(value).strip()
    if not text:
        return None
    found = _ISO.search(text)
    if found:
        return _safe_iso(int(found[1]), int(found[2]), int(found[3]))
    try:
        return parsedate_to_datetime(text).strftime("%Y-%m-%d")
    except (TypeError, ValueError, IndexError):
        pass
    found = _DAY_MONTH_YEAR.search(text)
    if found:
        return _safe_iso(int(found[3]), MONTHS[found[2].lower()], int(found[1]))
    found = _MONTH_DAY_YEAR.search(text)
    if found:
        return _safe_iso(int(found[3]), MONTHS[found[1].lower()], int(found[2]))
    return None


def _safe_iso(year: int, month: int, day: int) -> str | None:
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def to_date(value: str | date | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return _iso_to_date(str(value))


@lru_cache(maxsize=65536)
def _iso_to_date(value: str) -> date | None:
    iso = parse_date(value)
    return date.fromisoformat(iso) if iso else None


def human_date(iso: str | None) -> str:
    """'14 December 2019' for '2019-12-14'; '' for no date."""
    d = to_date(iso)
    return f"{d.day} {calendar.month_name[d.month]} {d.year}" if d else ""


@dataclass(frozen=True)
class DateIntent:
    """What a question says about time: a hard window and/or a wish for recent articles.

    ``since``/``until`` are inclusive; ``recent`` asks to favour articles just before ``as_of``.
    """

    since: date | None = None
    until: date | None = None
    recent: bool = False
    matched: str = ""


_RECENT = re.compile(
    r"\b(recent(ly)?|latest|newest|this (week|month)|currently|now|today|so far|upcoming|soon|just|new)\b", re.I
)
_YEAR = re.compile(r"\b(?:in|during|of|since)\s+((?:19|20)\d{2})\b", re.I)
_MONTH_YEAR = re.compile(rf"\b({_MONTH_RE})\.?\s+((?:19|20)\d{{2}})\b", re.I)


def question_dates(question: str, as_of: date) -> DateIntent:
    """Read date expressions in ``question`` as a window relative to ``as_of``.

    Explicit periods ("in January 2006", "in 2015", "last week", "yesterday", "last month", "last year")
    become a window; "recently", "latest", "this week" set ``recent`` without a window.
    """
    q = question.lower()
    found = _MONTH_YEAR.search(question)
    if found:
        year, month = int(found[2]), MONTHS[found[1].lower()]
        last = calendar.monthrange(year, month)[1]
        return DateIntent(date(year, month, 1), date(year, month, last), matched=found[0])
    found = _YEAR.search(question)
    if found and "since" in found[0].lower():
        return DateIntent(date(int(found[1]), 1, 1), None, matched=found[0])
    if found:
        year = int(found[1])
        return DateIntent(date(year, 1, 1), date(year, 12, 31), matched=found[0])
    relative = _relative_window(q, as_of)
    if relative:
        return relative
    return DateIntent(recent=bool(_RECENT.search(question)))


def _relative_window(q: str, as_of: date) -> DateIntent | None:
    if "yesterday" in q:
        day = as_of - timedelta(days=1)
        return DateIntent(day, as_of, recent=True, matched="yesterday")
    if re.search(r"\b(last|past) week\b", q):
        return DateIntent(as_of - timedelta(days=14), as_of, recent=True, matched="last week")
    if re.search(r"\b(last|past) month\b", q):
        return DateIntent(as_of - timedelta(days=62), as_of, recent=True, matched="last month")
    if re.search(r"\b(last|past) year\b", q):
        return DateIntent(as_of - timedelta(days=730), as_of, recent=True, matched="last year")
    return None


_RELATIVE_IN_SENTENCE = re.compile(
    r"\b(next|last|this|coming|past) (year|month|week|spring|summer|autumn|fall|winter)\b|"
    r"\b(yesterday|today|tomorrow|tonight)\b|"
    rf"\b(on )?({WEEKDAY_NAMES})\b|\b(in|by|until) ({_MONTH_RE})\b(?! \d)",
    re.I,
)


def has_relative_date(sentence: str) -> bool:
    """True when ``sentence`` dates something relative to when it was written ("in April next year")."""
    return bool(_RELATIVE_IN_SENTENCE.search(sentence))


_YEAR_AWAY = {"next": 1, "last": -1, "this": 0, "coming": 1, "past": -1}
_MONTH_OF_YEAR = re.compile(rf"\b({_MONTH_RE})\.?(?:,?\s+(?:of\s+)?)(next|last|this|coming|past) year\b", re.I)
_YEAR_WORD = re.compile(r"\b(next|last|this|coming|past) year\b", re.I)
_MONTH_WORD = re.compile(r"\b(next|last|this|coming|past) month\b", re.I)
_DAY_WORD = re.compile(r"\b(yesterday|today|tomorrow|tonight)\b", re.I)
_DAY_AWAY = {"yesterday": -1, "today": 0, "tonight": 0, "tomorrow": 1}


def resolve_relative(phrase: str, published: str | date | None) -> str:
    """``phrase`` with the dates it gives relative to its article's date written out: "April next year" in an
    article of 14 December 2019 is "April 2020", "last year" is "2018", "yesterday" is "13 December 2019".
    A month or weekday alone is left as written: whether it is the last or the next one the sentence's tense
    says, not the date. Unchanged when the article is undated."""
    day = to_date(published)
    if day is None:
        return phrase
    phrase = _MONTH_OF_YEAR.sub(lambda m: f"{m[1].capitalize()} {day.year + _YEAR_AWAY[m[2].lower()]}", phrase)
    phrase = _YEAR_WORD.sub(lambda m: str(day.year + _YEAR_AWAY[m[1].lower()]), phrase)
    phrase = _MONTH_WORD.sub(lambda m: _month_away(day, _YEAR_AWAY[m[1].lower()]), phrase)
    return _DAY_WORD.sub(lambda m: human_date((day + timedelta(days=_DAY_AWAY[m[1].lower()])).isoformat()), phrase)


def _month_away(day: date, months: int) -> str:
    index = day.year * 12 + day.month - 1 + months
    return f"{calendar.month_name[index % 12 + 1]} {index // 12}"
