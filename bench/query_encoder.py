"""The NumPy query encoder (rag/bert_numpy.py) against sentence-transformers/torch: where a cold process spends
its time, whether the vectors and the answers are the same, where small batches should stop, and BLAS threads.

    python -m bench.query_encoder --index DIR                      # steps, vectors, batch sizes, BLAS threads
    python -m bench.query_encoder --index DIR --answers tests/data/questions.jsonl

Run it as a fresh process: the first line times the imports of a cold ``newsrag ask``. Note ``nproc`` and the
load average (printed) next to any number.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()
import rag.cli  # noqa: E402, F401 - what a cold `newsrag ask` imports
from rag.pipeline import NewsIndex  # noqa: E402

IMPORT_S = time.perf_counter() - T0

import argparse  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
from collections.abc import Sequence  # noqa: E402

import numpy as np  # noqa: E402

from rag.bench.pipeline import sample_texts  # noqa: E402
from rag.embed import SentenceTransformerEmbedder  # noqa: E402

QUESTION = "When will the S-400 systems be fully installed in Turkey?"
ODD_TEXTS = ["", "   spaces   ", "\ttabs\nand\r\nnewlines", "a", "Ünïcödé café — “quotes” 😀", "日本語のテキスト",
             "COVID-19: 3,456,789 doses; $12.5bn (2021-03-04)", "ALL CAPS HEADLINE", "word " * 400, "x" * 3000]


class TorchOnly:
    """The embedder as it was before: torch for every batch, one thread for a small one."""

    def __init__(self, embedder: SentenceTransformerEmbedder) -> None:
        self.name, self.dim, self.model = embedder.name, 384, embedder.model

    def embed(self, texts: Sequence[str], progress=None) -> np.ndarray:  # noqa: ANN001
        from rag.embed import _threads_for

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        _threads_for(len(texts))
        return self.model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True).astype(np.float32)


def _ms(step, repeat: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def steps_and_vectors(index_dir: str) -> tuple[SentenceTransformerEmbedder, list[str]]:
    t = time.perf_counter()
    index = NewsIndex.open(index_dir)
    open_s = time.perf_counter() - t
    embedder = index.embedder
    t = time.perf_counter()
    small = embedder._small_encoder()
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    answer = index.ask(QUESTION)
    ask_s = time.perf_counter() - t
    print(f"cold steps: imports {IMPORT_S:.3f} s, open index {open_s:.3f} s, NumPy encoder load {load_s:.3f} s, "
          f"first ask {ask_s:.3f} s (embed {answer.timings['embed']:.1f} ms, compose {answer.timings['compose']:.1f} ms)")
    passages = sample_texts(index, 64)
    t = time.perf_counter()
    torch_model = embedder.model
    print(f"torch + sentence-transformers load: {time.perf_counter() - t:.2f} s")
    texts = [QUESTION, *ODD_TEXTS, *passages[:20]]
    a = torch_model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    b = small.encode(texts)
    print(f"vectors on {len(texts)} texts: max abs difference {np.abs(a - b).max():.2e}, "
          f"min cosine {np.sum(a * b, axis=1).min():.7f}")
    return embedder, passages


def batch_sizes(embedder: SentenceTransformerEmbedder, passages: list[str]) -> None:
    from rag.embed import _threads_for

    small = embedder._small_encoder()
    for n in (1, 8, 32, 64):
        numpy_ms = _ms(lambda n=n: small.encode(passages[:n]), 1 if n > 8 else 3)
        _threads_for(n)
        torch_ms = _ms(lambda n=n: embedder.model.encode(passages[:n], batch_size=64), 1 if n > 8 else 3)
        print(f"{n:>3} passages: NumPy {numpy_ms / 1000:.2f} s, torch (loaded) {torch_ms / 1000:.2f} s")


def blas_threads(embedder: SentenceTransformerEmbedder, passages: list[str]) -> None:
    small = embedder._small_encoder()
    limited = small._blas
    cases = {"1 question": [QUESTION], "3 questions": [QUESTION] * 3, "16 passages": passages[:16]}
    results: dict[str, dict[str, list[float]]] = {"one": {k: [] for k in cases}, "default": {k: [] for k in cases}}
    for _ in range(3):  # alternate, so both see the same load
        for mode in ("one", "default"):
            small._blas = limited if mode == "one" else []
            for name, texts in cases.items():
                results[mode][name].append(_ms(lambda texts=texts: small.encode(texts), 1 if len(texts) > 8 else 10))
    small._blas = limited
    for name in cases:
        print(f"BLAS threads, {name}: one {statistics.median(results['one'][name]):.1f} ms, NumPy's default "
              f"{statistics.median(results['default'][name]):.1f} ms")


def answers(index_dir: str, questions_path: str) -> None:
    from rag.evaluate import load_questions

    numpy_index = NewsIndex.open(index_dir, embedder=SentenceTransformerEmbedder())
    torch_index = NewsIndex.open(index_dir, embedder=TorchOnly(SentenceTransformerEmbedder()))
    questions = load_questions(questions_path)
    same, embed_ms = 0, {"numpy": [], "torch": []}
    for q in questions:
        kwargs = {"as_of": q.as_of, "choices": q.choices, "history": q.history}
        a, b = numpy_index.ask(q.question, **kwargs), torch_index.ask(q.question, **kwargs)
        embed_ms["numpy"].append(a.timings["embed"])
        embed_ms["torch"].append(b.timings["embed"])
        x, y = a.to_dict(), b.to_dict()
        x.pop("timings_ms")
        y.pop("timings_ms")
        same += x == y
        if x != y:
            print(f"differs: {q.question}")
    print(f"answers (--json without timings) identical: {same} of {len(questions)}; query embed p50 NumPy "
          f"{statistics.median(embed_ms['numpy'][1:] or embed_ms['numpy']):.1f} ms, torch "
          f"{statistics.median(embed_ms['torch'][1:] or embed_ms['torch']):.1f} ms; torch loaded by the NumPy "
          f"index: {numpy_index.embedder.torch_loaded}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", required=True, help="an index built with the default model")
    parser.add_argument("--answers", metavar="QUESTIONS", help="compare every answer of this question set instead")
    args = parser.parse_args()
    print(f"nproc {len(os.sched_getaffinity(0))}, load average {os.getloadavg()[0]:.2f}")
    if args.answers:
        answers(args.index, args.answers)
    else:
        embedder, passages = steps_and_vectors(args.index)
        batch_sizes(embedder, passages)
        blas_threads(embedder, passages)
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
