"""What the composer asks of a reader: the candidate sentences, each with its headline and date, and the sentence
the reader takes to answer."""

from __future__ import annotations

from collections.abc import Sequence

from rag.compose.candidates import Candidate, adds_nothing, is_sentence
from rag.reader.base import Reader, Reading, SentenceInput
from rag.text import headline_news

# The composer's best-scored candidates that the reader reads, and as many of its best-supported (its score carries
# retrieval rank and the question's terms). Version 4 (trained on such shortlists of 10 + 10), on the tuning sets,
# contains / lead / short F1: held-out weeks 0.363 / 0.313 / 0.233 at 5, 0.379 / 0.321 / 0.236 at 8, 0.382 / 0.343
# / 0.254 at 10; hand-written demo 0.911 / 0.835 / 0.549, 0.911 / 0.823 / 0.579, 0.911 / 0.835 / 0.548 (version 3
# at 5: 0.352 / 0.313 / 0.229 and 0.911 / 0.848 / 0.601; docs/reader.md).
READ_TOP = 10
# The composer's score added to the reader's probability when choosing among them.
RULE_WEIGHT = 1.0
# The reader's runner-up is the answer's second sentence when its probability is at least this share of the best's.
SECOND_SHARE = 0.25
# The span the reader marks in the answering sentence's headline, read as a sentence of its own, is the short answer
# when its start + end logit beats the sentence's span by more than this (see headline_span). Short F1 on the tuning
# sets at margins 0 / 1 / 2 (a throwaway patch, docs/reader.md): held-out weeks 0.306 / 0.309 / 0.302 (0.287
# without), hand-written demo 0.584 / 0.609 / not run (0.609 without). This code at 1: held-out weeks 0.306, the
# hand-written demo 0.609; reported: RealTimeQA dev 0.345 -> 0.361, the held-out demo set unchanged (0.495).
HEADLINE_MARGIN = 1.0


def read_sentences(reader: Reader, question: str, cands: Sequence[Candidate]) -> list[Reading]:
    """The reader's Reading of each of ``cands``, in the order given; spans index ``Candidate.text``."""
    sentences = [SentenceInput(c.text, c.hit.article.title, c.hit.article.published) for c in cands]
    readings = reader.read(question, sentences)
    if len(readings) != len(sentences):
        raise ValueError(f"reader {reader.name} gave {len(readings)} readings for {len(sentences)} sentences")
    return readings


def shortlist(cands: Sequence[Candidate], top_k: int = READ_TOP) -> list[Candidate]:
    """The ``top_k`` best-scored candidates, best first, then those of the ``top_k`` holding most of the question's
    weighted terms that are not among them (ties: reading order). The reader finds more answers among the sentences
    that share the question's words than among the composer's best-scored alone (docs/reader.md)."""
    by_score = sorted(range(len(cands)), key=lambda i: (-cands[i].score, i))[:top_k]
    by_support = sorted(range(len(cands)), key=lambda i: (-cands[i].support, i))[:top_k]
    return [cands[i] for i in dict.fromkeys(by_score + by_support)]


def read_ranked(reader: Reader, question: str, cands: Sequence[Candidate]) -> list[tuple[Candidate, Reading]]:
    """The shortlist of ``cands`` with the reader's Reading of each, best first: by its probability plus
    RULE_WEIGHT of the composer's score (ties: shortlist order)."""
    top = shortlist(cands)
    readings = read_sentences(reader, question, top) if top else []
    order = sorted(range(len(top)), key=lambda i: (-(readings[i].score + RULE_WEIGHT * top[i].score), i))
    return [(top[i], readings[i]) for i in order]


def runner_up(ranked: Sequence[tuple[Candidate, Reading]]) -> Candidate | None:
    """The second sentence of the answer by the reader's ranking: the best-ranked other sentence that is finished
    (no caption or dateline), says more than the first (``adds_nothing``) and whose probability is at least
    SECOND_SHARE of the first's; None when none is."""
    if not ranked:
        return None
    (first, reading), rest = ranked[0], ranked[1:]
    return next((c for c, r in rest if r.score >= SECOND_SHARE * reading.score and not adds_nothing(c, first)
                 and is_sentence(c.text)), None)


def headline_span(reader: Reader, question: str, cand: Candidate, reading: Reading) -> tuple[int, int] | None:
    """The answer's span in ``cand``'s headline when the reader, reading that headline as a sentence of its own,
    marks it more surely than the answer in ``reading`` (the sentence's) by HEADLINE_MARGIN; else None. A news
    headline often states what a quiz asks ("Corpus Christi is 'not running out of water,' city manager says" for
    "Which city in Texas is running out of water?") while the sentence the reader picked names something else;
    the span head only marks spans in a sentence, so the headline is read as one."""
    title = headline_news(cand.hit.article.title)
    if not title or reading.span_score is None:
        return None
    (head,) = reader.read(question, [SentenceInput(title, title, cand.hit.article.published)])
    if head.span is None or head.span_score is None or head.span_score <= reading.span_score + HEADLINE_MARGIN:
        return None
    return head.span
