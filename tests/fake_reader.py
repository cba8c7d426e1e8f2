"""A tiny deterministic Reader for tests of the plumbing around the reader (a test double, not the product):
it marks the first of its ``words`` that a sentence holds, and remembers what it was asked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rag.reader.base import Reading, SentenceInput


@dataclass
class FakeReader:
    words: tuple[str, ...] = ()
    name: str = "fake"
    threshold: float = 0.5
    span_threshold: float | None = None
    span_score: float | None = None  # how sure it is of every span it marks
    span_scores: dict[str, float] = field(default_factory=dict)  # how sure of a span of one of its words, if not that
    read_calls: list[tuple[str, tuple[SentenceInput, ...]]] = field(default_factory=list)
    choose_calls: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)

    def read(self, question: str, sentences: Sequence[SentenceInput]) -> list[Reading]:
        self.read_calls.append((question, tuple(sentences)))
        return [self._reading(s.text) for s in sentences]

    def choose(self, question: str, options: Sequence[str], sentences: Sequence[SentenceInput]) -> list[float]:
        self.choose_calls.append((question, tuple(options)))
        text = " ".join(s.text for s in sentences)
        return [1.0 if option in text else 0.0 for option in options]

    def _reading(self, text: str) -> Reading:
        for word in self.words:
            start = text.find(word)
            if start >= 0:
                return Reading(0.9, (start, start + len(word)), self.span_scores.get(word, self.span_score))
        return Reading(0.1, None)
