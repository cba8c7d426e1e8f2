"""What a question set's corpus can answer at all: how many questions have their answer written in an article of
the days they ask about, and, of the answerable questions an eval declined, how many the corpus could have
answered. A declined question whose answer no recent article writes is declined rightly, whatever the set calls it.

    newsrag eval QUESTIONS --index DIR --report R.json
    python -m bench.corpus_ceiling QUESTIONS CORPUS.jsonl --report R.json

An article, read as ``newsrag ingest`` reads it, "writes the answer" when its headline or text holds an accepted
answer as ``newsrag eval`` counts ``contains`` (``rag.evaluate.contains``); "recent" is published within ``--days`` before the question's
``as_of`` (RealTimeQA asks about the news of its week). A paraphrase ("nine years" for "Nine years" is the same; "the
US" for "United States" is not) counts as not written, so the ceilings are a little low; an incidental match ("TRUE",
"France") counts as written, so they are also a little high.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

from rag.evaluate import EvalQuestion, contains_form, holds, load_questions
from rag.ingest import read_inputs
from rag.types import Article


def ceiling(questions: Sequence[EvalQuestion], corpus: Sequence[Article], days: int) -> dict[str, dict[str, bool]]:
    """For each answerable question with answers, by id: whether some article up to its ``as_of`` writes the
    answer ("any"), and whether one published in the ``days`` before it does ("recent")."""
    articles = [((a.published or "")[:10], f" {contains_form(f'{a.title} {a.text}')} ") for a in corpus]
    out = {}
    for q in questions:
        if not q.answers or not q.answerable:
            continue
        as_of = q.as_of or "9999-12-31"
        since = (date.fromisoformat(q.as_of) - timedelta(days=days)).isoformat() if q.as_of else ""
        found = [day for day, text in articles if day <= as_of and holds(text, q.answers)]
        out[q.qid] = {"any": bool(found), "recent": any(day >= since for day in found)}
    return out


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.corpus_ceiling", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("questions", type=Path, help="the question set (JSONL: id, question, answers, as_of)")
    p.add_argument("corpus", type=Path, help="the articles the index was built from (what `newsrag ingest` read)")
    p.add_argument("--report", type=Path, help="a `newsrag eval --report` of the same set: its declined questions "
                   "are checked against the corpus")
    p.add_argument("--days", type=int, default=30, help="how recent an article must be (default %(default)s days)")
    args = p.parse_args()
    corpus = [a for a in read_inputs([args.corpus]) if isinstance(a, Article)]
    found = ceiling(load_questions(args.questions), corpus, args.days)
    n = len(found)
    if not n:
        raise SystemExit(f"{args.questions}: no question with answers")
    recent = sum(f["recent"] for f in found.values())
    print(f"{n} answerable questions; the answer is written in an article up to as_of for "
          f"{sum(f['any'] for f in found.values()) / n:.3f}, in one of the {args.days} days before it for "
          f"{recent / n:.3f} (a ceiling for contains)")
    if args.report:
        records = json.loads(args.report.read_text(encoding="utf-8"))["per_question"]
        declined = [r["id"] for r in records if r["id"] in found and r.get("abstained")]
        could = [qid for qid in declined if found[qid]["recent"]]
        older = sum(found[qid]["any"] for qid in declined) - len(could)
        print(f"declined {len(declined)} ({len(declined) / n:.3f}); of these, a recent article writes the answer "
              f"for {len(could)} ({len(could) / n:.3f} of the answerable questions), only an older one for {older}, "
              f"none for {len(declined) - len(could) - older}: the false abstention left if every declined question "
              f"that a recent article answers were answered is {(len(declined) - len(could)) / n:.3f}")


if __name__ == "__main__":
    main()
