"""How well the reader reads, on the held-out training weeks (2026; never trained on).

For each held-out question, the candidates are the sentences of its evidence passage and of its search-result
articles (``doc_ids``), the TOP_K sharing most of the question's words. Reported, over the questions that have
candidates:

- top-1: the best-scored sentence holds the answer, for word overlap, today's composer, the reader, and blends of
  the reader's probability with word overlap (the weight picked on the even-numbered questions, reported on all);
- the composer proxy: ``rag.compose.score_candidates`` over the same articles given as whole-article hits in
  search order (the evidence passage first), its best sentence as the composer picks it (``_holding_the_kind``);
  it reads every sentence of those articles, not only the shortlist;
- the composer's READ_TOP best sentences re-ranked by the reader's probability plus a weight of the composer's
  score (how the composer uses the reader);
- span exact match / F1 (SQuAD normalization, best over the accepted answers) of the reader's span in its top
  sentence, and of its span in the first answering sentence (the span head alone);
- per kind of question (``rag.compose.short.asked_type``): F1 of the reader's span in its top sentence against
  F1 of that sentence's typed phrase (``typed_phrase``), which tells where the composer should use which;
- option accuracy: the reader's ``choose`` over the shortlist, against the option stated most by the
  highest-overlap sentences;
- speed: milliseconds to read 10 candidates (p50 over the questions).

    python -m bench.reader_eval --model rag/models/reader --data ../shared/train/realtimeqa-train
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from pathlib import Path

import numpy as np

from rag.compose.candidates import _holding_the_kind, score_candidates
from rag.compose.short import asked_type, short_answer
from rag.question import analyze
from rag.reader import SentenceInput, data
from rag.reader.calibrate import TOP_K, Case, cases
from rag.reader.model import TrainedReader, _stated
from rag.text import normalize_answer
from rag.types import ArticleInfo, Hit, Passage

BLEND_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)
RULE_WEIGHTS = (0.0, 0.1, 0.25, 0.5, 1.0)
READ_TOP = 12


def f1(prediction: str, answers: list[str] | tuple[str, ...]) -> tuple[float, float]:
    """(exact match, F1), SQuAD-style, best over ``answers``."""
    best_em, best_f1 = 0.0, 0.0
    pred = normalize_answer(prediction).split()
    for a in answers:
        gold = normalize_answer(a).split()
        common = Counter(pred) & Counter(gold)
        same = sum(common.values())
        em = float(pred == gold)
        score = 0.0 if not same else 2 * same / (len(pred) + len(gold))
        best_em, best_f1 = max(best_em, em), max(best_f1, score)
    return best_em, best_f1


def composer_candidates(case: Case, corpus: dict[str, dict]) -> tuple[list, object]:
    """Today's composer's scored candidates over the question's articles, and its best (see the module
    docstring)."""
    q = case.question
    docs = ([("evidence", "", q.as_of, q.evidence)] if q.evidence else []) + [
        (d, corpus[d]["title"], corpus[d]["published"], corpus[d]["text"]) for d in q.doc_ids if d in corpus]
    hits = [Hit(Passage(aid, 0, 0, len(text), text, passage_id=i),
                ArticleInfo(aid, title, "", published, "", "", aid), 1.0 - 0.05 * i)
            for i, (aid, title, published, text) in enumerate(docs)]
    info = analyze(q.question)
    cands = score_candidates(info, hits)
    return cands, _holding_the_kind(info, cands, max(cands, key=lambda c: c.score, default=None))


def option_baseline(case: Case) -> int:
    """The option stated by the highest-overlap sentence that states any (first option when none does)."""
    for c in case.candidates:
        held = [_stated(o, c.sentence.text) for o in case.question.choices]
        if max(held, default=0) >= 1.0:
            return int(np.argmax(held))
    return 0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="rag/models/reader")
    p.add_argument("--data", default=str(data.DEFAULT_DATA))
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    questions = data.load_questions(Path(args.data))
    _, heldout = data.split(questions)
    corpus = data.load_corpus(Path(args.data), {d for q in heldout for d in q.doc_ids})
    reader = TrainedReader.load(args.model, threads=args.threads)
    all_cases = cases(heldout, corpus, TOP_K)
    n = len(all_cases)
    hits = Counter()
    blend = {w: [] for w in BLEND_WEIGHTS}
    rerank = {w: [] for w in RULE_WEIGHTS}
    ems, f1s, oracle_f1 = [], [], []
    by_kind: dict[str, list[tuple[float, float]]] = {}
    opt_reader, opt_base, opt_n, ms = 0, 0, 0, []
    for i, case in enumerate(all_cases):
        q = case.question
        sents = [c.sentence for c in case.candidates]
        labels = np.array([c.label for c in case.candidates])
        readings = reader.read(q.question, sents)
        probs = np.array([r.score for r in readings])
        over = np.array([c.overlap for c in case.candidates])
        hits["any"] += int(labels.any())
        hits["overlap"] += int(labels[0])
        ccands, cbest = composer_candidates(case, corpus)
        hits["composer"] += int(cbest is not None and data.holds_answer(q.answers, cbest.text))
        shortlist = sorted(ccands, key=lambda c: -c.score)[:READ_TOP]
        if shortlist:
            cprobs = np.array([r.score for r in reader.read(q.question, [SentenceInput(c.text, c.hit.article.title,
                                                                                       c.hit.article.published)
                                                                         for c in shortlist])])
            cscores = np.array([c.score for c in shortlist])
            for w in RULE_WEIGHTS:
                pick = shortlist[int(np.argmax(cprobs + w * cscores))]
                rerank[w].append(int(data.holds_answer(q.answers, pick.text)))
        else:
            for w in RULE_WEIGHTS:
                rerank[w].append(0)
        top = int(np.argmax(probs))
        hits["reader"] += int(labels[top])
        for w in BLEND_WEIGHTS:
            blend[w].append(int(labels[int(np.argmax(probs + w * over))]))
        span = readings[top].span
        em, f = f1(sents[top].text[span[0]:span[1]] if span else "", q.answers)
        ems.append(em)
        f1s.append(f)
        info = analyze(q.question)
        typed = short_answer(info, sents[top].text, sents[top].published)
        by_kind.setdefault(asked_type(info), []).append((f, f1(typed, q.answers)[1]))
        if labels.any():
            first = int(np.argmax(labels))
            s = readings[first].span
            oracle_f1.append(f1(sents[first].text[s[0]:s[1]] if s else "", q.answers))
        if q.choices and q.answers[0] in q.choices:
            right = q.choices.index(q.answers[0])
            opt_n += 1
            opt_reader += int(int(np.argmax(reader.choose(q.question, q.choices, sents))) == right)
            opt_base += int(option_baseline(case) == right)
        started = time.perf_counter()
        reader.read(q.question, sents[:10])
        ms.append(1000 * (time.perf_counter() - started))
        del i
    even = {w: float(np.mean(v[::2])) for w, v in blend.items()}
    w_best = max(BLEND_WEIGHTS, key=lambda w: even[w])
    print(f"held-out questions with candidates: {n} (any of the top {TOP_K} holds the answer: {hits['any'] / n:.3f})")
    print(f"{'scorer':<44} top-1 holds answer")
    for name in ("overlap", "composer", "reader"):
        print(f"{name:<44} {hits[name] / n:.3f}")
    for w in BLEND_WEIGHTS:
        print(f"{f'reader + {w} x overlap':<44} {np.mean(blend[w]):.3f}{'  <- picked on even questions' if w == w_best else ''}")
    for w in RULE_WEIGHTS:
        print(f"{f'composer top {READ_TOP} by reader + {w} x composer':<44} {np.mean(rerank[w]):.3f}")
    print(f"reader gain over composer: {(hits['reader'] - hits['composer']) / n:+.3f}")
    print(f"span of the reader's top sentence: EM {np.mean(ems):.3f} F1 {np.mean(f1s):.3f} (all {n} questions)")
    if oracle_f1:
        print(f"span in the first answering sentence: EM {np.mean([e for e, _ in oracle_f1]):.3f} "
              f"F1 {np.mean([x for _, x in oracle_f1]):.3f} ({len(oracle_f1)} answerable questions)")
    print(f"{'kind':<8} {'questions':>9} {'span F1':>8} {'typed F1':>8}  (the reader's top sentence)")
    for kind, pairs in sorted(by_kind.items(), key=lambda kv: -len(kv[1])):
        print(f"{kind:<8} {len(pairs):>9} {np.mean([a for a, _ in pairs]):>8.3f} {np.mean([b for _, b in pairs]):>8.3f}")
    if opt_n:
        print(f"option accuracy: reader {opt_reader / opt_n:.3f}, highest-overlap stating sentence "
              f"{opt_base / opt_n:.3f} ({opt_n} questions)")
    print(f"read 10 candidates: p50 {statistics.median(ms):.1f} ms, p95 {sorted(ms)[int(0.95 * len(ms))]:.1f} ms "
          f"({args.threads} threads)")


if __name__ == "__main__":
    main()
