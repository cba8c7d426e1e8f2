"""Raw speed and agreement of the sentence-transformers MiniLM and its ONNX int8 twin on the same passages of an
index (texts as the indexer embeds them), and the cost of ``dense_passages`` = N on that index's articles.

    python -m bench.embed_speed --index /work/rtqa/full --sample 512 --questions questions.jsonl
"""

from __future__ import annotations

import argparse
import os

from rag.bench.embedders import compare_embedders
from rag.bench.pipeline import sample_texts
from rag.embed import OnnxEmbedder, SentenceTransformerEmbedder
from rag.evaluate import load_questions
from rag.pipeline import NewsIndex


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index", required=True)
    p.add_argument("--sample", type=int, default=512)
    p.add_argument("--questions", help="JSONL questions for the top-10 overlap (default: article titles)")
    p.add_argument("--rounds", type=int, default=2, help="repeat, to see the noise of a shared machine")
    args = p.parse_args()
    index = NewsIndex.open(args.index)
    texts = sample_texts(index, args.sample)
    if args.questions:
        questions = [q.question for q in load_questions(args.questions)]
    else:
        questions = [r[0] for r in index.store.query("SELECT title FROM articles LIMIT 200")]
    words = sum(len(t.split()) for t in texts) / len(texts)
    print(f"{len(texts)} passages of {words:.0f} words on average, {len(questions)} questions")
    st, onnx = SentenceTransformerEmbedder(), OnnxEmbedder()
    for round_ in range(args.rounds):
        r = compare_embedders(st, onnx, texts, questions)
        print(f"round {round_ + 1}: load {os.getloadavg()[0]:.1f}: sentence-transformers {r['first_per_s']:.1f} "
              f"passages/s, onnx int8 {r['second_per_s']:.1f} passages/s ({r['speedup']:.2f}x); cosine mean "
              f"{r['cosine_mean']:.4f} min {r['cosine_min']:.4f}; top-10 overlap {r['overlap_at_10']:.3f}")
    rows = index.store.query("SELECT ordinal, COUNT(*) FROM passages GROUP BY ordinal ORDER BY ordinal")
    total = sum(c for _, c in rows)
    for n in (1, 2, 3, 5):
        dense = sum(c for o, c in rows if o < n)
        print(f"dense_passages={n}: {dense:,} of {total:,} passages embedded ({dense / total:.0%})")


if __name__ == "__main__":
    main()
