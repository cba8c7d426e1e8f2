"""What the composer asks of a reader: the candidate sentences, each with its headline and date."""

from __future__ import annotations

from collections.abc import Sequence

from rag.compose.candidates import Candidate
from rag.reader.base import Reader, Reading, SentenceInput


def read_sentences(reader: Reader, question: str, cands: Sequence[Candidate]) -> list[Reading]:
    """The reader's Reading of each of ``cands``, in the order given; spans index ``Candidate.text``."""
    sentences = [SentenceInput(c.text, c.hit.article.title, c.hit.article.published) for c in cands]
    readings = reader.read(question, sentences)
    if len(readings) != len(sentences):
        raise ValueError(f"reader {reader.name} gave {len(readings)} readings for {len(sentences)} sentences")
    return readings
