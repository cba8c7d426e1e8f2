"""The trained reader at inference: the int8 ONNX export run by onnxruntime, the tokenizer from ``tokenizers``
(no torch), the calibration stored in the model directory's config.json."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.errors import RagError
from rag.reader.base import Reading, SentenceInput
from rag.reader.calibration import Platt
from rag.reader.features import Encoder, best_span, whole_words
from rag.text import content_terms, normalize_answer, stems

log = logging.getLogger(__name__)

MAX_SPAN_TOKENS = 12


@dataclass(frozen=True)
class RawScores:
    """The network's outputs for one question's sentences (rows in the order given)."""

    relevance: np.ndarray  # [rows] logits
    start: np.ndarray  # [rows, length]
    end: np.ndarray  # [rows, length]
    offsets: list[list[tuple[int, int]]]


class TrainedReader:
    """A reader model directory: ``config.json`` (heads, calibration, threshold), ``model.onnx``,
    ``tokenizer.json``."""

    def __init__(self, directory: Path, config: dict, threads: int = 2) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise RagError("the reader needs onnxruntime: pip install onnxruntime") from exc
        self.directory = directory
        self.config = config
        self.name = str(config.get("name", directory.name))
        self.threshold = float(config.get("threshold", 0.5))
        self.span_threshold = float(config["span_threshold"]) if config.get("span_threshold") is not None else None
        self.calibration = Platt.from_config(config.get("calibration", {}))
        self.encoder = Encoder(directory / "tokenizer.json", int(config.get("max_length", 96)))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(directory / "model.onnx"), options,
                                             providers=["CPUExecutionProvider"])

    @classmethod
    def load(cls, directory: str | Path, threads: int = 2) -> TrainedReader:
        where = Path(directory)
        try:
            config = json.loads((where / "config.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise RagError(f"{where / 'config.json'}: not a reader config ({exc})") from exc
        for needed in ("model.onnx", "tokenizer.json"):
            if not (where / needed).exists():
                raise RagError(f"reader model in {where} lacks {needed}; retrain with `newsrag train-reader`")
        return cls(where, config, threads)

    def raw(self, question: str, sentences: Sequence[SentenceInput]) -> RawScores:
        """The uncalibrated outputs, one batch for all ``sentences``."""
        b = self.encoder.encode(question, sentences)
        relevance, start, end = self._session.run(None, {"input_ids": b.input_ids, "attention_mask": b.attention_mask,
                                                         "token_type_ids": b.token_type_ids, "overlap": b.overlap})
        return RawScores(relevance, start, end, b.offsets)

    def read(self, question: str, sentences: Sequence[SentenceInput]) -> list[Reading]:
        """One Reading per sentence, in the order given: calibrated probability and the marked answer span (never
        one that only repeats the question's words while another of its best spans does not: ``_repeats``)."""
        if not sentences:
            return []
        raw = self.raw(question, sentences)
        probs = self.calibration.probability(raw.relevance)
        asked = stems(question)
        out = []
        for i, (p, sentence) in enumerate(zip(probs, sentences, strict=True)):
            found = best_span(raw.start[i], raw.end[i], raw.offsets[i], MAX_SPAN_TOKENS,
                              lambda span, text=sentence.text: not _repeats(asked, text[span[0] : span[1]]))
            out.append(Reading(float(p), whole_words(sentence.text, found[0]) if found else None,
                               found[1] if found else None))
        return out

    def choose(self, question: str, options: Sequence[str], sentences: Sequence[SentenceInput]) -> list[float]:
        """One probability per option, in the order given: each option's evidence is the best reader probability
        of a sentence that states it (whole, or the share of its words), doubled where the reader's span in that
        sentence is the option; normalized over the options (uniform when no sentence states any)."""
        if not options:
            return []
        readings = self.read(question, sentences) if sentences else []
        evidence = np.zeros(len(options))
        for k, option in enumerate(options):
            for s, r in zip(sentences, readings, strict=True):
                match = _stated(option, s.text)
                if match and r.span and _stated(option, s.text[r.span[0]:r.span[1]]) >= 0.5:
                    match *= 2.0
                evidence[k] = max(evidence[k], r.score * match)
        prior = 0.01
        return [float(x) for x in (evidence + prior) / (evidence.sum() + prior * len(options))]


def _repeats(asked: frozenset[str], phrase: str) -> bool:
    """Whether every content word of ``phrase`` is one of the question's (``asked``: their stems): a span that names
    what the question is about ("The Testaments" for "“The Testaments” is a sequel to which show?") is not its
    answer. The reader then marks the best of its next spans that is not such (best_span's ``allowed``): short F1
    on the tuning sets, hand-written demo 0.597 -> 0.609, held-out weeks 0.284 -> 0.287; reported, RealTimeQA dev
    0.341 -> 0.345, the held-out demo set unchanged."""
    words = stems(phrase)
    return bool(words) and words <= asked


def _stated(option: str, text: str) -> float:
    """1 when ``text`` holds the option whole (SQuAD-normalized, on word boundaries), else the share of the
    option's content words it holds, halved."""
    norm_opt = normalize_answer(option)
    if norm_opt and f" {norm_opt} " in f" {normalize_answer(text)} ":
        return 1.0
    words = content_terms(option)
    if not words:
        return 0.0
    held = {w for w in content_terms(text)}
    return 0.5 * sum(w in held for w in words) / len(words)
