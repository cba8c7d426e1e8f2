"""Question sets (JSONL) run through the same ``ask`` path as the app and the CLI, and the metrics that
matter for cited news QA: retrieval (hits@k, mrr@10), answers (contains, lead_contains, cited_contains),
citation precision, abstention, multiple-choice accuracy and latency."""

from __future__ import annotations

import json
import math
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.dates import parse_date
from rag.errors import InputError
from rag.text import normalize_answer
from rag.types import Answer


@dataclass(frozen=True)
class EvalQuestion:
    qid: str
    question: str
    answers: tuple[str, ...] = ()
    gold_doc_ids: tuple[str, ...] = ()
    answerable: bool = True
    as_of: str | None = None
    choices: tuple[str, ...] = ()
    history: tuple[str, ...] = ()


def load_questions(path: str | Path) -> list[EvalQuestion]:
    """Questions from JSONL; a bad line raises InputError naming ``path:line`` and the field."""
    out = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(where, f"not valid JSON ({err.msg})") from err
        if not isinstance(rec, dict) or not str(rec.get("question", "")).strip():
            raise InputError(where, "field 'question' is missing or empty")
        if not isinstance(rec.get("answerable", True), bool):
            raise InputError(where, "field 'answerable' must be true or false (not a string)")
        as_of = rec.get("as_of")
        if as_of is not None and (not isinstance(as_of, str) or parse_date(as_of) != as_of.strip()):
            raise InputError(where, f"field 'as_of' must be a date written YYYY-MM-DD, not {as_of!r}")
        out.append(EvalQuestion(
            str(rec.get("id", f"q{number}")), rec["question"], _strings(rec, "answers", where),
            _strings(rec, "gold_doc_ids", where), rec.get("answerable", True), as_of,
            _strings(rec, "choices", where), _strings(rec, "history", where)))
    return out


def _strings(rec: dict, key: str, where: str) -> tuple[str, ...]:
    value = rec.get(key) or ()
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, list | tuple):
        raise InputError(where, f"field {key!r} must be a list of strings")
    return tuple(str(v) for v in value)


_JOINERS = re.compile(r"[-‐‑‒–—/]")
_POSSESSIVE = re.compile(r"(?<=\w)['’]s\b")


def contains(text: str, answers: tuple[str, ...]) -> bool:
    """True when one of ``answers`` occurs in ``text`` as whole words, after SQuAD normalization."""
    return holds(f" {contains_form(text)} ", answers)


def contains_form(text: str) -> str:
    """``text`` as :func:`contains` compares it: SQuAD-normalized, with hyphens and slashes separating words (SQuAD's
    normalization deletes them, which would glue "14-year-old" into one word and hide the answer "14") and without
    possessives (a possessive names its owner: "Vladimir Putin’s invasion" contains the answer "Vladimir Putin")."""
    return normalize_answer(_POSSESSIVE.sub("", _JOINERS.sub(" ", text)))


def holds(hay: str, answers: tuple[str, ...]) -> bool:
    """:func:`contains` for a ``hay`` already in :func:`contains_form` and padded with a space at each end: for
    one text checked against many questions' answers."""
    return any(f" {n} " in hay for n in map(contains_form, answers) if n)


def exact_match(prediction: str, answers: tuple[str, ...]) -> bool:
    """SQuAD exact match: ``prediction`` equals one of ``answers`` after normalization (lower case, no punctuation,
    no articles a/an/the, single spaces). An empty prediction matches nothing."""
    got = normalize_answer(prediction)
    return bool(got) and any(got == normalize_answer(a) for a in answers)


def token_f1(prediction: str, answers: tuple[str, ...]) -> float:
    """SQuAD F1: the best over ``answers`` of the harmonic mean of precision and recall of the normalized words
    ``prediction`` shares with the answer; 0.0 for an empty prediction."""
    got = normalize_answer(prediction).split()
    best = 0.0
    for answer in answers:
        want = normalize_answer(answer).split()
        common = sum((Counter(got) & Counter(want)).values())
        if got and want and common:
            precision, recall = common / len(got), common / len(want)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def lead_sentence(text: str) -> str:
    """The answer's first sentence: up to its first citation marker, or its first full stop."""
    found = re.search(r"\[\d+\]", text)
    if found:
        return text[: found.end()]
    found = re.search(r"[.!?](?=\s|$)", text)
    return text[: found.end()] if found else text


@dataclass
class _Tally:
    rows: list[dict[str, Any]] = field(default_factory=list)
    hits: dict[int, int] = field(default_factory=lambda: {1: 0, 5: 0, 10: 0})
    rr: float = 0.0
    retrieval_n: int = 0
    answer_n: int = 0
    contains: int = 0
    lead: int = 0
    short_em: int = 0
    short_f1: float = 0.0
    cited: int = 0
    citations: int = 0
    good_citations: int = 0
    unanswerable: int = 0
    abstained_right: int = 0
    answerable: int = 0
    abstained_wrong: int = 0
    choice_n: int = 0
    choice_right: int = 0
    ms: list[float] = field(default_factory=list)


def run_eval(index, questions: list[EvalQuestion], top_k: int = 10,  # noqa: ANN001
             progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """The report: ``questions``, ``retrieval``, ``answer``, ``citations``, ``abstention``, ``choices``,
    ``latency_ms`` and ``per_question`` (see the README for the definitions)."""
    tally = _Tally()
    for q in questions:
        t0 = time.perf_counter()
        answer = index.ask(q.question, as_of=q.as_of, history=q.history, top_k=top_k)
        ms = (time.perf_counter() - t0) * 1000
        tally.ms.append(ms)
        picked = index.ask(q.question, as_of=q.as_of, history=q.history, choices=q.choices, top_k=top_k) \
            if q.choices else None
        _score(tally, q, answer, picked, ms)
        if progress:
            progress(1)
    return _report(tally, len(questions))


def _score(t: _Tally, q: EvalQuestion, answer: Answer, picked: Answer | None, ms: float) -> None:
    """Count ``answer`` (free-form) and ``picked`` (asked with the question's choices, if it has any)."""
    choice = picked.choice if picked else None
    retrieved = [h.article.article_id for h in answer.hits]
    expanded = [{h.article.article_id, *h.copies} for h in answer.hits]
    cited_ids = [next(s.article_id for s in answer.sources if s.marker == c.marker) for c in answer.citations]
    cited_ids = list(dict.fromkeys(cited_ids))
    row: dict[str, Any] = {"id": q.qid, "question": q.question, "short_answer": answer.short_answer,
                           "answer": answer.text, "cited_doc_ids": cited_ids,
                           "retrieved_doc_ids": retrieved, "abstained": answer.abstained, "choice": choice,
                           "ms": round(ms, 2), "expected": list(q.answers), "answerable": q.answerable,
                           "gold_doc_ids": list(q.gold_doc_ids),
                           "retrieved_titles": [h.article.title for h in answer.hits[:5]]}
    if q.gold_doc_ids:
        gold = set(q.gold_doc_ids)
        rank = next((i for i, ids in enumerate(expanded, start=1) if ids & gold), None)
        t.retrieval_n += 1
        for k in t.hits:
            t.hits[k] += bool(rank and rank <= k)
        t.rr += 1.0 / rank if rank and rank <= 10 else 0.0
        row["gold_rank"] = rank
    if q.answerable:
        t.answerable += 1
        t.abstained_wrong += answer.abstained
    else:
        t.unanswerable += 1
        t.abstained_right += answer.abstained
    if q.answerable and q.answers:
        t.answer_n += 1
        row["contains"] = contains(answer.text, q.answers)
        t.contains += row["contains"]
        t.lead += contains(lead_sentence(answer.text), q.answers)
        f1 = token_f1(answer.short_answer, q.answers)
        row["short_em"], row["short_f1"] = exact_match(answer.short_answer, q.answers), round(f1, 4)
        t.short_em += row["short_em"]
        t.short_f1 += f1
        t.cited += any(contains(s.passage, q.answers) for s in answer.sources)
        by_marker = {s.marker: s for s in answer.sources}
        for c in answer.citations:
            src = by_marker[c.marker]
            t.citations += 1
            # A near-duplicate copy of the gold article (same story, another outlet) is as good as the gold one.
            t.good_citations += bool({src.article_id, *src.copies} & set(q.gold_doc_ids)) or contains(src.passage,
                                                                                                       q.answers)
    if q.choices:
        t.choice_n += 1
        right = choice is not None and normalize_answer(choice) in {normalize_answer(a) for a in q.answers}
        t.choice_right += right
        row["choice_right"] = right
        if picked is not None:
            row["choice_answer"] = picked.text  # why that option: for reading the errors
    t.rows.append(row)


def _frac(a: float, b: int) -> float:
    return round(a / b, 4) if b else 0.0


def _report(t: _Tally, n: int) -> dict[str, Any]:
    ms = sorted(t.ms)
    return {
        "questions": n,
        "retrieval": {"evaluated": t.retrieval_n, **{f"hits@{k}": _frac(v, t.retrieval_n) for k, v in t.hits.items()},
                      "mrr@10": _frac(t.rr, t.retrieval_n)},
        "answer": {"evaluated": t.answer_n, "contains": _frac(t.contains, t.answer_n),
                   "lead_contains": _frac(t.lead, t.answer_n), "cited_contains": _frac(t.cited, t.answer_n),
                   "short_em": _frac(t.short_em, t.answer_n), "short_f1": _frac(t.short_f1, t.answer_n)},
        "citations": {"precision": _frac(t.good_citations, t.citations), "count": t.citations},
        "abstention": {"unanswerable": t.unanswerable, "recall": _frac(t.abstained_right, t.unanswerable),
                       "false_abstention_rate": _frac(t.abstained_wrong, t.answerable)},
        "choices": {"evaluated": t.choice_n, "accuracy": _frac(t.choice_right, t.choice_n)},
        "latency_ms": {"p50": round(statistics.median(ms), 2) if ms else 0.0,
                       "p95": round(ms[max(0, math.ceil(0.95 * len(ms)) - 1)], 2) if ms else 0.0},
        "per_question": t.rows,
    }


def report_table(report: dict[str, Any]) -> str:
    """The metrics as a readable table."""
    r = report
    rows = [
        ("questions", f"{r['questions']}"),
        (f"retrieval ({r['retrieval']['evaluated']} with gold articles)",
         "hits@1 {hits@1:.3f}  hits@5 {hits@5:.3f}  hits@10 {hits@10:.3f}  mrr@10 {mrr@10:.3f}".format(**r["retrieval"])),
        (f"answers ({r['answer']['evaluated']} with answer strings)",
         "contains {contains:.3f}  lead_contains {lead_contains:.3f}  cited_contains {cited_contains:.3f}".format(**r["answer"])),
        ("short answers", "exact match {short_em:.3f}  F1 {short_f1:.3f}".format(**r["answer"])),
        ("citations", f"precision {r['citations']['precision']:.3f} ({r['citations']['count']} citations)"),
        (f"abstention ({r['abstention']['unanswerable']} unanswerable)",
         f"recall {r['abstention']['recall']:.3f}  false abstention rate {r['abstention']['false_abstention_rate']:.3f}"),
        (f"choices ({r['choices']['evaluated']})", f"accuracy {r['choices']['accuracy']:.3f}"),
        ("latency (one ask)", f"p50 {r['latency_ms']['p50']:.1f} ms  p95 {r['latency_ms']['p95']:.1f} ms"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


_COMPARED = [
    ("hits@5", "retrieval", "hits@5"), ("contains", "answer", "contains"), ("lead_contains", "answer", "lead_contains"),
    ("cited_contains", "answer", "cited_contains"), ("short exact match", "answer", "short_em"),
    ("short F1", "answer", "short_f1"), ("citation precision", "citations", "precision"),
    ("abstention recall", "abstention", "recall"), ("false abstention rate", "abstention", "false_abstention_rate"),
    ("choice accuracy", "choices", "accuracy"), ("latency p50 ms", "latency_ms", "p50"),
    ("latency p95 ms", "latency_ms", "p95"),
]


def compare_table(reports: dict[str, dict[str, Any]]) -> str:
    """The headline metrics of several reports of one question set side by side, one column a report (named by
    the keys of ``reports``, in order): the reader against the rules alone, on the same retrieval."""
    names = list(reports)
    width = max(len(label) for label, _, _ in _COMPARED)
    cols = [max(len(n), 8) for n in names]
    lines = [f"{'':<{width}}  " + "  ".join(f"{n:>{c}}" for n, c in zip(names, cols, strict=True))]
    for label, group, key in _COMPARED:
        values = [reports[n][group][key] for n in names]
        shown = [f"{v:.1f}" if group == "latency_ms" else f"{v:.3f}" for v in values]
        lines.append(f"{label:<{width}}  " + "  ".join(f"{v:>{c}}" for v, c in zip(shown, cols, strict=True)))
    return "\n".join(lines)


def failures(report: dict[str, Any], limit: int = 20) -> list[dict[str, Any]]:
    """Questions answered wrongly: no answer string in the prose, a wrong choice, the gold article missed from
    the top 5, or an answer given where the articles cannot answer."""
    bad = [r for r in report["per_question"]
           if r.get("contains") is False or r.get("choice_right") is False
           or ("gold_rank" in r and (r["gold_rank"] or 99) > 5)
           or (r.get("answerable") is False and not r["abstained"])]
    return bad[:limit]


def failure_text(rows: list[dict[str, Any]]) -> str:
    out = []
    for r in rows:
        expected = ' | '.join(r['expected']) or ('(unanswerable)' if r.get('answerable') is False else '-')
        out.append(f"- {r['id']}: {r['question']}\n    expected: {expected}"
                   f"   gold rank: {r.get('gold_rank', '-')}   choice: {r.get('choice')}\n    got: {r['answer'][:300]}\n"
                   f"    retrieved: {' | '.join(t[:60] for t in r['retrieved_titles'])}")
        if r.get("choice_right") is False and r.get("choice_answer"):
            out[-1] += f"\n    chose: {r['choice_answer'][:300]}"
    return "\n".join(out)
