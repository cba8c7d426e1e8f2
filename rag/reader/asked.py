"""Training groups shaped like asking: the sentences the composer would give the reader for a training question.

:mod:`rag.reader.data` draws a question's candidates from its evidence passage and its own search results, ranked
by shared words. Asking reads something else: the best-scored and best-supported sentences of the passages that
retrieval finds in the whole week's news (``rag.compose.candidate_sentences``, ``rag.compose.reading.shortlist``).
Here each training question with search results is asked of an index of the training weeks' articles, and its
group is made of that shortlist: a sentence holding the answer as the positive, the shortlist's others as the
negatives, the hardest (best-scored) first. A question none of whose read sentences holds its answer gives an
unanswerable group, as in :func:`rag.reader.data.unanswerable_group`.

The index is built once from the training weeks (:func:`rag.reader.data.write_corpus`, then an ingest); the 2026 weeks
are left out of it, as they are of training.
"""

from __future__ import annotations

import logging
import random
import shutil
from collections.abc import Sequence
from pathlib import Path

from rag.reader.base import SentenceInput
from rag.reader.data import Candidate, Group, TrainQuestion, _paraphrasable, answer_span, holds_answer, write_corpus

log = logging.getLogger(__name__)

# How many of the composer's best-scored (and as many best-supported) sentences a question's group is drawn from.
# Version 4 was trained with 10 when asking read 5 (more hard negatives, more found answers); asking now reads 10 too
# (rag.compose.reading.READ_TOP), chosen on the tuning sets afterwards.
ASKED_TOP = 10


def read_for(index, q: TrainQuestion, top_k: int = ASKED_TOP) -> list[Candidate]:  # noqa: ANN001
    """The sentences asking ``q`` of ``index`` would shortlist (``top_k`` best-scored + best-supported), labelled
    by whether they hold its answer; empty when nothing is retrieved."""
    from rag.compose import CHOICE_HITS, candidate_sentences
    from rag.compose.reading import shortlist
    from rag.question import analyze
    from rag.retrieve import Query, retrieve

    query = Query.make(q.question, as_of=q.as_of, top_k=CHOICE_HITS)
    hits = retrieve(index, query)
    if not hits:
        return []
    _, _, cands = candidate_sentences(index, analyze(q.question, ()), q.question, query, hits)
    out, seen = [], set()
    for c in shortlist(cands, top_k):
        if c.text in seen:  # the same sentence in two copies of a story
            continue
        seen.add(c.text)
        label = int(holds_answer(q.answers, c.text))
        sentence = SentenceInput(c.text, c.hit.article.title, c.hit.article.published)
        out.append(Candidate(sentence, label, answer_span(q.answers, c.text) if label else None, False, c.support))
    return out


def asked_groups(q: TrainQuestion, read: Sequence[Candidate], rng: random.Random, negatives: int = 3,
                 positives: int = 2, unanswerable: bool = True) -> list[Group]:
    """Up to ``positives`` groups for ``q`` from ``read`` (:func:`read_for`, best first): each a sentence holding
    the answer with ``negatives`` others (``negatives`` - 1 drawn from the hardest 2 * ``negatives``, one from the
    rest); with ``unanswerable``, one group of the ``negatives`` + 1 hardest when none holds it (not for an answer
    often paraphrased: a number may be written otherwise)."""
    pos = [c for c in read if c.label][:positives]
    neg = [c for c in read if not c.label]
    if not pos:
        if unanswerable and not _paraphrasable(q.answers) and len(neg) > negatives:
            return [Group(q.question, tuple(neg[:negatives + 1]))]
        return []
    if len(neg) < negatives:
        return []
    out = []
    for p in pos:
        hard = min(len(neg), 2 * negatives)
        picked = rng.sample(range(hard), negatives - 1)
        rest = list(range(hard, len(neg))) or [i for i in range(hard) if i not in picked]
        picked.append(rng.choice(rest))
        out.append(Group(q.question, (p, *(neg[i] for i in picked))))
    return out


def build(data: Path, index_dir: Path, questions: Sequence[TrainQuestion], rng: random.Random, negatives: int = 3,
          unanswerable: bool = True) -> list[Group]:
    """The asked groups of ``questions`` (those with search results) from the index at ``index_dir``, built there
    first from their articles when it is missing (the training weeks: about 12 minutes on 2 cores)."""
    from tqdm import tqdm

    from rag.config import READER_OFF, Settings
    from rag.pipeline import NewsIndex

    asked = [q for q in questions if q.doc_ids]
    settings = Settings(reader=READER_OFF)  # the shortlist is the rules'; no reader is loaded to build it
    if not index_dir.exists():
        # Built beside it and renamed when complete: an interrupted build is started again, not taken for an index.
        partial = index_dir.parent / f"{index_dir.name}.partial"
        articles = index_dir.parent / f"{index_dir.name}-articles.jsonl"
        log.info("building the training weeks' index in %s from %d articles", index_dir,
                 write_corpus(data, asked, articles))
        shutil.rmtree(partial, ignore_errors=True)
        built = NewsIndex.open(partial, create=True, settings=settings)
        try:
            built.ingest([articles])
        finally:
            built.close()
        articles.unlink()
        partial.rename(index_dir)
    index = NewsIndex.open(index_dir, settings=settings)
    out = []
    try:
        for q in tqdm(asked, desc="asking the training questions", unit="q"):
            out += asked_groups(q, read_for(index, q), rng, negatives, unanswerable=unanswerable)
    finally:
        index.close()
    log.info("%d asked groups (%d unanswerable) from %d questions", len(out), sum(not g.answerable for g in out),
             len(asked))
    return out
