"""What composing adds to a question: the composer's own time (``Answer.timings["compose"]``) over a question set,
asked as eval asks them, once free-form and once with the question's choices (where it has them), each with the
composer's sentence caches emptied first (the cold case: in use, passages recur from question to question).

    python -m bench.compose_speed --index index-realtimeqa --questions ../shared/eval/realtimeqa-dev/questions.jsonl
"""

from __future__ import annotations

import argparse
import statistics

from rag.chunk import _sentence_spans
from rag.compose.candidates import _sentences
from rag.compose.choices import _normal
from rag.compose.names import _name_evidence
from rag.evaluate import load_questions
from rag.pipeline import NewsIndex


def _line(name: str, ms: list[float]) -> str:
    if not ms:
        return f"{name:<12} (no questions)"
    ms = sorted(ms)
    p95 = ms[max(0, round(0.95 * len(ms)) - 1)]
    return f"{name:<12} {len(ms):>4} questions  p50 {statistics.median(ms):6.1f} ms  p95 {p95:6.1f} ms  max {ms[-1]:6.1f} ms"


def _cold() -> None:
    """Each ask starts cold: no sentence split, stemmed or normalized by an earlier question (or by the free-form ask
    of the same question)."""
    for cached in (_sentences, _sentence_spans, _name_evidence, _normal):
        cached.cache_clear()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index", required=True)
    p.add_argument("--questions", required=True, help="JSONL question set (as for newsrag eval)")
    args = p.parse_args()
    index = NewsIndex.open(args.index)
    questions = load_questions(args.questions)
    index.ask(questions[0].question, as_of=questions[0].as_of)  # loads the model: not the composer's time
    free, choice = [], []
    for q in questions:
        _cold()
        free.append(index.ask(q.question, as_of=q.as_of, history=q.history).timings["compose"])
        if q.choices:
            _cold()
            answer = index.ask(q.question, as_of=q.as_of, history=q.history, choices=q.choices)
            choice.append(answer.timings["compose"])
    print(_line("free-form", free))
    print(_line("with choices", choice))


if __name__ == "__main__":
    main()
