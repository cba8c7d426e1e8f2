"""Multiple-choice answers: the option the retrieved evidence supports best, cited by the sentence that names it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from rag import templates as T
from rag.compose.candidates import Candidate, score_candidates
from rag.compose.render import _Cited, _related, _sentence
from rag.question import QuestionInfo
from rag.text import SMALL_NUMBERS, content_terms, normalize_answer, stem, tokens
from rag.types import Answer, Hit

CHOICE_HITS = 10
SEMANTIC_HITS = 3  # passages whose sentences are compared with the options when none of them is named
# RealTimeQA, the 56 questions that get that far: 23 right from 24 sentences (540 ms), 24 from 12 (396 ms).
SEMANTIC_SENTENCES = 12
HEADLINE_OPTION = 0.5  # see _headline_support


def _option_candidates(info: QuestionInfo, hits: list[Hit], evidence: Sequence[Hit]) -> list[Candidate]:
    """Sentences of ``evidence`` (:func:`option_hits`: passages that name an option beside the question's terms)
    beyond the retrieved ones.

    Their rank is their article's rank among the retrieved stories, or just below them when not retrieved."""
    seen = {h.passage.passage_id for h in hits[:CHOICE_HITS]}
    rank_of = {h.article.group_id: i for i, h in enumerate(hits)}
    extra: list[Hit] = []
    for hit in evidence:
        if hit.passage.passage_id not in seen:
            seen.add(hit.passage.passage_id)
            extra.append(hit)
    if not extra:
        return []
    top = hits[0].score if hits else 1.0
    cands = score_candidates(info, [Hit(h.passage, h.article, top) for h in extra])
    for c in cands:
        c.rank = rank_of.get(c.hit.article.group_id, len(hits))
    return cands


def choice_variants(choice: str) -> set[str]:
    """Normalized ways an article may write an option: 'Nine years' ~ '9 years', '38%' ~ '38 percent',
    '£7m' ~ '£7 million'."""
    base = choice.strip()
    forms = {base, re.sub(r"^(the|a|an)\s+", "", base, flags=re.I)}
    for form in list(forms):  # _normal reads "38%" and "38 per cent" alike; spelled out, "eight per cent" is not
        forms.add(re.sub(r"(\d)\s*%", r"\1 per cent", form))
        forms.add(re.sub(r"(\d)\s*m\b", r"\1 million", form))
        forms.add(re.sub(r"(\d)\s*bn\b", r"\1 billion", form))
    for form in list(forms):
        for i, word in enumerate(SMALL_NUMBERS):
            forms.add(re.sub(rf"\b{word}\b", str(i), form, flags=re.I))
            forms.add(re.sub(rf"(?<![$£€.,])\b{i}\b(?![.,]\d)", word, form))  # not in "$5" or "8.5"
    forms = {f.replace("%", " percent") for f in forms}  # "eight%" is eight percent, not "eight months"
    return {f" {_normal(f)} " for f in forms if _normal(f)}


_NAME_HYPHEN = re.compile(r"\b([A-Z][a-z]+)-(?=[A-Z][a-z])")
_PERCENT = re.compile(r"(\d)\s*(?:%|per ?cent\b)", re.I)
_DECIMAL = re.compile(r"(\d)\.(\d)")
_CURRENCIES = {"$": "usd", "£": "gbp", "€": "eur"}
_CURRENCY = re.compile(r"([$£€])\s?(?=\d)")


@lru_cache(maxsize=16384)
def _normal(text: str) -> str:
    """normalize_answer, with hyphens as spaces: "a 17-year-old" writes the option "17". A hyphen between two
    capitalized words joins one name ("Asia-Pacific" does not name "Asia"); a percentage stays one ("40%" is not
    the 40 of "40 years"), so do a decimal ("8.5%" is neither 8% nor 85%) and a sum ("$1 million" is not "1 million
    doses"). Cached: the same sentences come back question after question."""
    text = _DECIMAL.sub(r"\1point\2", _PERCENT.sub(r"\1 percent", _NAME_HYPHEN.sub(r"\1", text)))
    text = _CURRENCY.sub(lambda m: f" {_CURRENCIES[m[1]]} ", text)
    return normalize_answer(text.replace("-", " "))


def _option_matches(choice: str, variants: set[str], asked: set[str], cands: list[Candidate],
                    norms: list[str]) -> list[tuple[Candidate, float]]:
    """The candidates that name ``choice`` in one of its ``variants`` (1.0), or most of its informative words
    (0.35-0.7)."""
    terms = {stem(t) for t in content_terms(choice)} or {stem(t) for t in tokens(choice.lower())}
    informative = terms - asked or terms
    numeric = bool(_NUMERIC_OPTION.match(choice.strip()))
    out = []
    for c, norm in zip(cands, norms, strict=True):
        if any(v in norm for v in variants):
            out.append((c, _near_question(norm, variants, asked) if numeric else 1.0))
            continue
        share = len(informative & c.stems) / len(informative) if len(informative) > 1 else 0.0
        if share >= 0.5:
            out.append((c, 0.7 * share))
    return out


_NUMERIC_OPTION = re.compile(rf"[$£€]?\d|({'|'.join(SMALL_NUMBERS[1:13])})\b", re.I)
NUMBER_WINDOW = 8
GUESS_SUPPORT = 0.2
MIN_OPTION_SUPPORT = 0.0  # an option's sentence must hold some of the question's own words (RealTimeQA: -0.003)


def _near_question(norm: str, variants: set[str], asked: set[str]) -> float:
    """How strongly a sentence ties a number to the question: 0.5 plus the share of the question's terms within
    NUMBER_WINDOW words of where the sentence writes it ("raised £1m in 24 hours, and has gone on to raise more
    than £7m for research" names both sums; the research is next to one). RealTimeQA choices: 0.693 -> 0.702
    (windows of 6 / 8 / 10 / 12 words: 0.696 / 0.702 / 0.702 / 0.699)."""
    words = norm.split()
    best = 0.0
    for variant in variants:
        v = variant.split()
        for i in range(len(words) - len(v) + 1):
            if words[i : i + len(v)] == v:
                near = words[max(0, i - NUMBER_WINDOW) : i] + words[i + len(v) : i + len(v) + NUMBER_WINDOW]
                best = max(best, len({stem(w) for w in near} & asked) / max(1, len(asked)))
    return 0.5 + best


def _options_named(choices: Sequence[str], hits: Sequence[Hit]) -> bool:
    """Whether any option, in any of its written forms, occurs in the headlines or passages of ``hits``."""
    text = " " + " ".join(_normal(f"{h.article.title} {h.passage.text}") for h in hits) + " "
    return any(form in text for choice in choices for form in choice_variants(choice))


def _closest_in_meaning(embedder, info: QuestionInfo, cands: list[Candidate]) -> tuple[str, Candidate] | None:  # noqa: ANN001
    """When the retrieved articles name no option ("Ban on military-style assault weapons" against a report of
    what the bill leaves out), the option closest in meaning to a sentence that is itself close to the question:
    max over sentences of cos(option, sentence) x cos(question, sentence). Measured on the RealTimeQA questions
    whose top 10 passages name no option: 0.40 right against 0.28 by lexical evidence alone. It cannot tell
    when no option is right (it picked as often with the right option taken away), so the answer says that the
    articles name none of the options and that this is the closest in meaning."""
    ranked = sorted({(c.hit.passage.passage_id, c.start): c for c in cands}.values(), key=lambda c: -c.score)
    unique = ranked[:SEMANTIC_SENTENCES]
    if not unique:
        return None
    vecs = embedder.embed([info.text, *info.choices, *(c.text for c in unique)])
    question, options, sentences = vecs[0], vecs[1 : 1 + len(info.choices)], vecs[1 + len(info.choices) :]
    relevance = (sentences @ question).clip(min=0.0)
    fit = (options @ sentences.T) * relevance  # [option, sentence]
    best_option, best_sentence = divmod(int(fit.argmax()), len(unique))
    if fit[best_option, best_sentence] <= 0:
        return None
    return info.choices[best_option], unique[best_sentence]


def _headline_support(forms: set[str], headlines: list[str]) -> float:
    """An option (``forms``: its choice_variants) named in a retrieved story's headline is what that story is
    about: HEADLINE_OPTION for the first story, less for lower ones."""
    return max((HEADLINE_OPTION / (1 + 0.3 * rank) for rank, headline in enumerate(headlines)
                if any(form in headline for form in forms)), default=0.0)


def _choice_answer(info: QuestionInfo, cands: list[Candidate], hits: list[Hit], base: dict,
                   embedder=None) -> Answer:  # noqa: ANN001
    """Pick the option the evidence supports best and cite the sentence that names it.

    An option is supported by a sentence that names it (exactly, or most of its informative words), weighted
    by how well the sentence matches the question's terms and how high its passage ranks, and by a retrieved
    headline that names it. Measured on RealTimeQA: 0.687 right; weighting the sentences by their meaning as
    well (embedding them, about 0.3 s a question here) made it 0.687 too, without the headlines 0.680."""
    # Options that describe ("Ban on military-style assault weapons") are paraphrased by the articles; options
    # that name (a person, a place, a number) would be named if they were the answer, so meaning alone does not
    # choose between them (measured: 0.48 right against 0.31 for naming options, chance 0.25).
    descriptive = all(len(content_terms(c)) >= 2 for c in info.choices)
    named = _options_named(info.choices, hits[:CHOICE_HITS])
    if embedder is not None and descriptive and not info.excluding and not named:
        closest = _closest_in_meaning(embedder, info, [c for c in cands if c.rank < SEMANTIC_HITS])
        if closest is not None:
            choice, sentence = closest
            cited = _Cited()
            evidence = _sentence(sentence, info, cited, lead=True)
            text = T.CLOSEST_CHOICE.format(choice=choice.rstrip("."), evidence=evidence)
            return Answer(text=text, citations=tuple(cited.citations), sources=tuple(cited.sources), choice=choice,
                          **base)
    if info.excluding:
        return _excluded_choice(info, cands, hits, base)
    scored = _option_scores(info, cands, hits)
    scored.sort(key=lambda s: -s[0])
    top_score, choice, evidence = scored[0]
    if top_score <= 0 or evidence is None:
        return Answer(text=T.NO_CHOICE.format(options=T.options(info.choices)), abstained=True,
                      related=_related(hits), **base)
    # An option named only outside the retrieved stories, by a sentence with little of the question in it, is a
    # guess, and the answer says so (RealTimeQA: 25 such picks, 7 right, about chance).
    template = T.GUESSED_CHOICE if not named and evidence.support < GUESS_SUPPORT else T.CHOICE
    cited = _Cited()
    text = template.format(choice=choice.rstrip("."), evidence=_sentence(evidence, info, cited, lead=True))
    return Answer(text=text, citations=tuple(cited.citations), sources=tuple(cited.sources), choice=choice, **base)


def _option_scores(info: QuestionInfo, cands: list[Candidate], hits: list[Hit],
                   headlines: bool = True) -> list[tuple[float, str, Candidate | None]]:
    """``(support, option, best sentence naming it)`` for each option, in the order offered."""
    asked = set(info.stems)
    norms = [f" {_normal(c.text)} " for c in cands]
    titles = [f" {_normal(h.article.title)} " for h in hits[:CHOICE_HITS]] if headlines else []
    scored: list[tuple[float, str, Candidate | None]] = []
    for choice in info.choices:
        best_c, total, best_ev = None, 0.0, 0.0
        forms = choice_variants(choice)
        for c, match in _option_matches(choice, forms, asked, cands, norms):
            if c.support <= MIN_OPTION_SUPPORT:
                continue  # names the option, and nothing the question asks about
            evidence = match * (0.2 + c.support) / (1 + 0.3 * c.rank)
            total += evidence
            if evidence > best_ev:
                best_c, best_ev = c, evidence
        scored.append((best_ev + 0.3 * total + _headline_support(forms, titles), choice, best_c))
    return scored


def _excluded_choice(info: QuestionInfo, cands: list[Candidate], hits: list[Hit], base: dict) -> Answer:
    """"In all of these movies except:": the option the retrieved articles do not name while they name the others,
    cited by the sentences that name the others. When several are unnamed the articles do not say which one is the
    exception, and the answer says so; when all are named, the least supported is given, and said to be. Only
    articles that name something the question names count: a list of celebrities at a race names film titles too."""
    scored = _option_scores(info, [c for c in cands if c.on_topic], hits, headlines=False)
    named = sorted(((score, choice, c) for score, choice, c in scored if score > 0 and c is not None),
                   key=lambda s: -s[0])
    unnamed = [choice for score, choice, c in scored if score <= 0 or c is None]
    if not named:
        return Answer(text=T.NO_CHOICE.format(options=T.options([choice for _, choice, _ in scored])), abstained=True,
                      related=_related(hits), **base)
    if len(unnamed) > 1:
        cited = _Cited()
        markers = "".join(dict.fromkeys(cited.cite(c) for _, _, c in named))
        text = T.EXCEPT_UNDECIDED.format(named=T.listing([choice for _, choice, _ in named]), markers=markers,
                                         unnamed=T.options(unnamed))
        return Answer(text=text, citations=tuple(cited.citations), sources=tuple(cited.sources), abstained=True,
                      related=_related(hits), **base)
    template, choice = (T.EXCEPT_CHOICE, unnamed[0]) if unnamed else (T.EXCEPT_LEAST, named.pop()[1])
    cited = _Cited()
    markers = "".join(dict.fromkeys(cited.cite(c) for _, _, c in named))
    text = template.format(choice=choice.rstrip("."), others=T.listing([c for _, c, _ in named]), markers=markers)
    return Answer(text=text, citations=tuple(cited.citations), sources=tuple(cited.sources), choice=choice, **base)
