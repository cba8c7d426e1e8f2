"""What the reader's model reads: one (question, sentence) pair as token ids, the word-overlap feature, and the
token offsets that map a marked span back to the sentence's characters. Training and inference both encode here,
so the model is always asked exactly what it was taught on."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from rag.reader.base import SentenceInput
from rag.text import stems

MAX_LENGTH = 80  # tokens in all: a news sentence of ~30 words fits beside the question, its headline and date
MAX_QUESTION_TOKENS = 32
MAX_TITLE_WORDS = 8


@dataclass(frozen=True)
class Batch:
    """Arrays of one padded batch (rows = sentences, in the order given) and, per row, the character offset of each
    token inside its sentence ((-1, -1) for tokens outside the sentence: question, headline, date, specials)."""

    input_ids: np.ndarray  # int64 [rows, length]
    attention_mask: np.ndarray  # int64 [rows, length]
    token_type_ids: np.ndarray  # int64 [rows, length]
    overlap: np.ndarray  # float32 [rows]
    offsets: list[list[tuple[int, int]]]


def context_text(sentence: SentenceInput) -> tuple[str, int]:
    """The second segment, "headline | date | sentence", and where the sentence starts in it."""
    title = " ".join(sentence.title.split()[:MAX_TITLE_WORDS])
    prefix = f"{title} | {sentence.published or ''} | "
    return prefix + sentence.text, len(prefix)


# The same questions and sentences come back epoch after epoch in training and question after question in asking.
_stems = lru_cache(maxsize=16384)(stems)


def overlap(question: str, sentence: str) -> float:
    """The share of the question's content stems that the sentence holds (0 when the question has none)."""
    asked = _stems(question)
    return len(asked & _stems(sentence)) / len(asked) if asked else 0.0


class Encoder:
    """The model's tokenizer (``tokenizers``, no torch) with the reader's truncation: the sentence's segment is cut,
    never the question beyond MAX_QUESTION_TOKENS."""

    def __init__(self, tokenizer_file: str | Path, max_length: int = MAX_LENGTH) -> None:
        from tokenizers import Tokenizer

        self.max_length = max_length
        self._tok = Tokenizer.from_file(str(tokenizer_file))
        self._tok.no_padding()
        self._tok.no_truncation()
        self._cls = self._tok.token_to_id("[CLS]")
        self._sep = self._tok.token_to_id("[SEP]")
        self._pad = self._tok.token_to_id("[PAD]") or 0

    def encode(self, question: str, sentences: Sequence[SentenceInput]) -> Batch:
        q_ids = self._tok.encode(question, add_special_tokens=False).ids[:MAX_QUESTION_TOKENS]
        room = self.max_length - len(q_ids) - 3
        contexts = [context_text(s) for s in sentences]
        encoded = self._tok.encode_batch([c for c, _ in contexts], add_special_tokens=False)
        rows, types, offsets = [], [], []
        for (_, at), enc in zip(contexts, encoded, strict=True):
            ids = enc.ids[:room]
            rows.append([self._cls, *q_ids, self._sep, *ids, self._sep])
            types.append([0] * (len(q_ids) + 2) + [1] * (len(ids) + 1))
            own = [(s - at, e - at) if s >= at else (-1, -1) for s, e in enc.offsets[:room]]
            offsets.append([(-1, -1)] * (len(q_ids) + 2) + own + [(-1, -1)])
        width = max(len(r) for r in rows)
        input_ids = np.full((len(rows), width), self._pad, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        type_ids = np.zeros((len(rows), width), dtype=np.int64)
        for i, (r, t) in enumerate(zip(rows, types, strict=True)):
            input_ids[i, : len(r)] = r
            mask[i, : len(r)] = 1
            type_ids[i, : len(t)] = t
        feats = np.array([overlap(question, s.text) for s in sentences], dtype=np.float32)
        return Batch(input_ids, mask, type_ids, feats, offsets)


SPAN_CHOICES = 20  # the spans best_span weighs when it is told which to skip


def token_span(offsets: Sequence[tuple[int, int]], start: int, end: int) -> tuple[int, int] | None:
    """The first and last token whose characters lie in the sentence's [start, end), or None when truncation cut
    the span away."""
    inside = [i for i, (s, e) in enumerate(offsets) if s >= 0 and e > start and s < end]
    return (inside[0], inside[-1]) if inside else None


def best_span(start_logits: np.ndarray, end_logits: np.ndarray, offsets: Sequence[tuple[int, int]],
              max_tokens: int = 12, allowed: Callable[[tuple[int, int]], bool] | None = None,
              ) -> tuple[tuple[int, int], float] | None:
    """The best [start, end) character span of the sentence: the token pair start <= end, at most ``max_tokens``
    apart, both inside the sentence, with the highest start + end logit; with that sum. With ``allowed``, the best
    of the SPAN_CHOICES best spans that it allows (the best when it allows none). None when no token of the
    sentence survived truncation."""
    inside = np.array([s >= 0 for s, _ in offsets] + [False] * (len(start_logits) - len(offsets)))
    if not inside.any():
        return None
    neg = np.float32(-1e9)
    starts = np.where(inside, start_logits, neg)
    ends = np.where(inside, end_logits, neg)
    n = len(starts)
    pair = starts[:, None] + ends[None, :]
    i, j = np.indices((n, n))
    pair = np.where((j >= i) & (j - i < max_tokens), pair, neg)
    if allowed is None:
        s, e = np.unravel_index(int(np.argmax(pair)), pair.shape)
        return (offsets[s][0], offsets[e][1]), float(pair[s, e])
    # Best first, ties in reading order (as argmax breaks them); the first always exists (a token pairs with itself).
    best_first = (np.unravel_index(int(k), pair.shape)
                  for k in np.argsort(-pair, axis=None, kind="stable")[:SPAN_CHOICES])
    spans = [((offsets[s][0], offsets[e][1]), float(pair[s, e])) for s, e in best_first if pair[s, e] > neg / 2]
    return next((x for x in spans if allowed(x[0])), spans[0])


def whole_words(text: str, span: tuple[int, int]) -> tuple[int, int]:
    """``span`` widened to the whole words it cuts: the tokenizer splits "1,426" into "1", ",", "426" and "Phailin"
    into word pieces, and the span head may start or end inside them."""
    start, end = span

    def joins(i: int) -> bool:  # text[i] continues the word or number around it
        return text[i].isalnum() or (text[i] in ",." and 0 < i < len(text) - 1 and text[i - 1].isdigit()
                                     and text[i + 1].isdigit())

    while 0 < start < len(text) and joins(start) and joins(start - 1):
        start -= 1
    while 0 < end < len(text) and joins(end - 1) and joins(end):
        end += 1
    return start, end
