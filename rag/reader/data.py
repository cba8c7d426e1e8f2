"""Training examples for the reader from the RealTimeQA training weeks (``../shared/train/realtimeqa-train``).

For each quiz question, the candidates are the sentences of its evidence passage (the quiz's own explanation,
written to state the answer) and of the articles a web search returned for it (``doc_ids``). A candidate is a
positive when it holds the right option's text (SQuAD-normalized, on word boundaries); the answer's characters in it
are the span the span head learns. Negatives are hard on purpose: sentences of the same evidence and articles that
share the question's words but not the answer, and sentences that hold a wrong option. Questions of 2026 (by
``as_of``) are held out for calibration and model selection; RealTimeQA dev (2022) is never read here.
"""

from __future__ import annotations

import gzip
import json
import logging
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from rag.chunk import sentence_spans
from rag.errors import RagError
from rag.reader.base import SentenceInput
from rag.reader.features import overlap
from rag.text import SCALES, SMALL_NUMBERS, TENS, headline_news, normalize_answer

log = logging.getLogger(__name__)

DEFAULT_DATA = Path("../shared/train/realtimeqa-train")
HELDOUT_FROM = "2026"  # as_of at or after this is held out
MIN_WORDS = 4


@dataclass(frozen=True)
class TrainQuestion:
    qid: str
    question: str
    answers: tuple[str, ...]
    choices: tuple[str, ...]
    as_of: str
    evidence: str
    doc_ids: tuple[str, ...]


@dataclass(frozen=True)
class Candidate:
    """A sentence read for a question; ``label`` 1 when it holds an accepted answer, ``span`` its characters."""

    sentence: SentenceInput
    label: int
    span: tuple[int, int] | None
    from_evidence: bool
    overlap: float
    headline: bool = False  # an article's headline, read as a sentence of its own (as headline_span reads it)


@dataclass(frozen=True)
class Group:
    """One positive and its hard negatives, positive first: the unit of the listwise loss. An unanswerable group
    (``answerable`` False) holds negatives only, the sentences of a question's own articles that share most of its
    words when none of them holds the answer: they restate the premise without the answer, and teach the pointwise
    score (what abstention reads) to stay low on them; the listwise loss skips such groups."""

    question: str
    items: tuple[Candidate, ...]

    @property
    def answerable(self) -> bool:
        return bool(self.items[0].label)


def load_questions(folder: Path = DEFAULT_DATA) -> list[TrainQuestion]:
    path = Path(folder) / "questions.jsonl"
    if not path.exists():
        raise RagError(f"no training questions at {path}: pass --data pointing at shared/train/realtimeqa-train")
    out = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            try:
                r = json.loads(line)
                out.append(TrainQuestion(r["id"], r["question"], tuple(r["answers"]), tuple(r.get("choices") or ()),
                                         r["as_of"], r.get("evidence") or "", tuple(r.get("doc_ids") or ())))
            except (json.JSONDecodeError, KeyError) as exc:
                raise RagError(f"{path}:{n}: not a training question ({exc})") from exc
    return out


def load_corpus(folder: Path, wanted: set[str]) -> dict[str, dict]:
    """The articles of ``wanted`` ids from ``corpus.jsonl.gz``: id -> {title, text, published}."""
    path = Path(folder) / "corpus.jsonl.gz"
    out = {}
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            if r["id"] in wanted:
                out[r["id"]] = {"title": r.get("title") or "", "text": r.get("text") or "",
                                "published": (r.get("published") or "")[:10] or None}
    return out


def write_corpus(data: Path, questions: Sequence[TrainQuestion], out: Path) -> int:
    """Write the search-result articles of ``questions`` from ``data/corpus.jsonl.gz`` to ``out`` (JSONL, as
    ``newsrag ingest`` reads it); the number written."""
    wanted = {d for q in questions for d in q.doc_ids}
    written = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(data / "corpus.jsonl.gz", "rt", encoding="utf-8") as src, out.open("w", encoding="utf-8") as dst:
        for line in src:
            if json.loads(line)["id"] in wanted:
                dst.write(line if line.endswith("\n") else line + "\n")
                written += 1
    return written


def split(questions: Iterable[TrainQuestion]) -> tuple[list[TrainQuestion], list[TrainQuestion]]:
    """(training, held out): the 2026 weeks are held out."""
    qs = list(questions)
    return [q for q in qs if q.as_of < HELDOUT_FROM], [q for q in qs if q.as_of >= HELDOUT_FROM]


def answer_span(answers: Sequence[str], sentence: str) -> tuple[int, int] | None:
    """Where an accepted answer occurs in ``sentence`` (case-insensitive, on word boundaries), else None."""
    for ans in answers:
        a = ans.strip().strip(".").strip()
        if len(a) < 2:
            continue
        variants = [a] + ([a[4:]] if a.lower().startswith("the ") else [])
        for v in variants:
            pattern = r"(?<!\w)" + r"\s+".join(re.escape(w) for w in v.split()) + r"(?!\w)"
            m = re.search(pattern, sentence, re.I)
            if m:
                return m.start(), m.end()
    return None


def holds_answer(answers: Sequence[str], sentence: str) -> bool:
    norm = f" {normalize_answer(sentence)} "
    return any(len(a) >= 2 and f" {a} " in norm for a in (normalize_answer(x) for x in answers))


def candidates(q: TrainQuestion, corpus: dict[str, dict], headlines: bool = False) -> list[Candidate]:
    """Every sentence of ``q``'s evidence and search-result articles, labelled, in reading order; with
    ``headlines``, each article's headline too (without its publisher's name), before its sentences."""
    out: list[Candidate] = []
    sources = [("", q.as_of, q.evidence, True)] if q.evidence else []
    sources += [(corpus[d]["title"], corpus[d]["published"], corpus[d]["text"], False) for d in q.doc_ids
                if d in corpus]
    seen: set[str] = set()
    for title, published, text, from_evidence in sources:
        news = headline_news(title) if headlines else ""
        if len(news.split()) >= MIN_WORDS and news not in seen:
            seen.add(news)
            label = int(holds_answer(q.answers, news))
            out.append(Candidate(SentenceInput(news, news, published), label,
                                 answer_span(q.answers, news) if label else None, False, overlap(q.question, news),
                                 headline=True))
        for s, e in sentence_spans(text):
            sentence = " ".join(text[s:e].split())
            if len(sentence.split()) < MIN_WORDS or sentence in seen:
                continue
            seen.add(sentence)
            label = int(holds_answer(q.answers, sentence))
            span = answer_span(q.answers, sentence) if label else None
            out.append(Candidate(SentenceInput(sentence, title, published), label, span, from_evidence,
                                 overlap(q.question, sentence)))
    return out


def shortlist(cands: Sequence[Candidate], top_k: int = 30) -> list[Candidate]:
    """The ``top_k`` candidates sharing most of the question's words (ties: reading order), as asking reads them."""
    order = sorted(range(len(cands)), key=lambda i: (-cands[i].overlap, i))[:top_k]
    return [cands[i] for i in order]


def _paraphrasable(answers: Sequence[str]) -> bool:
    """An answer that articles often write otherwise (a number as digits or as words, a date with its digits): not
    finding its text in a sentence does not show that the sentence lacks it."""
    return any(re.search(r"\d", a) or set(normalize_answer(a).split()) & _NUMBER_WORDS for a in answers)


# one .. twelve, twenty .. fifty and the scales: the training examples of versions 2-4 were built with these.
_NUMBER_WORDS = {*SMALL_NUMBERS[1:13], *TENS[:4], *SCALES, "half", "dozen", "percent"}


def unanswerable_group(q: TrainQuestion, cands: Sequence[Candidate], rng: random.Random,
                       negatives: int = 3) -> Group | None:
    """The group of a question whose articles never state its answer: the ``negatives`` + 1 sentences sharing most
    of its words (one of them drawn from the next ``2 * negatives`` for variety); None when the question has an
    evidence passage (written to state the answer: a miss there is a paraphrase), an answer often paraphrased,
    or too few sentences."""
    if q.evidence or _paraphrasable(q.answers) or len(cands) < negatives + 1:
        return None
    hard = sorted(cands, key=lambda c: -c.overlap)
    picked = hard[:negatives]
    rest = hard[negatives:3 * negatives]
    picked.append(rng.choice(rest) if rest else hard[negatives])
    return Group(q.question, tuple(picked))


def groups(q: TrainQuestion, corpus: dict[str, dict], rng: random.Random, negatives: int = 3,
           positives: int = 2, filler: Sequence[Candidate] = (), unanswerable: bool = False,
           headlines: bool = False) -> list[Group]:
    """Up to ``positives`` groups for ``q``: each one positive (evidence sentences first, then the article
    sentences sharing most question words) with ``negatives`` hard negatives (most question words first, a
    sentence naming a wrong option always among them when there is one, one random sentence for variety). A
    question with too few sentences of its own (an evidence passage alone) is padded from ``filler``: sentences
    read for other questions of its week. With ``unanswerable``, a question none of whose sentences holds the
    answer gives its :func:`unanswerable_group`. With ``headlines``, one group more whose positive is the headline
    that states the answer, read as a sentence of its own as asking reads it (``rag.compose.reading.headline_span``),
    when the question has a positive sentence too."""
    cands = candidates(q, corpus, headlines)
    heads = [c for c in cands if c.headline and c.label]
    cands = [c for c in cands if not c.headline]
    pos = sorted((c for c in cands if c.label), key=lambda c: (not c.from_evidence, -c.overlap))[:positives]
    if pos and heads:  # one group more, for the headline that states the answer best
        pos.append(max(heads, key=lambda c: c.overlap))
    neg = [c for c in cands if not c.label]
    if not pos and unanswerable:
        group = unanswerable_group(q, cands, rng, negatives)
        return [group] if group is not None else []
    pad = [c for c in filler if not holds_answer(q.answers, c.sentence.text)]
    if len(neg) < negatives and len(pad) >= negatives:
        neg += rng.sample(pad, negatives - len(neg))
    if not pos or len(neg) < negatives:
        return []
    wrong = [c for c in neg if any(holds_answer([o], c.sentence.text) for o in q.choices if o not in q.answers)]
    hard = sorted(neg, key=lambda c: -c.overlap)
    out = []
    for p in pos:
        pool = hard[: 3 * negatives]
        picked = rng.sample(pool, min(negatives - 1, len(pool)))
        if wrong:
            picked[0:1] = [rng.choice(wrong)]
        rest = [c for c in neg if c not in picked]
        picked.append(rng.choice(rest) if rest else hard[-1])
        out.append(Group(q.question, (p, *picked[:negatives])))
    return out


def build(folder: Path = DEFAULT_DATA, seed: int = 13, negatives: int = 3, limit: int | None = None,
          unanswerable: bool = False, asked_index: Path | None = None, headlines: bool = False,
          ) -> tuple[list[Group], list[TrainQuestion], dict[str, dict]]:
    """(training groups, shuffled; held-out questions; the articles both need). ``limit`` keeps the first
    ``limit`` groups after shuffling (for a quick run); ``unanswerable`` adds the groups of questions whose
    articles do not state the answer (:func:`unanswerable_group`); ``asked_index`` adds the groups of the sentences
    that asking the questions of that index of the training weeks shortlists (:mod:`rag.reader.asked`)."""
    questions = load_questions(folder)
    train, heldout = split(questions)
    corpus = load_corpus(folder, {d for q in questions for d in q.doc_ids})
    rng = random.Random(seed)
    week: dict[str, list[Candidate]] = {}
    for q in train:
        if q.evidence:
            week.setdefault(q.as_of, []).extend(candidates(replace(q, doc_ids=()), corpus))
    out = [g for q in train for g in groups(q, corpus, rng, negatives, filler=week.get(q.as_of, ()),
                                            unanswerable=unanswerable, headlines=headlines)]
    if asked_index is not None:
        from rag.reader import asked

        out += asked.build(Path(folder), Path(asked_index), train, rng, negatives, unanswerable)
    rng.shuffle(out)
    log.info("%d training groups (%d unanswerable) from %d questions; %d questions held out", len(out),
             sum(not g.answerable for g in out), len(train), len(heldout))
    return (out[:limit] if limit else out), heldout, corpus
