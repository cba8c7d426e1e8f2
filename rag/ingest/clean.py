"""Text clean-up shared by the readers: boilerplate, repeated paragraphs, control characters, ids."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from html.parser import HTMLParser

from rag.dates import MONTH_NAMES

# Lines that pages and blog templates add around an article; they never answer a question.
_BOILERPLATE = re.compile(
    r"^(no comments:?|\d+ comments?:?|post a comment|newer post|older post|home|share this( article)?:?|"
    r"share|tweet|email|print|advertisement|subscribe( now)?|sign up for .{0,60}newsletter.*|"
    r"read more:?|related:?|click here.*|follow us on .*|all rights reserved\.?|copyright .{0,80}|"
    r"image:? .{0,80}|photo:? .{0,80}|ad feedback|\d+\. how relevant is this ad to you\?|"
    r"video player was slow to load content.*)$",
    re.I,
)
# The credit that ends a photo caption ("Formica fusca, from file. Image: Mathias Krumbholz.", "Shimon Peres image:
# David Shankbone.").
_CAPTION = re.compile(r"(?<!\S)(?:[Ii]mage|[Pp]hoto|Photograph|Picture|Video|IMAGE|PHOTO)(?: credit)?:\s*"
                      r"(?:[^\s.:,;]+\s?){1,7}\.?\)?$")
_CAPTION_WORDS = 60
# A photo gallery's counter between its captions ("... in Altenahr, Germany. Hide Caption 1 of 38 Photos: ..."):
# each caption becomes a paragraph of its own, and the counter's numbers are not read as news.
_GALLERY = re.compile(r"\s*\bHide Caption \d+ of \d+(?: Photos?:)?\s*", re.I)
# A dateline: "Sunday, May 28, 2006" or "28 May 2006", alone or after the headline repeated above the body.
_MONTH = f"(?:{MONTH_NAMES})"
_WEEKDAY = r"(?:mon|tues|wednes|thurs|fri|satur|sun)day,?\s+"
_DAY = rf"(?:{_MONTH}\s+\d{{1,2}},?|\d{{1,2}}\s+{_MONTH})\s+\d{{4}}"
_DATE_TAIL = re.compile(rf"(?:^|[\s,–—-]+)(?:{_WEEKDAY})?{_DAY}\s*$", re.I)
# A dateline run into the body's first sentence ("Thursday, March 15, 2012 Wikinews interviewed ..."): the date is
# the article's published date, and as part of the sentence it would be quoted in every answer from it.
_DATE_HEAD = re.compile(rf"^{_WEEKDAY}{_DAY}\s+(?=[A-Z“\"])", re.I)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Lone surrogates (from JSON escapes such as "\ud800") cannot be encoded as UTF-8: SQLite and the tokenizers fail.
SURROGATE = re.compile("[\ud800-\udfff]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_NON_WORD = re.compile(r"\W+")
_BLOCKS = re.compile(r"\n\s*\n")


def normalize_for_hash(text: str) -> str:
    """Case-, space- and punctuation-insensitive form used for identity and duplicate checks."""
    text = unicodedata.normalize("NFKC", text).lower()
    return _NON_WORD.sub(" ", text).strip()


def text_hash(text: str) -> str:
    return hashlib.sha1(normalize_for_hash(text).encode("utf-8")).hexdigest()


def make_article_id(url: str, text: str) -> str:
    """Deterministic id: from the url when there is one, else from the normalized text."""
    basis = url.strip() or normalize_for_hash(text)
    return "a-" + hashlib.sha1(basis.encode("utf-8")).hexdigest()[:16]


def clean_line(text: object) -> str:
    """One line of metadata (title, source, author): control characters dropped, spaces collapsed."""
    return " ".join(_CONTROL.sub(" ", unicodedata.normalize("NFC", SURROGATE.sub("\ufffd", str(text)))).split())


def clean_text(text: str, title: str = "") -> str:
    """Paragraphs separated by blank lines, without boilerplate lines or paragraphs seen before.

    A paragraph that repeats the title or an earlier paragraph is dropped, so it never becomes a passage twice;
    so is a dateline (alone, after the headline repeated above the body, or run into the first sentence), and a
    photo caption loses its credit ("Image: Mathias Krumbholz.") or its gallery counter ("Hide Caption 2 of 38
    Photos:").
    """
    text = SURROGATE.sub("\ufffd", text).replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", text.replace("\u2028", "\n").replace("\u2029", "\n\n"))
    text = _GALLERY.sub("\n\n", _SPACES.sub(" ", _CONTROL.sub(" ", text)))
    seen = {_plain(title)} if title else set()
    kept: list[str] = []
    for block in _BLOCKS.split(text):
        lines = [line.strip() for line in block.split("\n")]
        lines = [line for line in lines if line and not _BOILERPLATE.match(line)]
        para = _DATE_HEAD.sub("", " ".join(lines))
        key = _plain(para)
        if not key or key in seen or _plain(_DATE_TAIL.sub("", para)) in seen | {""}:
            continue
        if len(para.split()) <= _CAPTION_WORDS and _CAPTION.search(para):
            para = _CAPTION.sub("", para).rstrip(" ,;:–—-")  # the caption says what is shown; its credit, who took it
            key = _plain(para)
            if not key or key in seen:
                continue
        seen.add(key)
        kept.append(para)
    return "\n\n".join(_drop_menus(kept))


def _plain(text: str) -> str:
    """normalize_for_hash without accents: a headline written "Licen" above a body that writes "Ličen"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return normalize_for_hash("".join(ch for ch in decomposed if not unicodedata.combining(ch)))


def _drop_menus(paragraphs: list[str], run: int = 8) -> list[str]:
    """Drop runs of ``run`` or more one-to-three-word lines: menus, state pickers, tag lists."""
    out: list[str] = []
    pending: list[str] = []
    for para in [*paragraphs, ""]:
        if para and len(para.split()) <= 3 and not para.endswith((".", "?", "!", "”", '"')):
            pending.append(para)
            continue
        if len(pending) < run:
            out.extend(pending)
        pending = []
        if para:
            out.append(para)
    return out


class _TextExtractor(HTMLParser):
    _BLOCK = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "blockquote", "section", "article"}
    _SKIP = {"script", "style", "noscript", "template", "svg", "head"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self._SKIP:
            self.skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self.skipping:
            self.skipping -= 1
        elif tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_to_text(fragment: str) -> str:
    """Plain text of an HTML fragment (feed summaries, pages trafilatura cannot read), paragraphs kept."""
    parser = _TextExtractor()
    parser.feed(fragment)
    parser.close()
    return "".join(parser.parts)
