"""Candidate sentences: every sentence of the retrieved passages, scored for the question.

A sentence scores by the question's terms in it (weighted by how rare they are among the candidates, so 'installed'
outweighs the 'S-400' every candidate shares), by whether it holds the kind of thing asked for (a date for "when", a
number for "how many"...), by the rank of its passage, and by its shape (a caption, an echoed question).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from rag.chunk import sentence_spans
from rag.compose.names import question_names
from rag.dates import MONTH_NAMES, WEEKDAY_NAMES, WEEKDAYS, human_date
from rag.question import QuestionInfo, entities
from rag.text import COUNT_WORDS, SCALES, stems
from rag.types import Hit

CANDIDATE_HITS = 8
RANK_WEIGHT = 0.7  # of the passage's retrieval score relative to the first story's; see score_candidates
SUMMARY_LEAD = 0.3  # score bonus of an article's first sentence for a question like "What happened in Mecca?"
OFF_TOPIC = 0.4  # score penalty of a sentence whose article names none of the question's names


SECOND_WITHIN = 0.8  # a second sentence joins the answer when it scores this close to the best


UNFINISHED = 0.1  # score penalty of a caption, heading or dateline (no end punctuation)
ECHO_PENALTY = 1.0  # score penalty of an article's question that restates the one asked


_DATE = re.compile(rf"\b(1[89]\d\d|20\d\d)\b|\b({MONTH_NAMES}|{WEEKDAY_NAMES}|yesterday|today|tomorrow|"
                   r"next (year|month|week)|last (year|month|week))\b", re.I)
# A line that is only a date ("Friday, July 21, 2017": a Wikinews dateline) says nothing about the question.
# Each part ends at a word boundary: "12345678" is one token, not 1, 2, 4 or 8 of them (without \b, a long run of
# digits that is not a dateline took exponential time to fail).
_DATELINE = re.compile(rf"^\W*(?:(?:{WEEKDAY_NAMES}|{MONTH_NAMES}|"
                       rf"\d{{1,4}}(?:st|nd|rd|th)?)\b\W*)+$", re.I)
# A question that asks for the story itself rather than a fact of it.
_SUMMARY = re.compile(r"^(what('s| is| has)? (happened|happening|going on|new)|what did .{1,60} (do|announce)\??$|"
                      r"(tell me )?what do (we|you) know about)\b", re.I)
_DAY_WORDS = {*WEEKDAYS, "yesterday", "today", "tomorrow"}
_COUNTS = "|".join(COUNT_WORDS)
_NUMBER = re.compile(rf"\b\d[\d,.]*\b|\b({_COUNTS}|{'|'.join(SCALES)}|{'|'.join(f'{w}s' for w in SCALES)}|dozens?)\b",
                     re.I)


@dataclass
class Candidate:
    rank: int
    hit: Hit
    start: int  # offsets inside hit.passage.text
    end: int
    text: str
    stems: frozenset[str]
    prev: tuple[int, int] | None = None  # the sentence before it in the passage
    next_end: int | None = None  # where the sentence after it ends
    score: float = 0.0
    support: float = 0.0
    on_topic: bool = True  # its article names one of the question's names (or the question names nothing)


def _rest_of_first_article(index, first: Hit) -> list[Hit]:  # noqa: ANN001
    """The other passages of the first story's article, at its score: retrieval shows one passage a story, and the
    answer is often further down the article that is about it (RealTimeQA: contains 0.423 -> 0.439, lead 0.367 ->
    0.376; the demo set: contains 0.797 -> 0.848)."""
    return [Hit(p, first.article, first.score, copies=first.copies)
            for p in index.store.article_passages(first.article.article_id)
            if p.passage_id != first.passage.passage_id]


def score_candidates(info: QuestionInfo, hits: Sequence[Hit]) -> list[Candidate]:
    """Every sentence of the hits' passages, scored for ``info``.

    A sentence scores by its support (the question's terms in it and in its passage, weighted by rarity), by
    whether it holds what is asked, and by its story's retrieval score relative to the first story's
    (RANK_WEIGHT): retrieval reads the headline, the whole passage and its meaning, and the answer is in the first
    story more often than in all the others together. Measured on RealTimeQA over the same retrieved passages,
    rank weights 0.25 / 0.4 / 0.6 / 0.7 / 1.0 gave lead_contains 0.376 / 0.386 / 0.398 / 0.408 / 0.404 (contains
    0.439 / 0.455 / 0.455 / 0.461 / 0.458; the demo set's answers unchanged). A sentence whose article names none
    of the question's names (a 2019 bus report for "the Velmora tram line in 2019", lifted by its date) loses
    OFF_TOPIC (RealTimeQA: 0.003 less contains)."""
    cands: list[Candidate] = []
    passage_stems: dict[int, frozenset[str]] = {}
    for rank, hit in enumerate(hits):
        prev = None
        sentences = _sentences(hit.passage.text)
        for i, (s, e, sentence, held) in enumerate(sentences):
            if len(sentence.split()) >= 4 and not _DATELINE.match(sentence):
                following = sentences[i + 1][1] if i + 1 < len(sentences) else None
                cands.append(Candidate(rank, hit, s, e, sentence, held, prev, following))
            prev = (s, e)
        # A passage's context is its sentences, its headline and its article's date ("in January 2006").
        context = f"{hit.article.title} {human_date(hit.article.published)}"
        passage_stems[hit.passage.passage_id] = frozenset().union(*(x[3] for x in sentences), stems(context))
    if not cands:
        return cands
    weights = _term_weights(info, cands)
    total = sum(weights.values()) or 1.0
    top_score = hits[0].score or 1.0
    for c in cands:
        own = sum(w for t, w in weights.items() if t in c.stems) / total
        context = sum(w for t, w in weights.items() if t in passage_stems[c.hit.passage.passage_id]) / total
        c.support = 0.6 * own + 0.4 * context
    names = {key for key in question_names(info.text) if not key[0].isdigit()}
    article_stems: dict[str, set[str]] = {}
    for hit in hits:
        article_stems.setdefault(hit.article.article_id, set()).update(passage_stems[hit.passage.passage_id])
    for c in cands:
        c.on_topic = not names or bool(names & article_stems[c.hit.article.article_id])
        c.score = (c.support + _type_bonus(info, c.text) + RANK_WEIGHT * (c.hit.score / top_score)
                   - _shape_penalty(c.text) - (ECHO_PENALTY if _echoes(info, c) else 0.0)
                   - (0.0 if c.on_topic else OFF_TOPIC))
    if _SUMMARY.match(info.text.strip()):  # "What happened in Mecca?" is answered by the news lead
        for hit in hits:
            lead = _first_sentence(cands, hit) if hit.passage.ordinal == 0 else None
            if lead is not None:
                lead.score += SUMMARY_LEAD
    return cands


# A second sentence whose content words are mostly the first's says nothing more (the same report in two copies of a
# story, or a sentence that restates the lead).
ADDS_NOTHING = 0.8


def adds_nothing(second: Candidate, first: Candidate) -> bool:
    """Whether ``second`` repeats ``first``: the same text, or at least ADDS_NOTHING of its content words are
    ``first``'s ("The next general election is due ... no later than January 2025." after the sentence that says
    that and more)."""
    if second.text == first.text:
        return True
    return bool(second.stems) and len(second.stems & first.stems) >= ADDS_NOTHING * len(second.stems)


def _first_sentence(cands: list[Candidate], hit: Hit) -> Candidate | None:
    """The first sentence of ``hit``'s passage that is a whole sentence of some length, not a photo caption."""
    return next((c for c in cands if c.hit is hit and len(c.text.split()) >= 10 and is_sentence(c.text)), None)


def _echoes(info: QuestionInfo, c: Candidate) -> bool:
    """A question in the article that is the question asked (a news quiz: "Which company is being accused of
    turning off the AC...?") restates it; it does not answer it."""
    return (c.text.rstrip("”\"' ").endswith("?") and bool(info.stems)
            and len(info.stems & c.stems) >= 0.8 * len(info.stems))


@lru_cache(maxsize=8192)
def _sentences(text: str) -> tuple[tuple[int, int, str, frozenset[str]], ...]:
    """``(start, end, sentence, stems)`` for each sentence of a passage; cached, as the same passages come back
    question after question (and twice for a question with choices)."""
    return tuple((s, e, text[s:e].strip(), stems(text[s:e])) for s, e in sentence_spans(text))


def _term_weights(info: QuestionInfo, cands: list[Candidate]) -> dict[str, float]:
    """IDF of each question stem among the candidate sentences: what every candidate shares tells little."""
    n = len(cands)
    weights = {}
    for term in sorted(info.stems):  # a fixed order: float sums, and so ties, do not depend on hash seeds
        df = sum(term in c.stems for c in cands)
        weights[term] = math.log(1 + n / (1 + df)) if df else math.log(1 + n)
    return weights


_PERCENT_QUESTION = re.compile(r"\b(?:percentage|per ?cent|share of)\b", re.I)
_PERCENTAGE = re.compile(r"%|\bper ?cent\b", re.I)


_TIME_UNIT = r"(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?|century|centuries)"
_DURATION = re.compile(rf"\b(?:\d[\d,.]*|{_COUNTS}|a few|several)[\s-]+{_TIME_UNIT}\b", re.I)


def _has_count(info: QuestionInfo, sentence: str) -> bool:
    """Whether ``sentence`` has a number that can answer a how-many or how-much question: "ten days" answers
    "how many days" or "how long", not "How many people died?" ("just ten days before the Hajj" beside "killing
    107")."""
    if _counts_no_time(info.text):
        sentence = _DURATION.sub(" ", sentence)
    return bool(_NUMBER.search(sentence))


@lru_cache(maxsize=1024)
def _counts_no_time(question: str) -> bool:
    """Whether ``question`` asks how many of something that is not a time; read once a question, not once a
    candidate sentence."""
    return bool(re.search(r"\bhow many\b", question, re.I)) and not re.search(rf"\b{_TIME_UNIT}\b", question, re.I)


def _holds_kind(info: QuestionInfo, sentence: str) -> bool:
    """Whether ``sentence`` holds the kind of thing asked: a percentage, a number or a date; True for other kinds."""
    if _PERCENT_QUESTION.search(info.text):
        return bool(_PERCENTAGE.search(sentence))
    if info.kind in ("how_many", "how_much"):
        return _has_count(info, sentence)
    if info.kind == "when":
        return bool(_DATE.search(sentence))
    return True


def _holding_the_kind(info: QuestionInfo, cands: list[Candidate], best: Candidate | None) -> Candidate | None:
    """The best candidate, or, when it does not hold the kind of thing asked, the best one that does and scores
    within SECOND_WITHIN of it ("In 2007, Paris left the ship" over a sentence that restates the question without
    a date). The type bonus prefers such sentences; this makes it a rule where the two are that close. With it, a
    percentage question whose best sentence has no percentage is declined. Measured: that Paris question (in both
    held-out sets) answered right, one unanswerable share-of-the-vote question declined; on RealTimeQA one
    percentage question answered (wrongly) instead of declined; the demo set unchanged."""
    if best is None or _holds_kind(info, best.text):
        return best
    holding = [c for c in cands if _holds_kind(info, c.text) and c.score >= SECOND_WITHIN * best.score]
    return max(holding, key=lambda c: c.score, default=best)


def _type_bonus(info: QuestionInfo, sentence: str) -> float:
    kind = info.kind
    if kind == "when":
        found = {m[0].lower() for m in _DATE.finditer(sentence)}
        if not found:
            return 0.0
        # A month, a year or "next year" dates something; a weekday alone ("on Tuesday") dates the report.
        return 0.25 if found - _DAY_WORDS else 0.1
    if kind in ("how_many", "how_much"):
        return 0.2 if _has_count(info, sentence) else 0.0
    if kind in ("who", "where", "which"):
        asked = {e.lower() for e in info.entities}
        new = [e for e in entities(sentence) if e.lower() not in asked and not e[0].isdigit()]
        return 0.15 if new else 0.0
    return 0.0


_FINISHED = re.compile(r"[.!?…]['\"”’)\]]*\s*$")
# A gallery's caption or a link to another story, however it ends: "Photos: Olivia Newton-John's life in pictures
# ...", "Related: ...", "Read more: ..." (CNN's pages: 510 "Photos:" lines among RealTimeQA dev's 2,113 articles).
_LABELLED = re.compile(r"(?:photos?|in pictures|gallery|video|watch|related|read more|listen)\s*:", re.I)


def is_sentence(text: str) -> bool:
    """Whether ``text`` is a finished sentence, not a caption, a heading, a dateline or a labelled link."""
    return bool(_FINISHED.search(text)) and not _LABELLED.match(text)


def _shape_penalty(sentence: str) -> float:
    words = len(sentence.split())
    penalty = 0.15 if sentence.rstrip("”\"' ").endswith("?") else 0.0
    if not is_sentence(sentence):
        penalty += UNFINISHED
    if words > 60:
        penalty += 0.1
    return penalty
