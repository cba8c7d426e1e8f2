"""True-or-false questions: a claim is true when a retrieved sentence states it, else left undecided."""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag import templates as T
from rag.compose.abstain import ABSTAIN_BELOW
from rag.compose.candidates import CANDIDATE_HITS, score_candidates
from rag.compose.render import _Cited, _related, _sentence
from rag.question import analyze, strip_true_false, truth_value
from rag.types import Answer, Hit

# Lower case, or opening the sentence: "Lions Not Sheep" is a company's name.
_NEGATION = re.compile(r"\b(?:not|no|never|none|nobody|nothing|without)\b|n['’]t\b|^\W*(?:Not|No|Never|None)\b")
# A claim counts as reported when a retrieved sentence holds this share of its weighted terms (as for a name the
# question asks about; see ABSTAIN_BELOW). RealTimeQA's three "True or false" claims (all true) support 0.73,
# 0.83 and 0.40 in their best sentences.
CLAIM_SUPPORT = ABSTAIN_BELOW


def _claim_answer(choices: Sequence[str], search_text: str, hits: list[Hit], base: dict) -> Answer:
    """"True or false: ...": true when a retrieved sentence states the claim (it holds CLAIM_SUPPORT of the
    claim's weighted terms, and both or neither are negated). News reports what happened, rarely that something
    did not, so a claim they do not state is left undecided, not called false."""
    claim = strip_true_false(search_text)
    info = analyze(claim)
    best = max(score_candidates(info, hits[:CANDIDATE_HITS]), key=lambda c: c.score, default=None)
    stated = best is not None and best.support >= CLAIM_SUPPORT
    if not stated or bool(_NEGATION.search(claim)) != bool(_NEGATION.search(best.text)):
        return Answer(text=T.CLAIM_UNDECIDED + T.NOT_FOUND_RELATED, abstained=True, related=_related(hits), **base)
    true = next(c for c in choices if truth_value(c) == "true")
    cited = _Cited()
    text = T.CLAIM_TRUE.format(choice=true.strip(" ."), evidence=_sentence(best, info, cited, lead=True))
    return Answer(text=text, citations=tuple(cited.citations), sources=tuple(cited.sources), choice=true, **base)
