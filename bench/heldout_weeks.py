"""The held-out training weeks (2026) as a question set and a corpus that ``newsrag`` can ingest and evaluate: the
end-to-end tuning set for what the reader changes in the composer (RealTimeQA dev stays for reporting only).

Writes ``OUT/questions.jsonl`` (the held-out questions that have search results, in the eval format: id, question,
answers, choices, as_of) and ``OUT/corpus.jsonl`` (their search-result articles). OUT must be outside
the repository: the articles and quizzes are copyrighted news and are never committed.

    python -m bench.heldout_weeks --data ../shared/train/realtimeqa-train --out /tmp/weeks-2026
    newsrag ingest /tmp/weeks-2026/corpus.jsonl --index /tmp/weeks-2026/index
    newsrag eval /tmp/weeks-2026/questions.jsonl --index /tmp/weeks-2026/index --reader --compare-no-reader
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rag.reader import data


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(data.DEFAULT_DATA), help="the RealTimeQA training folder")
    p.add_argument("--out", required=True, help="folder to write questions.jsonl and corpus.jsonl to")
    args = p.parse_args()
    out = Path(args.out)
    if out.resolve().is_relative_to(Path(__file__).resolve().parents[1]):
        raise SystemExit(f"--out {out} is inside the repository: the articles are copyrighted news, write elsewhere")
    _, heldout = data.split(data.load_questions(Path(args.data)))
    asked = [q for q in heldout if q.doc_ids]
    out.mkdir(parents=True, exist_ok=True)
    articles = data.write_corpus(Path(args.data), asked, out / "corpus.jsonl")
    with (out / "questions.jsonl").open("w", encoding="utf-8") as fh:
        for q in asked:
            fh.write(json.dumps({"id": q.qid, "question": q.question, "answers": list(q.answers),
                                 "choices": list(q.choices), "as_of": q.as_of}) + "\n")
    print(f"wrote {len(asked)} questions (of {len(heldout)} held out) and {articles} articles to {out}")


if __name__ == "__main__":
    main()
