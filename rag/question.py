"""Question analysis: its kind, key terms, named things, offered choices."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.text import QUESTION_WORDS, content_terms, stem

_ENTITY = re.compile(r"\b(?:[A-Z][\w\-'’.]*|\d[\w\-]*)(?:\s+(?:of|the|de|for|and|on|-)?\s*(?:[A-Z][\w\-'’.]*|\d[\w\-]*))*")
_CHOICES = re.compile(r"[:\-–—]\s*([^:?]+?,[^:?]+?\bor\b[^:?]+?)\?\s*$|\b(?:is it|was it|either)\s+([^?]+?\bor\b[^?]+?)\?\s*$",
                      re.I)
# The option asked for is the one that does not belong: "He was in all of these movies except:", "Which of these is
# not one of her songs?".
_EXCEPT = re.compile(r"\bexcept\b|\b(?:is|are|was|were)(?: not|n[’']t) (?:one|among|part|any) of\b", re.I)
_YES_NO = re.compile(r"^(is|are|was|were|do|does|did|can|could|will|would|has|have|had|should)\b", re.I)


@dataclass(frozen=True)
class QuestionInfo:
    """``kind`` is one of who, when, where, how_many, how_much, which, what, why, how, yes_no, choice."""

    text: str
    kind: str
    terms: tuple[str, ...]
    stems: frozenset[str]
    entities: tuple[str, ...]
    choices: tuple[str, ...]
    excluding: bool = False  # the choices are a list and the question asks for the one that does not belong


def analyze(question: str, choices: tuple[str, ...] | list[str] = ()) -> QuestionInfo:
    offered = offered_choices(question, choices)
    terms = tuple(content_terms(question))
    return QuestionInfo(question, "choice" if offered else question_kind(question), terms,
                        frozenset(stem(t) for t in terms), tuple(entities(question)), offered,
                        bool(offered) and bool(_EXCEPT.search(question)))


def offered_choices(question: str, choices: Sequence[str] = ()) -> tuple[str, ...]:
    """The options to choose from: those given, or else those written into the question."""
    return tuple(c.strip() for c in choices if c and c.strip()) or parse_choices(question)


# The cues of each kind in the sentence that asks. A cue that names what is asked ("in which year", "how many")
# decides wherever it stands ("..., which marks the date that ... in which year?" asks when); otherwise the first
# cue does: "Who was editor when the paper was sold?" asks who, not when.
_SPECIFIC_CUES = 6
_KIND_CUES = [
    ("how_many", r"\bhow many\b"),
    ("how_much", r"\bhow much\b"),
    ("when", r"\b(?:what|which) (?:year|date|day|month|time)\b"),
    ("who", r"\b(?:what|which) (?:person|man|woman|company|group)\b"),
    ("where", r"\b(?:what|which) (?:country|city|state|place|continent|nation)\b"),
    ("how_many", r"\bhow (?:old|long|far|big|large|tall|fast)\b|\bwhat (?:percentage|percent|number)\b"),
    ("when", r"\bwhen\b"),
    ("who", r"\b(?:who|whom|whose)\b"),
    ("where", r"\bwhere\b"),
    ("why", r"\bwhy\b"),
    ("which", r"\bwhich\b"),
    ("what", r"\bwhat\b"),
    ("how", r"\bhow\b"),
]
_ASKING = re.compile(rf"\b(?:{'|'.join(sorted(QUESTION_WORDS))})\b", re.I)


def question_kind(question: str) -> str:
    """What is asked: how_many, how_much, when, who, where, why, which, what, how or yes_no."""
    sentences = [s for s in re.split(r"(?<=[.?!:])\s+", question.strip()) if s]
    asking = next((s for s in reversed(sentences) if _ASKING.search(s)), None)
    if asking is None:
        return "yes_no" if _YES_NO.match(question.strip()) else "what"
    q = asking.lower()
    found = [(order >= _SPECIFIC_CUES, m.start(), order, kind)
             for order, (kind, cue) in enumerate(_KIND_CUES) for m in re.finditer(cue, q)]
    return min(found)[3]


def entities(text: str) -> list[str]:
    """Capitalized or numeric phrases ('Ismail Demir', 'S-400'), without a leading question word."""
    out = []
    # A possessive ends a name: "Turkey's S-400" is Turkey and S-400.
    spans = [m for found in _ENTITY.finditer(text) for m in re.finditer(r"[^’']+(?:['’](?!s\b)[^’']*)*", found[0])]
    for found in spans:
        phrase = found[0].strip(" -.'’")
        if phrase.lower().startswith("s ") or phrase.lower() == "s":
            phrase = phrase[1:].strip()
        words = phrase.split()
        while words and (words[0].lower() in QUESTION_WORDS or words[0].lower() in {"the", "a", "an", "in", "on"}):
            words = words[1:]
        if found.start() == 0 and len(words) == 1 and words[0].lower() in _FIRST_WORDS:
            continue
        if words:
            out.append(" ".join(words))
    return out


_FIRST_WORDS = {"is", "are", "was", "were", "do", "does", "did", "can", "could", "will", "would", "has", "have",
                "had", "and", "but", "in", "on", "at", "for", "to", "name", "tell", "give", "list"}


_TRUE_FALSE = re.compile(r"^\s*true or false\b\s*[:?,.\-–—]*\s*|[\s:,\-–—]*\btrue or false\s*\?*\s*$", re.I)


def truth_value(choice: str) -> str:
    """"true" or "false" for the options "True", "FALSE." and the like; any other option as written, lower-cased."""
    return choice.strip(" .").lower()


def is_true_false(choices: Sequence[str]) -> bool:
    return len(choices) == 2 and {truth_value(c) for c in choices} == {"true", "false"}


def strip_true_false(question: str) -> str:
    """The claim of "True or false: ..." (or "... - true or false?")."""
    return _TRUE_FALSE.sub("", question).strip() or question


def parse_choices(question: str) -> tuple[str, ...]:
    """Options written into the question: '...: Europe, North America, Asia or Africa?', or True and False for
    'True or false: ...'."""
    if _TRUE_FALSE.search(question):
        return ("True", "False")
    found = _CHOICES.search(question)
    if not found:
        return ()
    listed = found[1] or found[2]
    parts = re.split(r",\s*(?:or\s+)?|\s+or\s+", listed)
    parts = [p.strip(" .") for p in parts if p.strip(" .")]
    return tuple(parts) if 2 <= len(parts) <= 8 and all(len(p.split()) <= 8 for p in parts) else ()
