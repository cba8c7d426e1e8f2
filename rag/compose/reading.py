"""What the composer asks of a reader: the candidate sentences, each with its headline and date, and the sentence
the reader takes to answer."""

from __future__ import annotations

from collections.abc import Sequence

from rag.compose.candidates import _FINISHED, Candidate
from rag.reader.base import Reader, Reading, SentenceInput

# The composer's best-scored candidates that the reader reads, and as many of its best-supported (its score carries
# retrieval rank and the question's terms). 5 against 8 and 12 on the tuning sets with version 3: short F1 0.601 /
# 0.561 / 0.539 (hand-written demo), 0.225 / 0.213 / 0.227 (held-out weeks), contains 0.911 each / 0.343 / 0.346 /
# 0.360, and the fastest (docs/reader.md).
READ_TOP = 5
# The composer's score added to the reader's probability when choosing among them.
RULE_WEIGHT = 1.0
# The reader's runner-up is the answer's second sentence when its probability is at least this share of the best's.
SECOND_SHARE = 0.25


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
    (no caption or dateline) and whose probability is at least SECOND_SHARE of the first's; None when none is."""
    if not ranked:
        return None
    (first, reading), rest = ranked[0], ranked[1:]
    return next((c for c, r in rest if r.score >= SECOND_SHARE * reading.score and c.text != first.text
                 and _FINISHED.search(c.text)), None)
