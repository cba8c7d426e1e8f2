"""Turning the chosen sentences into answer text: trimmed, with the context they lean on, and cited."""

from __future__ import annotations

import re

from rag import templates as T
from rag.compose.candidates import Candidate, _type_bonus
from rag.dates import has_relative_date, human_date
from rag.question import QuestionInfo
from rag.text import content_terms, stem
from rag.types import Citation, Hit, Source

MAX_SENTENCE_WORDS = 45


def trim(info: QuestionInfo, sentence: str) -> str:
    """The part of a long sentence that answers: the best window of its clauses, at most MAX_SENTENCE_WORDS."""
    if len(sentence.split()) <= MAX_SENTENCE_WORDS:
        return sentence
    clauses = [c for c in re.split(r"(?<=[;:–—])\s+|,\s+(?=(?:but|while|and|which|who|although)\b)", sentence) if c]
    best, best_score = sentence, -1.0
    for i in range(len(clauses)):
        for j in range(i + 1, len(clauses) + 1):
            window = " ".join(clauses[i:j])
            if len(window.split()) > MAX_SENTENCE_WORDS:
                break
            found = {stem(t) for t in content_terms(window)}
            score = len(info.stems & found) + _type_bonus(info, window) * 5 + len(window.split()) / 1000
            if score > best_score:
                best, best_score = window, score
    best = best.strip(" ,;:–—")
    if len(best.split()) < 8:  # a dateline or a fragment says less than the whole sentence
        return sentence
    return best if best.endswith((".", "!", "?", "”", '"')) else best + " ..."


class _Cited:
    """Numbers cited passages in order of first use; one Source per passage."""

    def __init__(self) -> None:
        self.sources: list[Source] = []
        self.citations: list[Citation] = []
        self._by_passage: dict[int, int] = {}

    def passages(self) -> set[int]:
        return set(self._by_passage)

    def cite(self, c: Candidate) -> str:
        pid = c.hit.passage.passage_id
        if pid not in self._by_passage:
            n = len(self.sources) + 1
            self._by_passage[pid] = n
            self.sources.append(_source(c.hit, n, (c.start, c.end)))
        n = self._by_passage[pid]
        citation = Citation(n, c.hit.article.article_id, pid, c.text)
        if citation not in self.citations:  # one sentence cited for two options is one citation
            self.citations.append(citation)
        return T.marker(n)


def _source(hit: Hit, n: int, highlight: tuple[int, int] | None) -> Source:
    a = hit.article
    return Source(n, a.article_id, a.title, a.source, a.published, a.url, hit.passage.text, hit.passage.passage_id,
                  highlight, hit.copies)


_LEANS_BACK = re.compile(r"^(he|she|it|they|this|that|these|those|his|her|their|its|the (company|team|group|move|"
                         r"decision|deal|bill|plan|report|study))\b", re.I)


def _with_context(c: Candidate, after: Candidate | None = None) -> Candidate:
    """A sentence that opens with a pronoun ('He estimated...') comes with the sentence before it, unless that is
    ``after``, the sentence the answer has just given; an interview question comes with the reply that follows it."""
    if c.text.rstrip("”\"' ").endswith("?") and c.next_end is not None:
        text = c.hit.passage.text[c.start : c.next_end].strip()
        return Candidate(c.rank, c.hit, c.start, c.next_end, text, c.stems, None, None, c.score, c.support)
    if c.prev is None or not _LEANS_BACK.match(c.text) or len(c.text.split()) > 30 or _just_said(c, after):
        return c
    start = c.prev[0]
    text = c.hit.passage.text[start : c.end].strip()
    return Candidate(c.rank, c.hit, start, c.end, text, c.stems, None, None, c.score, c.support)


def _just_said(c: Candidate, after: Candidate | None) -> bool:
    """Whether the sentence before ``c`` in its passage is (part of) ``after``: then ``c`` reads on from it."""
    return (after is not None and c.prev is not None and after.hit.passage.passage_id == c.hit.passage.passage_id
            and after.start <= c.prev[0] < after.end)


def _sentence(c: Candidate, info: QuestionInfo, cited: _Cited, lead: bool = False,
              after: Candidate | None = None) -> str:
    """The sentence of ``c`` (with its context, trimmed) and its marker; ``after``: the sentence just given before
    it. The lead sentence says which article it comes from: its headline often names what the sentence calls "the
    show" or "the country" (RealTimeQA: the lead holds the answer for 0.345 of the questions with it, 0.273 without),
    and its date anchors "on Sunday"."""
    c = _with_context(c, after)
    text = trim(info, c.text)
    known = c.hit.passage.passage_id in cited.passages()
    mark = cited.cite(c)
    article = c.hit.article
    if lead and article.title.strip():
        meta = ", ".join(p for p in (article.source, human_date(article.published)) if p)
        return T.ATTRIBUTED.format(title=article.title.strip(), meta=f" ({meta})" if meta else "",
                                   sentence=text.rstrip(), marker=mark)
    if has_relative_date(text) and c.hit.article.published and not known:
        return T.DATED.format(sentence=text.rstrip(), marker=mark, source=c.hit.article.source or c.hit.article.title,
                              date=human_date(c.hit.article.published))
    return T.PLAIN.format(sentence=text.rstrip(), marker=mark)


def _related(hits: list[Hit], n: int = 3) -> tuple[Source, ...]:
    return tuple(_source(h, i, None) for i, h in enumerate(hits[:n], start=1))
