"""Small text helpers shared by retrieval and composing: tokens, stopwords, SQuAD-style normalization."""

from __future__ import annotations

import re
import string
import unicodedata
from functools import lru_cache

STOPWORDS = frozenset(["a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any", "are", "aren't", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "did", "do", "does", "doing", "don't", "down", "during", "each", "either", "few", "for", "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "isn't", "it", "it's", "its", "itself", "just", "let's", "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or", "other", "ought", "our", "ours", "ourselves", "out", "over", "own", "same", "she", "should", "so", "some", "such", "than", "that", "that's", "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "very", "was", "wasn't", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "yourself", "yourselves", "according", "said", "says", "say", "told", "tell", "new", "news", "one", "two", "many", "much", "recently", "recent", "week", "weeks", "last", "year", "years", "month", "months", "day", "days", "time", "ago", "latest", "currently", "still", "since", "already", "may", "might", "must", "shall", "get", "got", "make", "made", "take", "took", "come", "came", "going", "go", "went", "include", "including", "per", "via", "than", "well", "even", "like"])
QUESTION_WORDS = frozenset(["what", "which", "who", "whom", "whose", "when", "where", "why", "how"])
# Numbers written as words: SMALL_NUMBERS[n] is n (0-20), then the tens and the scales. The composer's patterns for
# counts, durations, amounts and numeric options are built from these.
SMALL_NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                 "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty")
TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
SCALES = ("hundred", "thousand", "million", "billion", "trillion")
COUNT_WORDS = (*SMALL_NUMBERS[1:], *TENS[1:])  # one .. twenty, then thirty .. ninety
_TOKEN = re.compile(r"[\w][\w\-'’.]*[\w]|\w")


def tokens(text: str) -> list[str]:
    """Word tokens, keeping inner hyphens, apostrophes and dots ('S-400', 'U.S.', "Turkey's")."""
    return _TOKEN.findall(text)


def content_terms(text: str) -> list[str]:
    """Lower-cased tokens of ``text`` that carry meaning (no stopwords, no question words), in order, unique."""
    out: dict[str, None] = {}
    for tok in tokens(text):
        low = tok.lower().replace("’", "'")
        if low.endswith("'s"):
            low = low[:-2]
        if low in STOPWORDS or low in QUESTION_WORDS or len(low) < 2 and not low.isdigit():
            continue
        out[low] = None
    return list(out)


_SPELLING = ((re.compile(r"(?<=[a-z]{3})our(s|ed|ing)?$"), r"or\1"),   # colour -> color, labour -> labor
             (re.compile(r"(?<=[a-z]{2})is(e|ed|es|ing|ation)$"), r"iz\1"),  # organise -> organize
             (re.compile(r"^(def|off|lic|pret)ence"), r"\1ense"),          # defence -> defense
             (re.compile(r"(?<=[a-z]{3})tre(s)?$"), r"ter\1"))              # centre -> center
_SUFFIXES = (("uction", "uc"), ("uctions", "uc"), ("uced", "uc"), ("uces", "uc"), ("uce", "uc"), ("ations", ""),
             ("ation", ""), ("ings", ""), ("ing", ""), ("ies", "y"), ("ied", "y"), ("ed", ""), ("es", ""), ("s", ""),
             ("ly", ""))


# A country and what its people and things are called: an article that says "Greek" mentions Greece (see country).
_PLACES = {
    "afghanistan": "afghan", "america": "american", "argentina": "argentine argentinian", "armenia": "armenian",
    "australia": "australian", "austria": "austrian", "azerbaijan": "azerbaijani", "bangladesh": "bangladeshi",
    "belarus": "belarusian", "belgium": "belgian", "brazil": "brazilian", "britain": "british briton",
    "bulgaria": "bulgarian", "canada": "canadian", "chile": "chilean", "china": "chinese", "colombia": "colombian",
    "croatia": "croatian", "cuba": "cuban", "denmark": "danish dane", "egypt": "egyptian", "england": "english",
    "ethiopia": "ethiopian", "finland": "finnish finn", "france": "french", "germany": "german", "greece": "greek",
    "hungary": "hungarian", "india": "indian", "indonesia": "indonesian", "iran": "iranian", "iraq": "iraqi",
    "ireland": "irish", "israel": "israeli", "italy": "italian", "japan": "japanese", "kenya": "kenyan",
    "korea": "korean", "lebanon": "lebanese", "libya": "libyan", "mexico": "mexican", "netherlands": "dutch",
    "nigeria": "nigerian", "norway": "norwegian", "pakistan": "pakistani", "palestine": "palestinian",
    "peru": "peruvian", "philippines": "filipino philippine", "poland": "polish", "portugal": "portuguese",
    "romania": "romanian", "russia": "russian", "saudi": "saudi", "scotland": "scottish scot", "serbia": "serbian",
    "somalia": "somali", "spain": "spanish spaniard", "sudan": "sudanese", "sweden": "swedish swede",
    "switzerland": "swiss", "syria": "syrian", "taiwan": "taiwanese", "thailand": "thai", "turkey": "turkish turk",
    "ukraine": "ukrainian", "venezuela": "venezuelan", "vietnam": "vietnamese", "wales": "welsh", "yemen": "yemeni",
    "europe": "european", "africa": "african", "asia": "asian",
}
_PLACE_STEM = {word: country for country, people in _PLACES.items() for word in (country, *people.split())}


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light stemmer that also folds British spellings: enough to match 'installed' with 'installation',
    'production' with 'produce' and 'defence' with 'defense'."""
    word = word.lower()
    for pattern, repl in _SPELLING:
        word = pattern.sub(repl, word)
    for suffix, repl in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + repl
    return word


def stems(text: str) -> frozenset[str]:
    """The stems of ``text``'s content terms: what the composer and the reader compare a question with."""
    return frozenset(stem(t) for t in content_terms(text))


def country(word: str) -> str:
    """The country that ``word`` names or describes ('Greeks', 'Greek', 'Greece' -> 'greece'), else ""."""
    low = word.lower().replace("’", "'").removesuffix("'s")
    return _PLACE_STEM.get(low) or low.endswith("s") and _PLACE_STEM.get(low[:-1]) or ""


_UNPUNCTUATE = str.maketrans("", "", string.punctuation + "’‘“”")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """SQuAD normalization (lower case, no punctuation, no articles, single spaces), curly quotes too."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _ARTICLES.sub(" ", text.translate(_UNPUNCTUATE))
    return " ".join(text.split())


# A headline's trailing publisher: " - USA Today", " | CNN Business", " - The Week UK", " - CNN ..." (up to four words,
# each capitalized, a number or an ellipsis; "... - and how to stop them" keeps its end).
_PUBLISHER = re.compile(r"\s[-|–—]\s(?:(?:[A-Z0-9][^\s]*|\.\.\.|…)(?:\s+|$)){1,4}$")


def headline_news(title: str) -> str:
    """``title`` without its publisher's name (the reader would mark "USA Today" as readily as the news): a quarter
    of the held-out weeks' headlines end in one. The reader reads headlines so (``rag.compose.reading``)."""
    return _PUBLISHER.sub("", title).strip()
