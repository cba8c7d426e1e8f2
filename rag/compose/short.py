"""The short answer: the phrase of the chosen sentence that answers, as a news quiz would write it.

The reader's span when it marks one of the kind asked (a date holds a date, an amount a number, a person or place a
capitalized word: ``of_type``); otherwise the typed phrase of the sentence that the question does not already
name: a date for "when", an amount for "how many / how much", a person for "who", a place for "where", a name for
the rest. Relative dates are written out against the article's date ("April next year" -> "April 2020").
"""

from __future__ import annotations

import re
from functools import lru_cache

from rag.compose.names import _YEAR as YEAR
from rag.dates import MONTHS, WEEKDAYS, resolve_relative
from rag.question import QuestionInfo, entities
from rag.text import COUNT_WORDS, SCALES, STOPWORDS, country, normalize_answer, stem

# Capitalized, as dates are written: "may" is a verb, "May" a month.
_MONTH = "(?:" + "|".join(m.capitalize() for m in sorted(MONTHS, key=len, reverse=True)) + ")"
_WEEKDAY = "(?:" + "|".join(d.capitalize() for d in WEEKDAYS) + ")"
_YEAR = f"(?:{YEAR.pattern})"
# The date patterns from the most specific to the least: the first one the sentence holds gives the answer.
_DATES = [re.compile(p) for p in (
    rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}\.?,?\s+{_YEAR}\b",  # 14 December 2019
    rf"\b{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+{_YEAR}\b",  # December 14, 2019
    rf"\b{_MONTH}\.?,?\s+(?:of\s+)?(?:next|last|this|coming|past) year\b",  # April next year
    rf"\b{_MONTH}\.?,?\s+{_YEAR}\b",  # April 2020
    rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}\b|\b{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?\b(?![,.]?\d)",  # 14 December
    rf"\b{_MONTH}\b",
    rf"\b(?:in|since|until|by|from)\s+({_YEAR})\b|\b{_YEAR}\b",
    r"\b(?:next|last|this|coming|past) (?:year|month|week)\b|\b(?:yesterday|today|tomorrow|tonight)\b",
    rf"\b{_WEEKDAY}\b",
)]
_SCALE = rf"(?:{'|'.join(SCALES)}|m|bn|k)\b"
_NUMBER_WORD = f"(?:{'|'.join((*COUNT_WORDS, *(f'{w}s' for w in SCALES)))}|dozens?|a dozen|half)"
# An amount: a sum of money, a percentage, a number with its scale ("2.5 billion") or a number word; not the digits
# of a name ("S-400", "COVID-19").
_AMOUNT = re.compile(
    rf"(?<![\w\-.])(?:[$£€¥₹]\s?\d[\d,.]*\d?(?:\s*{_SCALE})?|\d[\d,.]*\d?(?:\s*(?:%|per ?cent\b|percent\b))?"
    rf"(?:\s*{_SCALE})?(?:\s*(?:dollars?|pounds?|euros?|yen|yuan|rupees?))?|\b{_NUMBER_WORD}\b(?:[\s-]+{_SCALE})?)"
    r"(?:-fold\b)?(?!\w|-\d)", re.I)
_PLACE_CUE = re.compile(r"\b(?:in|at|from|to|into|near|across|outside|inside|of)\s+(?:the\s+)?$", re.I)
_NOT_A_NAME = {*MONTHS, *WEEKDAYS, "mr", "mrs", "ms", "dr", "i"}
# Words that stand before a name and are not part of it ("Attorney Robert Sarvis", "Professor John Burrows").
_TITLES = {"attorney", "professor", "emeritus", "president", "vice", "prime", "minister", "secretary", "senator",
           "sen", "rep", "representative", "governor", "gov", "judge", "justice", "chief", "ambassador", "sir", "lord",
           "lady", "general", "gen", "captain", "capt", "coach", "director", "chairman", "chairwoman", "ceo", "mayor",
           "king", "queen", "prince", "princess", "pope", "father", "saint", "st", "assistant", "associate", "doctor",
           "dame", "officer", "commissioner", "spokesman", "spokeswoman", "leader", "founder", "co-founder", "star"}
_CONNECTOR = re.compile(r"\s+(?:and|of|for|on|de|the|&)\s+", re.I)
_TIME_UNIT = re.compile(r"\s*(?:-|\s)?(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?)\b", re.I)


def short_answer(info: QuestionInfo, sentence: str, published: str | None,
                 span: tuple[int, int] | None = None) -> str:
    """The short answer ``sentence`` gives to the question of ``info``: ``sentence[span]`` when a reader marked
    one of the kind asked (widened to the sentence's most specific date around it for "when"), else its typed
    phrase (see the module), else the span; relative dates written out against ``published``; "" when there is
    neither."""
    kind = asked_type(info)
    if span is not None and 0 <= span[0] < span[1] <= len(sentence):
        end = _name_end(sentence, span[1], joined=kind != "person") if kind in ("person", "place", "name") else span[1]
        phrase = sentence[span[0] : end]
    else:
        phrase = ""
    if not phrase or not of_type(kind, phrase):
        phrase = typed_phrase(info, sentence) or phrase
    elif kind == "date":
        # A date span inside a more specific date of the sentence ("April" of "April next year") is that date.
        typed = _date(info, sentence)
        phrase = typed if phrase in typed else phrase
    return resolve_relative(phrase.strip(" ,;:.\"'“”‘’()"), published)


# The rest of a capitalized name after a span that ends inside it: more capitalized words, joined by spaces ("John|
# Burrows", "Ross| Sea") or, in the name of a place or a thing, by "of" / "de" / "the" ("University| of Southern
# Indiana"; a person's "Smith| of The Hague" is not one name).
_NAME_WORD = r"[A-Z][\w'’.-]*"
_NAME_REST = re.compile(rf"(?:\s+{_NAME_WORD})+")
_NAME_REST_JOINED = re.compile(rf"(?:\s+(?:(?:of|de|the)\s+)?{_NAME_WORD})+")


def _name_end(sentence: str, end: int, joined: bool = True) -> int:
    """Where the capitalized name that ``sentence[:end]`` ends in ends (``joined``: through "of", "de", "the"): the
    reader's span head often stops after a name's first word ("John" of "John Burrows"; docs/reader.md, version 4).
    ``end`` when the span does not end in a capitalized word or nothing capitalized follows."""
    word = re.search(r"[\w'’.-]+$", sentence[:end])
    if word is None or not word[0][:1].isupper():
        return end
    rest = (_NAME_REST_JOINED if joined else _NAME_REST).match(sentence, end)
    return rest.end() if rest else end


def of_type(kind: str, phrase: str) -> bool:
    """Whether ``phrase`` can be an answer of the ``kind`` asked: a date holds a date, an amount a number, a person
    or a place a capitalized word; anything can be a name."""
    if kind == "date":
        return any(p.search(phrase) for p in _DATES)
    if kind == "amount":
        return bool(_AMOUNT.search(phrase))
    if kind in ("person", "place"):
        return any(w[:1].isupper() for w in phrase.split())
    return True


def typed_phrase(info: QuestionInfo, sentence: str) -> str:
    """The phrase of ``sentence`` of the kind ``info`` asks for that the question does not already name."""
    kind = asked_type(info)
    if kind == "date":
        return _date(info, sentence)
    if kind == "amount":
        return _amount(info, sentence)
    names = _new_names(info, sentence)
    if kind == "place":
        names = [(n, cue) for n, cue in names if not re.search(r"\d", n)]
        places = [n for n, _ in names if country(n.split()[-1].lower())] + [n for n, cue in names if cue]
        return places[0] if places else (names[0][0] if names else "")
    if kind == "person":
        people = [n for n, _ in names if len(n.split()) >= 2 and not any(w[0].isdigit() for w in n.split())]
        return people[0] if people else (names[0][0] if names else "")
    return names[0][0] if names else ""


_TYPE_CUES = [
    ("amount", re.compile(r"\b(?:what|which) (?:share|percentage|proportion|rate|number|amount|sum)\b|"
                          r"\bhow (?:old|long)\b", re.I)),
    ("place", re.compile(r"\b(?:what|which) (?:country|countries|city|cities|state|place|continent|nation|region|"
                         r"town|island|province|county|capital)\b", re.I)),
    ("person", re.compile(r"\b(?:what|which) (?:person|man|woman|actor|actress|singer|player|athlete|president|"
                          r"leader|politician|author|writer|rapper|star|celebrity|ceo|official)\b", re.I)),
]
_KINDS = {"when": "date", "how_many": "amount", "how_much": "amount", "who": "person", "where": "place"}


def asked_type(info: QuestionInfo) -> str:
    """What the short answer is: date, amount, person, place, or name (anything else: a named thing)."""
    for kind, cue in _TYPE_CUES:
        if cue.search(info.text):
            return kind
    return _KINDS.get(info.kind, "name")


def _named_in(info: QuestionInfo, phrase: str) -> bool:
    """Whether the question already names ``phrase``: each of its words is in the question, as written, by stem,
    by the country it names ("Turkish" for "Turkey's") or spelled the other side of the Atlantic ("Defense")."""
    words = normalize_answer(phrase).split()
    asked = _asked_words(info.text)
    return bool(words) and all(w in asked or _spellings(w) & asked for w in words)


@lru_cache(maxsize=1024)
def _asked_words(question: str) -> frozenset[str]:
    """The question's words in every spelling _named_in accepts; read once a question."""
    return frozenset(form for w in normalize_answer(question).split() for form in _spellings(w))


def _spellings(word: str) -> set[str]:
    forms = {word, stem(word), re.sub(r"ce$", "se", word), re.sub(r"se$", "ce", word)}
    place = country(word)
    return forms | ({place} if place else set())


def _date(info: QuestionInfo, sentence: str) -> str:
    for pattern in _DATES:
        for found in pattern.finditer(sentence):
            phrase = found[1] if found.lastindex and found[1] else found[0]
            if not _named_in(info, phrase):
                return phrase
    return ""


def _amount(info: QuestionInfo, sentence: str) -> str:
    """The amount of ``sentence`` that the question does not name, preferring one followed by the thing counted
    ("how many divisions" -> the number before "divisions"), a sum for a price, a percentage for a share, and one
    near the question's words; with its unit of time for "how long"."""
    asked = re.search(r"\bhow (?:many|much)\s+((?:\w+\s+){0,2}\w+)", info.text, re.I)
    counted = {stem(w.lower()) for w in asked[1].split() if w.lower() not in STOPWORDS} if asked else set()
    money = bool(_MONEY_QUESTION.search(info.text))
    share = bool(re.search(r"\b(?:percent|percentage|per cent|share|rate)\b", info.text, re.I))
    how_long = bool(re.search(r"\bhow long\b", info.text, re.I))
    best, best_score = "", float("-inf")
    for found in _AMOUNT.finditer(sentence):
        phrase = found[0].strip()
        if re.fullmatch(_YEAR, phrase) or _named_in(info, phrase) or re.search(rf"{_MONTH}\.?\s*$",
                                                                                sentence[: found.start()]):
            continue  # a year, or the day of a date, counts nothing
        after = [stem(w.lower()) for w in re.findall(r"[\w’']+", sentence[found.end() :])[:3]]
        score = (2.0 if counted & set(after) else 0.0) - 0.01 * _distance(info, sentence, found.start(), found.end())
        if money and re.search(r"[$£€¥₹]|dollar|pound|euro", phrase, re.I):
            score += 1.0
        if share and re.search(r"%|per ?cent", phrase, re.I):
            score += 1.0
        if score > best_score:
            unit = _TIME_UNIT.match(sentence, found.end()) if how_long else None
            best, best_score = phrase + (sentence[found.end() : unit.end()] if unit else ""), score
    return best


_MONEY_QUESTION = re.compile(r"\b(?:cost|costs|price|pay|paid|spend|spent|worth|fine|fined|fund|raise|raised|fetch|"
                             r"damages?|dollars?|pounds?|earnings|budget|salary|wage)\b", re.I)


def _distance(info: QuestionInfo, sentence: str, start: int, end: int) -> int:
    """How many characters lie between ``sentence[start:end]`` and the nearest word of the question in the
    sentence (the length of the sentence when it holds none)."""
    near = [min(abs(m.start() - end), abs(start - m.end())) for m in re.finditer(r"[\w’'-]+", sentence)
            if (m.end() <= start or m.start() >= end) and stem(m[0].lower()) in info.stems]
    return min(near, default=len(sentence))


def _new_names(info: QuestionInfo, sentence: str) -> list[tuple[str, bool]]:
    """``(name, after a place word)`` for the capitalized names of ``sentence`` that the question does not name,
    nearest the question's words first; a name joined to one the question names ("Russia and Turkey", "Troy
    Patterson of Slate Magazine") is its other part, titles and the question's words before a name are dropped
    ("Home Secretary Suella Braverman"), and a sentence-initial common word ("The", "We're") is no name."""
    head = re.search(r"\b(?:which|what)\s+(\w+)(?:\s+(\w+))?", info.text, re.I)
    heads = {stem(w.lower()) for w in (head.groups() if head else ()) if w and w.lower() not in STOPWORDS}
    out = []
    for order, name in enumerate(entities(sentence)):
        at = sentence.find(name)
        for part in _parts(info, name):
            words = part.split()
            if len(words) == 1 and (words[0].lower() in STOPWORDS or re.search(r"['’]|-[a-z]", words[0])):
                continue
            cue = bool(_PLACE_CUE.search(sentence[max(0, at - 12) : max(0, at)]))
            typed = not heads & {stem(w.lower()) for w in words}  # "Which museum": "... Space Museum" first
            out.append((typed, _distance(info, sentence, at, at + len(name)), order, part, cue))
    return [(part, cue) for *_, part, cue in sorted(out)]


def _parts(info: QuestionInfo, name: str) -> list[str]:
    """The parts of ``name`` that can answer: itself, or the parts the question does not name when it names one
    of them; without leading titles and words of the question."""
    pieces = [name]
    if any(_named_in(info, p) for p in _CONNECTOR.split(name)):
        pieces = [p for p in _CONNECTOR.split(name) if not _named_in(info, p)]
    out = []
    for piece in pieces:
        words = [w for w in piece.split() if w.lower().strip(".,") not in _NOT_A_NAME]
        while len(words) > 1 and (words[0].lower().strip(".,") in _TITLES or _named_in(info, words[0])):
            words = words[1:]
        if words and not _named_in(info, " ".join(words)) and not (len(words) == 1 and words[0][0].isdigit()):
            out.append(" ".join(words))
    return out
