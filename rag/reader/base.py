"""The reader's interface: what the composer asks of a reader and what it gets back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rag.errors import RagError

# The model directory that ships inside the package (config, weights, tokenizer, model card).
SHIPPED = Path(__file__).resolve().parent.parent / "models" / "reader"


@dataclass(frozen=True)
class SentenceInput:
    """One candidate sentence with what the reader may read beside it."""

    text: str
    title: str = ""
    published: str | None = None  # ISO date of its article


@dataclass(frozen=True)
class Reading:
    """What the reader makes of one candidate sentence for one question.

    ``score`` is a calibrated probability in [0, 1] that the sentence answers the question; ``span`` is the
    answer's [start, end) character offsets inside ``SentenceInput.text``, or None when the reader marks none;
    ``span_score`` how sure the reader is of that span (its start + end logit; None when it marks none)."""

    score: float
    span: tuple[int, int] | None = None
    span_score: float | None = None


class Reader(Protocol):
    name: str
    # Calibrated on held-out training weeks: a question whose best sentence scores below it is declined.
    threshold: float
    # A question whose answering sentence's span scores below it is declined (None: no such rule).
    span_threshold: float | None

    def read(self, question: str, sentences: Sequence[SentenceInput]) -> list[Reading]:
        """One Reading per sentence, in the order given."""
        ...

    def choose(self, question: str, options: Sequence[str], sentences: Sequence[SentenceInput]) -> list[float]:
        """One probability per option, in the order given, that the sentences state it as the answer."""
        ...


def load_reader(path: str | Path | None = None) -> Reader:
    """The trained reader in ``path`` (a model directory), or the one shipped with newsrag when None.

    Raises RagError naming the directory when it holds no reader."""
    where = Path(path) if path is not None else SHIPPED
    if not (where / "config.json").exists():
        raise RagError(f"no reader model in {where} (config.json missing); train one with `newsrag train-reader` "
                       "or turn the reader off with --no-reader")
    from rag.reader.model import TrainedReader

    return TrainedReader.load(where)
