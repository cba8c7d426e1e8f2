"""Article -> Passages: sentence-aware, about ``target_words`` long, one sentence of overlap, offsets kept."""

from __future__ import annotations

import re
from functools import lru_cache

from rag.config import ChunkSettings
from rag.types import Article, Passage

_PARAGRAPH = re.compile(r"\n\s*\n")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of the sentences of ``text``; paragraphs never share a sentence."""
    return list(_sentence_spans(text))


@lru_cache(maxsize=8192)
def _sentence_spans(text: str) -> tuple[tuple[int, int], ...]:
    # Cached: the composer splits the same retrieved passages question after question.
    spans: list[tuple[int, int]] = []
    pos = 0
    for para in _PARAGRAPH.split(text):
        start = text.index(para, pos) if para else pos
        pos = start + len(para)
        if para.strip():
            spans.extend(_para_spans(para, start))
    return tuple(spans)


def _para_spans(para: str, base: int) -> list[tuple[int, int]]:
    """Sentences found back in ``para`` by string search (blingfire's offsets come from a slow pure-Python
    tokenizer, 1.8x the time); when a sentence was rewritten (a line break inside it), the offsets are used."""
    import blingfire

    spans = []
    pos = 0
    for sentence in blingfire.text_to_sentences(para).split("\n"):
        at = para.find(sentence, pos) if sentence else -1
        if at < 0:
            _, offsets = blingfire.text_to_sentences_and_offsets(para)
            return _fix_offsets(para, base, offsets)
        spans.append((base + at, base + at + len(sentence)))
        pos = at + len(sentence)
    return spans


def _fix_offsets(para: str, base: int, offsets: list[tuple[int, int]]) -> list[tuple[int, int]]:
    # blingfire counts UTF-8 bytes in some builds; map back to characters when the text is not ASCII.
    if para.isascii() or not offsets or offsets[-1][1] <= len(para):
        return [(base + s, base + e) for s, e in offsets if e > s]
    raw = para.encode("utf-8")
    return [(base + len(raw[:s].decode("utf-8", "ignore")), base + len(raw[:e].decode("utf-8", "ignore")))
            for s, e in offsets if e > s]


def split_sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]


def chunk_article(article: Article, settings: ChunkSettings | None = None) -> list[Passage]:
    """Passages in article order; ``passage.text == article.text[passage.start:passage.end]``.

    Sentences are packed until ``target_words``; a passage never passes ``max_words`` unless one sentence
    does; the last sentence of a passage starts the next one.
    """
    settings = settings or ChunkSettings()
    spans = _split_long(article.text, sentence_spans(article.text), settings.max_words)
    counts = [len(article.text[s:e].split()) for s, e in spans]
    passages: list[Passage] = []
    first = 0
    while first < len(spans):
        last, words = first, counts[first]
        while last + 1 < len(spans) and words + counts[last + 1] <= settings.max_words and words < settings.target_words:
            last += 1
            words += counts[last]
        start, end = spans[first][0], spans[last][1]
        passages.append(Passage(article.article_id, len(passages), start, end, article.text[start:end]))
        if last + 1 >= len(spans):
            break
        first = max(last + 1 - settings.overlap_sentences, first + 1)
    return passages


def _split_long(text: str, spans: list[tuple[int, int]], max_words: int) -> list[tuple[int, int]]:
    """Cut sentences longer than ``max_words`` (lists, tables, run-on text) at word boundaries."""
    out: list[tuple[int, int]] = []
    for s, e in spans:
        words = list(re.finditer(r"\S+", text[s:e]))
        if len(words) <= max_words:
            out.append((s, e))
            continue
        for i in range(0, len(words), max_words):
            piece = words[i : i + max_words]
            out.append((s + piece[0].start(), s + piece[-1].end()))
    return out
