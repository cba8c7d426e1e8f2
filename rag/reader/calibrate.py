"""Calibrate a reader model directory on the held-out training weeks (2026): Platt scaling of the relevance logit
over every shortlisted sentence, and the abstention threshold on each question's best sentence.

    python -m rag.reader.calibrate --model rag/models/reader --data ../shared/train/realtimeqa-train

A question is *answerable* when a sentence of its shortlist holds the answer. An *unanswerable* case is simulated
by asking a question over the shortlist of a question of another week (its articles are about other news). The
threshold is the highest that declines at most MAX_FALSE_ABSTENTION of the answerable questions; the share of the
unanswerable cases it declines is recorded beside it.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.reader import data
from rag.reader.calibration import abstention_rate, abstention_threshold, fit_platt

log = logging.getLogger(__name__)

MAX_FALSE_ABSTENTION = 0.05
TOP_K = 30


@dataclass(frozen=True)
class Case:
    """A held-out question with its shortlist (by word overlap, best first) and whether it is answerable."""

    question: data.TrainQuestion
    candidates: tuple[data.Candidate, ...]

    @property
    def answerable(self) -> bool:
        return any(c.label for c in self.candidates)


def cases(heldout: Sequence[data.TrainQuestion], corpus: dict[str, dict], top_k: int = TOP_K) -> list[Case]:
    """The held-out questions that have sentences to read, each with its ``top_k`` shortlist."""
    out = []
    for q in heldout:
        cands = data.shortlist(data.candidates(q, corpus), top_k)
        if cands:
            out.append(Case(q, tuple(cands)))
    return out


def foreign(all_cases: Sequence[Case]) -> list[Case]:
    """Each question over the shortlist of the next case from another week (relabelled for its own answer)."""
    out = []
    for i, c in enumerate(all_cases):
        other = next((o for o in all_cases[i + 1:] + all_cases[:i] if o.question.as_of != c.question.as_of), None)
        if other is None:
            continue
        cands = [data.Candidate(x.sentence, int(data.holds_answer(c.question.answers, x.sentence.text)), None,
                                x.from_evidence, x.overlap) for x in other.candidates]
        if not any(x.label for x in cands):
            out.append(Case(c.question, tuple(cands)))
    return out


def logits(reader, case: Case) -> np.ndarray:  # noqa: ANN001
    return reader.raw(case.question.question, [c.sentence for c in case.candidates]).relevance


def calibrate(reader, all_cases: Sequence[Case]) -> dict:  # noqa: ANN001
    """Fit the calibration and the threshold; what config.json records of them."""
    scored = [(c, logits(reader, c)) for c in all_cases]
    x = np.concatenate([s for _, s in scored])
    y = np.concatenate([[k.label for k in c.candidates] for c, _ in scored])
    platt = fit_platt(x, y)
    best = [float(platt.probability(s).max()) for c, s in scored if c.answerable]
    threshold = abstention_threshold(best, MAX_FALSE_ABSTENTION)
    unanswerable = [float(platt.probability(logits(reader, c)).max()) for c in foreign(all_cases)]
    stats = {"questions": len(scored), "answerable": len(best), "sentences": int(len(y)),
             "positives": int(y.sum()), "false_abstention": round(abstention_rate(best, threshold), 4),
             "unanswerable_cases": len(unanswerable),
             "unanswerable_declined": round(abstention_rate(unanswerable, threshold), 4)}
    log.info("calibration: %s threshold %.4f %s", platt, threshold, stats)
    return {"calibration": platt.to_config(), "threshold": round(threshold, 6), "calibration_stats": stats}


def calibrate_dir(directory: Path, heldout: Sequence[data.TrainQuestion], corpus: dict[str, dict]) -> dict:
    """Calibrate the reader in ``directory`` on ``heldout`` and write the result into its config.json."""
    from rag.reader.model import TrainedReader

    reader = TrainedReader.load(directory)
    result = calibrate(reader, cases(heldout, corpus))
    path = Path(directory) / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config.update(result)
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return result


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="rag/models/reader", help="reader model directory (default %(default)s)")
    p.add_argument("--data", default=str(data.DEFAULT_DATA), help="training data folder (default %(default)s)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    questions = data.load_questions(Path(args.data))
    _, heldout = data.split(questions)
    corpus = data.load_corpus(Path(args.data), {d for q in heldout for d in q.doc_ids})
    print(json.dumps(calibrate_dir(Path(args.model), heldout, corpus), indent=2))


if __name__ == "__main__":
    main()
