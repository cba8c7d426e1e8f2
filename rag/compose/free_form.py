"""The free-form answer: the best sentence, a second close to it, and the sources that agree or differ."""

from __future__ import annotations

import re

from rag import templates as T
from rag.compose.abstain import ABSTAIN_BELOW
from rag.compose.candidates import _DATE, _DAY_WORDS, SECOND_WITHIN, Candidate, adds_nothing, is_sentence
from rag.compose.render import _Cited, _sentence, trim
from rag.dates import human_date, to_date
from rag.question import QuestionInfo, entities
from rag.types import Answer


def _answer_tokens(info: QuestionInfo, sentence: str) -> set[str]:
    """What a sentence answers, to compare sources: its first number (how many/much), its first date (when),
    else the names it adds to the question's."""
    if info.kind in ("how_many", "how_much"):
        return set(re.findall(r"\d[\d,.]*\d|\d", sentence)[:1])
    if info.kind == "when":
        return {m[0].lower() for m in _DATE.finditer(sentence)} - _DAY_WORDS
    asked = {e.lower() for e in info.entities}
    return {e.lower() for e in entities(sentence) if e.lower() not in asked}


# Sources agree when they report the same news: an article published over AGREE_DAYS away from the answer's is
# another event, whatever words the two share (RealTimeQA: the May and June Fed rate hikes, the supermoons of 2020
# and 2022, the Kia recalls of February and August; the demo set: the 2015 crane collapse in Mecca and the 2006 Hajj
# stampede). Of the 16 answers over both sets that said "reported by N sources", these 4 had such a source.
AGREE_DAYS = 7


def _same_news(best: Candidate, other: Candidate) -> bool:
    """False when both articles are dated and published over AGREE_DAYS apart."""
    first, second = to_date(best.hit.article.published), to_date(other.hit.article.published)
    return first is None or second is None or abs((first - second).days) <= AGREE_DAYS


def _free_answer(info: QuestionInfo, cands: list[Candidate], best: Candidate, base: dict,
                 read_second: Candidate | None = None) -> Answer:
    """``best`` cited, then a second sentence (``read_second``, the reader's runner-up, when given; else the
    best-scored other one close to it), the sources that agree, or one that gives another number."""
    cited = _Cited()
    parts = [_sentence(best, info, cited, lead=True)]
    key = _answer_tokens(info, best.text)
    agree, differ = [], None
    others = sorted((c for c in cands if c.hit.article.group_id != best.hit.article.group_id),
                    key=lambda c: -c.score)
    for c in others:
        if c.support < max(ABSTAIN_BELOW, 0.7 * best.support):
            continue
        tokens_c = _answer_tokens(info, c.text)
        if (key and key & tokens_c and _same_news(best, c)
                and c.hit.article.article_id not in {a.hit.article.article_id for a in agree}):
            agree.append(c)
        elif differ is None and info.kind in ("how_many", "how_much") and key and tokens_c and not key & tokens_c:
            differ = c
    if read_second is not None and read_second not in agree:
        second = read_second
    else:
        second = next((c for c in sorted(cands, key=lambda c: -c.score) if c is not best
                       and c.score >= SECOND_WITHIN * best.score and not adds_nothing(c, best) and c not in agree
                       and is_sentence(c.text)), None)  # a caption or a dateline adds nothing as a second
    if differ is not None:
        parts.append(T.DISAGREE.format(
            first=trim(info, best.text).rstrip("."), first_source=best.hit.article.source or best.hit.article.title,
            first_date=human_date(best.hit.article.published) or "undated", first_marker=cited.cite(best),
            second=trim(info, differ.text).rstrip("."), second_source=differ.hit.article.source or differ.hit.article.title,
            second_date=human_date(differ.hit.article.published) or "undated", second_marker=cited.cite(differ)))
    elif second is not None:
        parts.append(_sentence(second, info, cited, after=best))
    if agree:
        markers = "".join(cited.cite(c) for c in [best, *agree[:3]])
        parts.append(T.AGREE.format(count=len(agree[:3]) + 1, markers=markers))
    return Answer(text=" ".join(parts), citations=tuple(cited.citations), sources=tuple(cited.sources), **base)
