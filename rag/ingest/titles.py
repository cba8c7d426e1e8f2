"""Headlines made from web addresses, cased again from the article's own text.

Some sources give a headline built from the page's address: "Idaho patriot front arrests pride what we know" for
.../idaho-patriot-front-arrests-pride-what-we-know/ (317 of RealTimeQA dev's 2,113 headlines are in such sentence
case, most of them CNN's). The names have lost their capitals, so the app shows them so, and a short answer read from
the headline cannot tell a name from a word. The article writes its names as they are: a headline word is given the
casing its article uses most for it, away from the start of a sentence ("Patriot Front", "Pride", "FDA").
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter

from rag.text import STOPWORDS
from rag.types import Article

_WORD = re.compile(r"[^\W\d_][\w'’]*")
# Where a sentence starts, a word is capitalized whatever it is: its casing there says nothing.
_SENTENCE_START = re.compile(r"(?:^|[.!?:;]['\"”’)]*\s+|[\"“(]\s*|\n\s*)$")
_LOOK_BACK = 4
MAX_RUN = 3


def looks_lowercased(title: str) -> bool:
    """Whether ``title`` is a headline of two or more words whose words after the first all start in lower case:
    what a web address's words give back ("Squid game season 2"). A headline written in sentence case by its
    newsroom names something in capitals ("Yellowstone flooding, damage closes national park") unless it names
    nothing, and then casing it again changes nothing."""
    words = _WORD.findall(title)
    return len(words) >= 2 and all(w[0].islower() for w in words[1:])


def with_cased_title(article: Article) -> Article:
    """``article`` with its headline cased by :func:`recase_title`."""
    title = recase_title(article.title, article.text)
    return article if title == article.title else dataclasses.replace(article, title=title)


def recase_title(title: str, text: str) -> str:
    """``title`` with its words cased as ``text`` (its article) writes them most often away from a sentence's start,
    when :func:`looks_lowercased`: runs of up to MAX_RUN words first, so that a name is cased whole ("Yellowstone
    National Park", where the article's "the park" outnumbers its "Park"), then single words. The first word changes
    only where the article writes it with a capital inside ("FDA", "iPhone"; "Squid" stays). Any other title comes
    back as it is."""
    if not looks_lowercased(title):
        return title
    words = list(_WORD.finditer(title))
    cased = [m[0] for m in words]
    done = [False] * len(words)
    for n in range(MAX_RUN, 0, -1):
        for i in range(len(words) - n + 1):
            if any(done[i : i + n]) or n > 1 and not _adjacent(title, words[i : i + n]):
                continue
            form = _usual_form(text, cased[i : i + n])
            if form is None:
                continue
            if i == 0 and not any(ch.isupper() for ch in form[0][1:]):  # the first word keeps its capital alone
                if n == 1:
                    continue
                form = [cased[0], *form[1:]]
            cased[i : i + n] = form
            done[i : i + n] = [True] * n
    out, at = [], 0
    for m, word in zip(words, cased, strict=True):
        out += [title[at : m.start()], word]
        at = m.end()
    return "".join([*out, title[at:]])


def _adjacent(title: str, run: list[re.Match[str]]) -> bool:
    """Whether the words of ``run`` follow one another in ``title`` with only spaces or hyphens between them."""
    return all(re.fullmatch(r"[\s-]+", title[a.end() : b.start()]) for a, b in zip(run, run[1:], strict=False))


def _usual_form(text: str, words: list[str]) -> list[str] | None:
    """How ``text`` most often writes the run ``words`` (any casing, spaces or hyphens between), away from a
    sentence's start, as a list of words; None when that is how they are written already, or when the article
    writes them so no more often than as given. A single word needs twice as many, and its capitals count only
    outside a longer name: "front" does not become "Front" for "Patriot Front", nor "food" "Food" for a "Food Price
    Outlook"."""
    pattern = re.compile(r"(?<![\w'’])" + r"[\s-]+".join(re.escape(w) for w in words) + r"(?![\w'’])", re.I)
    seen: Counter[tuple[str, ...]] = Counter()
    for m in pattern.finditer(text):
        if _SENTENCE_START.search(text[max(0, m.start() - _LOOK_BACK) : m.start()]):
            continue
        if len(words) == 1 and m[0][:1].isupper() and _in_longer_name(text, m.start(), m.end()):
            continue
        seen[tuple(_WORD.findall(m[0]))] += 1
    if not seen:
        return None
    best, count = seen.most_common(1)[0]
    given = seen.get(tuple(words), 0)
    if list(best) == words or len(best) != len(words) or count <= given or len(words) == 1 and count < 2 * given:
        return None
    return list(best)


_NAME_BEFORE = re.compile(r"([A-Z][\w'’]*)[\s-]+$")
_NAME_AFTER = re.compile(r"[\s-]+([A-Z][\w'’]*)")


def _in_longer_name(text: str, start: int, end: int) -> bool:
    """Whether the capitalized word at ``text[start:end]`` is written beside another capitalized word that is not a
    function word ("Patriot Front", not "The FDA")."""
    before = _NAME_BEFORE.search(text[max(0, start - 30) : start])
    after = _NAME_AFTER.match(text, end)
    return any(m is not None and m[1].lower() not in STOPWORDS for m in (before, after))
