"""Follow-up questions: one that leans on the previous turn ("When was he interviewed?", "What about
Belgium?") is rewritten with what that turn was about, before retrieval. A question that stands alone is left
as it is."""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.question import entities
from rag.text import content_terms

_WHAT_ABOUT = re.compile(r"^\s*(?:and\s+)?(?:what|how)\s+about\s+(.+?)\s*\??\s*$", re.I)
_PRONOUN = re.compile(r"\b(he|she|him|her|his|hers|they|them|their|it|its|this|that|these|those|there)\b", re.I)
_SUBJECT = {"he", "she", "they", "it", "this", "that", "these", "those"}


def rewrite(question: str, history: Sequence[str]) -> str:
    """The question to search with: ``question`` itself, or it completed from ``history`` (oldest first)."""
    history = [h for h in history if h and h.strip()]
    if not history:
        return question
    previous = rewrite(history[-1], history[:-1])
    about = _WHAT_ABOUT.match(question)
    if about:
        return _swap_entity(previous, about[1].strip())
    if not _PRONOUN.search(question) or _stands_alone(question):
        return question
    pronoun = _PRONOUN.search(question)[0].lower()
    topic = _plural_topic(previous) if pronoun in _PLURAL else _topic(previous)
    if not topic:
        return f"{question} ({' '.join(content_terms(previous))})"
    return _PRONOUN.sub(lambda m: _replace(m, topic), question, count=1)


_PLURAL = {"they", "them", "their", "these", "those"}


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
