"""A BERT sentence encoder in plain NumPy: the forward pass of a sentence-transformers model made of a BERT
``Transformer``, mean ``Pooling`` and ``Normalize`` (all-MiniLM-L6-v2 is one), reading its ``model.safetensors``
and ``tokenizer.json`` directly.

It gives the float model's vectors (to float32 rounding) without importing torch, which takes seconds to load:
a question asked from the shell is embedded in about 15 ms after about 0.13 s of loading. Bulk work stays with
sentence-transformers, whose kernels are faster for large batches.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.errors import RagError

log = logging.getLogger(__name__)

_TRANSFORMER = "sentence_transformers.models.Transformer"
_POOLING = "sentence_transformers.models.Pooling"
_NORMALIZE = "sentence_transformers.models.Normalize"
# Abramowitz & Stegun 7.1.26: erf to 1.5e-7, below float32's resolution of the GELU input range here.
_ERF_P = 0.3275911
_ERF_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


@dataclass(frozen=True)
class BertShape:
    """What the forward pass needs from ``config.json`` and ``sentence_bert_config.json``."""

    layers: int
    hidden: int
    heads: int
    eps: float
    max_tokens: int
    normalize: bool
    lowercase: bool


def bert_shape(model_dir: str | Path) -> BertShape | None:
    """The shape of the sentence-transformers model in ``model_dir`` when this encoder can run it (a BERT with
    absolute positions and GELU, mean pooling alone, safetensors weights, a fast tokenizer), else None."""
    d = Path(model_dir)
    try:
        modules = [m.get("type") for m in json.loads((d / "modules.json").read_text(encoding="utf-8"))]
        config = json.loads((d / "config.json").read_text(encoding="utf-8"))
        pooling = json.loads((d / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
        sbert = json.loads((d / "sentence_bert_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, AttributeError):
        return None
    pools = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v]
    runnable = (modules[:2] == [_TRANSFORMER, _POOLING] and modules[2:] in ([], [_NORMALIZE])
                and config.get("model_type") == "bert" and config.get("hidden_act") == "gelu"
                and config.get("position_embedding_type", "absolute") == "absolute"
                and pools == ["pooling_mode_mean_tokens"]
                and (d / "model.safetensors").is_file() and (d / "tokenizer.json").is_file())
    if not runnable:
        return None
    max_tokens = min(int(sbert.get("max_seq_length") or 512), int(config["max_position_embeddings"]))
    return BertShape(int(config["num_hidden_layers"]), int(config["hidden_size"]),
                     int(config["num_attention_heads"]), float(config.get("layer_norm_eps", 1e-12)), max_tokens,
                     modules[2:] == [_NORMALIZE], bool(sbert.get("do_lower_case")))


class NumpyBertEncoder:
    """``encode(texts) -> float32 [n, hidden]``, rows in the order of ``texts``; built by ``load(model_dir)``."""

    def __init__(self, shape: BertShape, weights: dict[str, np.ndarray], tokenizer) -> None:  # noqa: ANN001
        self.shape = shape
        self.dim = shape.hidden
        self._w = weights
        self._tokenizer = tokenizer
        self._lock = threading.Lock()  # the tokenizer's truncation settings are shared state
        self._blas = _numpy_blas()

    @classmethod
    def load(cls, model_dir: str | Path) -> NumpyBertEncoder:
        """Read the weights and tokenizer of ``model_dir``; RagError when it is no model this encoder runs."""
        shape = bert_shape(model_dir)
        if shape is None:
            raise RagError(f"{model_dir} is not a BERT sentence-transformers model with mean pooling and "
                           "safetensors weights, which the NumPy encoder needs")
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as err:
            raise RagError("the NumPy encoder needs safetensors and tokenizers: pip install safetensors tokenizers") from err
        d = Path(model_dir)
        tokenizer = Tokenizer.from_file(str(d / "tokenizer.json"))
        tokenizer.enable_truncation(shape.max_tokens)
        tokenizer.no_padding()
        raw = load_file(str(d / "model.safetensors"))
        return cls(shape, _prepared(raw, shape), tokenizer)

    def encode(self, texts: Sequence[str], batch_size: int = 16) -> np.ndarray:
        """Mean-pooled (and, as the model says, L2-normalized) float32 vectors, one row per text, in order.

        Texts are cut at the model's ``max_seq_length`` word pieces, as sentence-transformers cuts them."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        with self._lock:
            encodings = self._tokenizer.encode_batch([self._prepared_text(t) for t in texts])
        for idx, ids, mask in padded_batches(encodings, batch_size):
            fmask = mask.astype(np.float32)
            with _one_thread(self._blas):
                out[idx] = self._pooled(self._forward(ids, fmask), fmask)
        return out

    def _prepared_text(self, text: str) -> str:
        """As sentence-transformers hands a text to the tokenizer: stripped, lower-cased if the model says so."""
        text = str(text).strip()
        return text.lower() if self.shape.lowercase else text

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The last hidden states, ``[batch, tokens, hidden]``."""
        w, s = self._w, self.shape
        x = w["word"][ids] + w["position"][: ids.shape[1]] + w["token_type"]
        x = _layer_norm(x, w["emb_ln_w"], w["emb_ln_b"], s.eps)
        # Padding is kept out of attention by a large negative score, as in transformers' extended mask.
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        for layer in w["layers"]:
            x = _layer_norm(x + _attention(x, layer, bias, s.heads), layer["attn_ln_w"], layer["attn_ln_b"], s.eps)
            h = _gelu(x @ layer["inter_w"] + layer["inter_b"])
            x = _layer_norm(x + h @ layer["out_w"] + layer["out_b"], layer["out_ln_w"], layer["out_ln_b"], s.eps)
        return x

    def _pooled(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        summed = np.einsum("bth,bt->bh", hidden, mask)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        if self.shape.normalize:
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return pooled



def padded_batches(encodings: Sequence, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(rows, ids, mask)`` per batch of ``tokenizers`` encodings, longest first so that little is padding:
    ``rows`` are the encodings' positions, ``ids`` and ``mask`` int64 arrays [len(rows), longest in the batch]."""
    order = np.argsort([-len(e.ids) for e in encodings], kind="stable")
    for lo in range(0, len(encodings), batch_size):
        idx = order[lo : lo + batch_size]
        width = len(encodings[idx[0]].ids)
        ids = np.zeros((len(idx), width), dtype=np.int64)
        mask = np.zeros((len(idx), width), dtype=np.int64)
        for row, i in enumerate(idx):
            n = len(encodings[i].ids)
            ids[row, :n] = encodings[i].ids
            mask[row, :n] = 1
        yield idx, ids, mask

def _numpy_blas() -> list:
    """threadpoolctl's handles on the BLAS libraries NumPy itself ships (not faiss's or torch's); empty when
    threadpoolctl is missing or NumPy links a system BLAS."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        log.debug("threadpoolctl is missing: the NumPy encoder runs with NumPy's default BLAS threads")
        return []
    # A prefix, not a folder: wheels keep the library in numpy.libs/ (Linux, Windows) or numpy/.dylibs/ (macOS).
    numpy_dir = os.path.dirname(os.path.realpath(np.__file__))
    return [lib for lib in ThreadpoolController().lib_controllers
            if lib.user_api == "blas" and os.path.realpath(lib.filepath).startswith(numpy_dir)]


_BLAS_LOCK = threading.Lock()
_blas_users = 0
_blas_saved: list[int] = []


@contextmanager
def _one_thread(libraries: list) -> Iterator[None]:
    """NumPy's BLAS on one thread inside the block. These matrices are small (a question is ~15 tokens), and
    OpenBLAS's threads spinning against other processes made a 3-text batch 7x slower under load here (283 ms
    against 42 ms; 16 passages 12.9 s against 2.8 s). The thread count is process-wide, so overlapping blocks
    (the app answers 4 questions at a time) share one setting: the first sets it, the last restores it."""
    global _blas_users, _blas_saved
    with _BLAS_LOCK:
        if _blas_users == 0:
            _blas_saved = [lib.num_threads for lib in libraries]
            for lib in libraries:
                lib.set_num_threads(1)
        _blas_users += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _blas_users -= 1
            if _blas_users == 0:
                for lib, n in zip(libraries, _blas_saved, strict=True):
                    lib.set_num_threads(n)


def _attention(x: np.ndarray, layer: dict[str, np.ndarray], bias: np.ndarray, heads: int) -> np.ndarray:
    b, t, h = x.shape
    qkv = (x @ layer["qkv_w"] + layer["qkv_b"]).reshape(b, t, 3, heads, h // heads).transpose(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    scores = q @ k.transpose(0, 1, 3, 2) * np.float32(1.0 / np.sqrt(h // heads)) + bias
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    context = (scores @ v).transpose(0, 2, 1, 3).reshape(b, t, h)
    return context @ layer["attn_out_w"] + layer["attn_out_b"]


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    centered = x - x.mean(axis=-1, keepdims=True)
    variance = np.mean(centered * centered, axis=-1, keepdims=True)
    return centered / np.sqrt(variance + np.float32(eps)) * weight + bias


def _gelu(x: np.ndarray) -> np.ndarray:
    """The exact (erf) GELU of BERT's ``hidden_act: gelu``; NumPy has no erf, hence the approximation."""
    z = np.abs(x) * np.float32(1 / np.sqrt(2))
    t = 1.0 / (1.0 + np.float32(_ERF_P) * z)
    a1, a2, a3, a4, a5 = (np.float32(a) for a in _ERF_A)
    erf = 1.0 - ((((a5 * t + a4) * t + a3) * t + a2) * t + a1) * t * np.exp(-z * z)
    return np.float32(0.5) * x * (1.0 + np.copysign(erf, x))


def _prepared(raw: dict[str, np.ndarray], shape: BertShape) -> dict:
    """The weights renamed and laid out for ``x @ W`` (Linear stores ``W.T``); query, key and value joined into
    one matrix so a layer does one multiplication for the three."""
    prefix = "bert." if "bert.embeddings.word_embeddings.weight" in raw else ""

    def get(name: str) -> np.ndarray:
        try:
            return np.ascontiguousarray(raw[prefix + name], dtype=np.float32)
        except KeyError:
            raise RagError(f"model.safetensors has no tensor {prefix + name!r}") from None

    layers = []
    for i in range(shape.layers):
        p = f"encoder.layer.{i}."
        qkv = [f"{p}attention.self.{n}" for n in ("query", "key", "value")]
        layers.append({
            "qkv_w": np.ascontiguousarray(np.concatenate([get(n + ".weight") for n in qkv]).T),
            "qkv_b": np.concatenate([get(n + ".bias") for n in qkv]),
            "attn_out_w": np.ascontiguousarray(get(p + "attention.output.dense.weight").T),
            "attn_out_b": get(p + "attention.output.dense.bias"),
            "attn_ln_w": get(p + "attention.output.LayerNorm.weight"),
            "attn_ln_b": get(p + "attention.output.LayerNorm.bias"),
            "inter_w": np.ascontiguousarray(get(p + "intermediate.dense.weight").T),
            "inter_b": get(p + "intermediate.dense.bias"),
            "out_w": np.ascontiguousarray(get(p + "output.dense.weight").T),
            "out_b": get(p + "output.dense.bias"),
            "out_ln_w": get(p + "output.LayerNorm.weight"),
            "out_ln_b": get(p + "output.LayerNorm.bias"),
        })
    return {"word": get("embeddings.word_embeddings.weight"), "position": get("embeddings.position_embeddings.weight"),
            "token_type": get("embeddings.token_type_embeddings.weight")[0],
            "emb_ln_w": get("embeddings.LayerNorm.weight"), "emb_ln_b": get("embeddings.LayerNorm.bias"),
            "layers": layers}
