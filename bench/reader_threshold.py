"""Where the reader's abstention threshold sits on the demo corpus's question sets: for each free-form question, the
reader's best probability over the sentences the composer has it read; then, for each set and for all together,
the abstention recall (unanswerable questions declined) and false abstention rate (answerable ones declined) at
each threshold, with the rules the composer keeps beside the reader (``rag.compose.abstain.unanswered``) and the
model's ``span_threshold``.

    python -m bench.reader_threshold --index /tmp/demo-reader --model rag/models/reader \
        tests/data/questions.jsonl tests/data/heldout_questions.jsonl
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field

from rag.evaluate import load_questions
from rag.pipeline import NewsIndex
from rag.reader.base import Reading, SentenceInput
from rag.reader.model import TrainedReader

THRESHOLDS = (0.0, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.07, 0.1, 0.15)


@dataclass
class Recording:
    """The reader, with its threshold at 0 (so the composer declines only by its other rules), remembering the
    best probability of the first sentences it reads for each question."""

    inner: TrainedReader
    threshold: float = 0.0
    best: list[float] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def span_threshold(self) -> float | None:  # the composer's other reader rule stays as shipped
        return self.inner.span_threshold

    def read(self, question: str, sentences: Sequence[SentenceInput]) -> list[Reading]:
        out = self.inner.read(question, sentences)
        self.best.append(max((r.score for r in out), default=0.0))
        return out

    def choose(self, question: str, options: Sequence[str], sentences: Sequence[SentenceInput]) -> list[float]:
        return self.inner.choose(question, options, sentences)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("questions", nargs="+")
    p.add_argument("--index", required=True)
    p.add_argument("--model", default="rag/models/reader")
    args = p.parse_args()
    reader = Recording(TrainedReader.load(args.model))
    index = NewsIndex.open(args.index, reader=reader)
    by_set: dict[str, list[tuple[bool, float, bool]]] = {}  # (answerable, best probability, declined at 0)
    for path in args.questions:
        rows = by_set.setdefault(path, [])
        for q in load_questions(path):
            if q.choices:
                continue
            reader.best.clear()
            answer = index.ask(q.question, as_of=q.as_of, history=q.history)
            best = reader.best[0] if reader.best else 0.0
            rows.append((q.answerable, best, answer.abstained))
    if len(by_set) > 1:
        by_set["all sets"] = [r for rows in list(by_set.values()) for r in rows]
    for name, rows in by_set.items():
        _table(name, rows, sorted({*THRESHOLDS, round(reader.inner.threshold, 3)}), reader.inner.threshold)


def _table(name: str, rows: Sequence[tuple[bool, float, bool]], thresholds: Sequence[float], model: float) -> None:
    """Recall and false abstention of ``rows`` at each threshold."""
    answerable = [r for r in rows if r[0]]
    unanswerable = [r for r in rows if not r[0]]
    print(f"\n{name}: {len(answerable)} answerable, {len(unanswerable)} unanswerable free-form questions "
          f"(model threshold {model:.3f})")
    print(f"{'threshold':>9}  {'recall':>6}  {'false abstention':>16}")
    for t in thresholds:
        recall = sum(r[2] or r[1] < t for r in unanswerable) / max(1, len(unanswerable))
        false = sum(r[2] or r[1] < t for r in answerable) / max(1, len(answerable))
        print(f"{t:>9.3f}  {recall:>6.3f}  {false:>16.3f}")


if __name__ == "__main__":
    main()
