"""Follow-up questions: one that leans on the previous turn ("When was he interviewed?", "What about
Belgium?") is rewritten with what that turn was about, before retrieval. A question that stands alone is left
as it is."""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.dates import MONTHS, WEEKDAYS
from rag.question import entities, question_kind
from rag.text import STOPWORDS, content_terms, country

_WHAT_ABOUT = re.compile(r"^\s*(?:and\s+)?(?:what|how)\s+about\s+(.+?)\s*\??\s*$", re.I)
_PRONOUN = re.compile(r"\b(he|she|him|her|his|hers|they|them|their|it|its|this|that|these|those|there)\b", re.I)
_SUBJECT = {"he", "she", "they", "it", "this", "that", "these", "those"}
_MONTHS_DAYS = {*MONTHS, *WEEKDAYS}


def rewrite(question: str, history: Sequence[str], person: str = "") -> str:
    """The question to search with: ``question`` itself, or it completed from ``history`` (oldest first).
    ``person`` is who the answer to the previous question named, when it asked who (see :func:`asks_after_person`):
    "Who founded LibriVox?" then "When was he interviewed?" asks when Hugh McGuire was."""
    history = [h for h in history if h and h.strip()]
    if not history:
        return question
    previous = rewrite(history[-1], history[:-1])
    about = _WHAT_ABOUT.match(question)
    if about:
        return _swap_entity(previous, about[1].strip())
    pronoun = _leaning_pronoun(question)
    if not pronoun:
        return question
    if person and pronoun in _PERSONAL:
        topic = person
    else:
        topic = _plural_topic(previous) if pronoun in _PLURAL else _topic(previous)
    if not topic:
        return f"{question} ({' '.join(content_terms(previous))})"
    return _PRONOUN.sub(lambda m: _replace(m, topic), question, count=1)


_PLURAL = {"they", "them", "their", "these", "those"}
_PERSONAL = {"he", "she", "him", "her", "his", "hers"}


def _leaning_pronoun(question: str) -> str:
    """The pronoun, lower-cased, by which ``question`` leans on the turn before it; "" when it stands alone."""
    found = _PRONOUN.search(question)
    return found[0].lower() if found and not _stands_alone(question) else ""


def asks_after_person(question: str, history: Sequence[str]) -> bool:
    """Whether ``question`` is a follow-up whose he or she is the person the previous question asked for ("Who
    founded LibriVox?" then "When was he interviewed?"): the previous answer names them, not the question."""
    history = [h for h in history if h and h.strip()]
    if not history or _WHAT_ABOUT.match(question) or _leaning_pronoun(question) not in _PERSONAL:
        return False
    return question_kind(rewrite(history[-1], history[:-1])) == "who"


_FULL_NAME = re.compile(r"\b[A-Z][a-z]+(?:[ -](?:[A-Z]\.|Mc[A-Z][a-z]+|[A-Z][a-z]+|[A-Z]['’][A-Z][a-z]+)){1,3}\b")


# The last word of a name that is an organisation, a place or an event rather than a person ("Wall Street
# Journal", "Supreme Court", "Grand Mosque", "Stanley Cup").
_NOT_A_PERSON = frozenset([
    "times", "post", "news", "journal", "herald", "tribune", "guardian", "telegraph", "press", "daily", "weekly",
    "magazine", "review", "inc", "corp", "co", "ltd", "company", "corporation", "group", "bank", "fund", "trust",
    "partners", "airlines", "airways", "motors", "industries", "university", "college", "school", "academy",
    "institute", "foundation", "society", "association", "union", "league", "federation", "council", "committee",
    "commission", "court", "congress", "parliament", "senate", "assembly", "party", "ministry", "department",
    "agency", "authority", "office", "bureau", "service", "services", "administration", "government", "police",
    "army", "navy", "force", "forces", "guard", "church", "mosque", "temple", "cathedral", "museum", "library",
    "hospital", "center", "centre", "park", "square", "street", "avenue", "road", "bridge", "station", "airport",
    "house", "hall", "palace", "tower", "city", "county", "state", "states", "province", "republic", "kingdom",
    "island", "islands", "river", "lake", "sea", "ocean", "mountain", "mountains", "valley", "coast", "bay",
    "festival", "awards", "award", "prize", "cup", "games", "championship", "championships", "series", "open",
    "tournament", "olympics", "network", "channel", "radio", "television", "records", "studios", "pictures",
    "entertainment"
])


def person_named(answer: str, asked: str) -> str:
    """The first full name ("Hugh McGuire") in an answer's text (its headline and sentence) that the question
    ``asked`` does not name, and that is not an organisation, a place or an event ("Wall Street Journal",
    "Stanley Cup", "South Korea"); "" when there is none."""
    known = {word.lower() for name in entities(asked) for word in name.split()}
    for found in _FULL_NAME.finditer(answer):
        words = found[0].replace("-", " ").split()
        if words[0].lower() in STOPWORDS or any(w.lower() in known for w in words):
            continue
        if words[-1].lower() in _NOT_A_PERSON or any(country(w) for w in words) or words[0].lower() in _MONTHS_DAYS:
            continue
        return found[0]
    return ""


def _plural_topic(question: str) -> str:
    """What 'they' or 'them' most likely means: a name followed by a plural noun ('S-400 systems')."""
    for name in entities(question):
        found = re.search(re.escape(name) + r"\s+([a-z]+s)\b", question)
        if found:
            return f"{name} {found[1]}"
    return ""


def _stands_alone(question: str) -> bool:
    """A question that names its own subject (an entity beyond the pronoun) needs no context."""
    named = [e for e in entities(question) if not e.isdigit()]
    return len(named) >= 1 and len(content_terms(question)) >= 3


def _topic(question: str) -> str:
    named = [e for e in entities(question) if not e.isdigit()]
    return max(named, key=len) if named else ""


def _replace(match: re.Match, topic: str) -> str:
    word = match[0].lower()
    if word in {"his", "her", "their", "its", "hers"}:
        return f"{topic}'s"
    if word == "there":
        return f"in {topic}"
    return topic


def _swap_entity(previous: str, new: str) -> str:
    """'How many died in Germany?' + 'Belgium' -> 'How many died in Belgium?'."""
    named = [e for e in entities(previous) if not e.isdigit()]
    if named:
        # Swap like for like: 'Belgium' replaces 'Sweden' rather than 'World Cup' or 'S-400'.
        has_digit = any(ch.isdigit() for ch in new)
        same = [e for e in named if len(e.split()) == len(new.split())
                and any(ch.isdigit() for ch in e) == has_digit]
        last = (same or named)[-1]
        i = previous.rfind(last)
        return previous[:i] + new + previous[i + len(last):]
    return f"{previous.rstrip('?')} {new}?"
