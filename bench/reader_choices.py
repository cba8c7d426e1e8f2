"""Choice accuracy with the reader's option probabilities added to the rules' evidence, at several weights
(``rag.compose.choices.READER_WEIGHT``), beside the rules alone, on one question set and index.

Tune the weight on the held-out training weeks (``bench/heldout_weeks.py``), then report it on another set.

    python bench/reader_choices.py /tmp/weeks-2026/questions.jsonl --index /tmp/weeks-2026/index
"""

from __future__ import annotations

import argparse

from tqdm import tqdm

from rag.compose import choices
from rag.evaluate import load_questions
from rag.pipeline import NewsIndex
from rag.reader.base import load_reader
from rag.text import normalize_answer

WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("questions")
    p.add_argument("--index", required=True)
    p.add_argument("--model", default=None, help="reader directory (default: the shipped one)")
    p.add_argument("--weights", type=float, nargs="+", default=WEIGHTS)
    p.add_argument("--limit", type=int, default=None, help="the first N questions with choices only")
    args = p.parse_args()
    asked = [q for q in load_questions(args.questions) if q.choices][: args.limit]
    reader = load_reader(args.model)
    runs = [("rules alone", None, None)] + [(f"rules + {w} x reader", reader, w) for w in args.weights]
    for name, with_reader, weight in runs:
        if weight is not None:
            choices.READER_WEIGHT = weight
        index = NewsIndex.open(args.index, reader=with_reader)
        right = 0
        try:
            for q in tqdm(asked, desc=name, leave=False):
                picked = index.ask(q.question, as_of=q.as_of, choices=q.choices).choice
                right += picked is not None and normalize_answer(picked) in {normalize_answer(a) for a in q.answers}
        finally:
            index.close()
        print(f"{name:<24} {right / len(asked):.3f} ({right} of {len(asked)})", flush=True)


if __name__ == "__main__":
    main()
