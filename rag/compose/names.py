"""What a question names (people, places, years, name-numbers) and whether the retrieved passages mention it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from rag.dates import MONTHS, to_date
from rag.text import QUESTION_WORDS, STOPWORDS, content_terms, country, stem
from rag.types import Hit

_YEAR = re.compile(r"1[89]\d\d|20\d\d")
_NAME = re.compile(r"\b(?:[A-Z][\w\-'’]*\w|[A-Z]|\d[\d,.]*\d|\d)\b")


def missing_names(question: str, hits: Sequence[Hit]) -> list[str]:
    """Capitalized words and years of ``question`` that none of the hits' passages, titles or dates mention
    (sentence-initial words, stopwords and single letters aside; "Greek" mentions Greece). Other numbers are left
    out: "over 19,000 acres" is reported as "more than 18,000" (RealTimeQA: 0.119 of the questions declined with
    them, 0.097 without, and the same 80% of the demo set's unanswerable ones)."""
    have: set[str] = set()
    countries: set[str] = set()
    for h in hits:
        for text in (h.article.title, h.passage.text, _years_meant(h)):
            stems, places = _name_evidence(text)
            have |= stems
            countries |= places
    missing = [word for key, word in question_names(question).items()
               if key not in have and country(word) not in countries]
    if any(re.fullmatch(r"[A-Z]{2,6}", word) for word in missing):
        text = " ".join(f"{h.article.title} {h.passage.text}" for h in hits)
        missing = [word for word in missing if not _spelled_out(word, text)]
    return missing


@lru_cache(maxsize=16384)
def _name_evidence(text: str) -> tuple[frozenset[str], frozenset[str]]:
    """The stems and numbers ``text`` mentions ("Secunia.com" mentions Secunia), and the countries it names;
    cached, as the same passages come back question after question."""
    terms = content_terms(text)
    stems = {stem(part) for t in terms for part in (t, *t.split(".")) if part}
    stems |= set(re.findall(r"\d[\d,.]*\d|\d", text))
    return frozenset(stems), frozenset(country(t) for t in terms) - {""}


_YEAR_AWAY = {"last year": -1, "next year": 1}


def _years_meant(hit: Hit) -> str:
    """The years an article speaks of without writing them: the one it was published in, and the year its "last
    year" or "next year" means ("a record 45,756 migrants crossing the Channel last year", published in 2023)."""
    published = to_date(hit.article.published)
    if published is None:
        return ""
    low = hit.passage.text.lower()
    away = [published.year + years for phrase, years in _YEAR_AWAY.items() if phrase in low]
    return " ".join(str(year) for year in (published.year, *away))


_INITIALS_SKIP = r"(?:(?:of|the|and|for|at|on|in|de|&)\s+)*"


def _spelled_out(word: str, text: str) -> bool:
    """Whether an acronym of the question ("MIT", "UNC") is written out in ``text`` ("Massachusetts Institute of
    Technology", "University of North Carolina")."""
    if not re.fullmatch(r"[A-Z]{2,6}", word):
        return False
    pattern = r"\b" + rf"\w*\s+{_INITIALS_SKIP}".join(rf"{letter}" for letter in word) + r"\w*"
    return re.search(pattern, text) is not None


_NAME_SUFFIX = re.compile(r"-(?:led|based|backed|born|owned|run|made|funded|controlled|linked|style|era|bound|area)$")
# The capitalized words right after a question's "which" / "what" describe what is asked, not what it is about
# ("Which Texas city...?", "Which Middle Eastern country...?"): the report that names El Paso need not say Texas.
_WH_NAMES = re.compile(r"^\W*(?i:which|what)\s+(?:[A-Z][\w\-'’.]*\s+)*[A-Z][\w\-'’.]*$")


def question_names(question: str) -> dict[str, str]:
    """``{key: word}`` for the capitalized words and years of ``question``: not sentence-initial words, stopwords
    (also with a possessive: the "Year’s" of "New Year’s"), question words, single letters (the U of "U.S."),
    "U-turn", amounts ("over 19,000 acres" is rounded differently), or the words that describe what is asked right
    after "which" / "what" (_WH_NAMES). The key is the stem, so "Corden" and "Corden’s" are one name. Held-out
    weeks (tuning), the three changes of 2026-12-07 ("-area", the possessive stopword, _WH_NAMES): contains 0.382
    -> 0.398, false abstention 0.140 -> 0.132; the hand-written demo set unchanged."""
    names: dict[str, str] = {}
    for found in _NAME.finditer(question):
        word, before = found[0], question[: found.start()].rstrip()
        if not before or before[-1] in ".?!:;\"“" or word.lower() in STOPWORDS or word.lower() in QUESTION_WORDS:
            continue
        if len(word) == 1 and word.isalpha() or word[0].isdigit() and not _YEAR.fullmatch(word):
            continue
        if re.match(r"[A-Z]-", word):
            continue
        word = _NAME_SUFFIX.sub("", word)  # an "MIT-led study" names MIT
        bare = word.lower().replace("’", "'").removesuffix("'s")
        if bare in STOPWORDS or _WH_NAMES.match(question[: found.end()]):
            continue
        key = word if word[0].isdigit() else stem(bare)
        names.setdefault(key, word)
    return names


# A year, or a number that belongs to a name ("Internet Explorer 11", "Su-57"), pins the question to one thing.
_SPECIFIC = re.compile(r"\b(1[89]\d\d|20\d\d)\b|\b([a-z]*[A-Z][A-Za-z]*)[ -](\d+)\b(?![.,/\-–]\d|%)")


def _specifics(question: str) -> list[tuple[str, str]]:
    """``(shown, pattern)``: the years and name-numbers of ``question``, each with a regex that finds it."""
    out = []
    for found in _SPECIFIC.finditer(question):
        if found[1]:
            out.append((found[1], rf"\b{found[1]}\b"))
        elif _YEAR.fullmatch(found[3]):
            out.append((found[3], rf"\b{found[3]}\b"))
        elif found[2].lower() not in MONTHS and found[2].lower() not in STOPWORDS:
            out.append((found[0], rf"\b{re.escape(found[2])}[\s-]?{found[3]}\b"))
    return out
