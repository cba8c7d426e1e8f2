"""The NumPy BERT encoder gives sentence-transformers' vectors without torch, small batches take it, and a cold
``newsrag ask`` (a fresh process, the real model) imports no torch yet answers as the torch-embedded index does."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA, SEED, WIKINEWS

from rag.bench.cold import HEAVY_MODULES, heavy_imports, imported_modules, run_ask
from rag.bert_numpy import BertShape, NumpyBertEncoder, _gelu, bert_shape
from rag.embed import SMALL_BATCH, SentenceTransformerEmbedder, default_model_path

TEXTS = [
    "When will the S-400 systems be fully installed in Turkey?",
    "",
    "   leading and trailing spaces   ",
    "\ttabs\nand\r\nnewlines",
    "a",
    "Ünïcödé café naïve — “curly quotes” and an emoji 😀",
    "日本語のテキストと中文字符",
    "COVID-19: 3,456,789 doses; $12.5bn; 45% of U.S. adults (2021-03-04)",
    "ALL CAPS HEADLINE ABOUT THE CENTRAL BANK",
    "word " * 400,  # far past 256 word pieces: cut as sentence-transformers cuts it
    "x" * 3000,
]


def _demo_passages(count: int) -> list[str]:
    rows = [json.loads(line) for line in WIKINEWS.read_text(encoding="utf-8").splitlines()[:count]]
    return [f"{r['title']}. {r['text'][:1500]}" for r in rows]


def test_gelu_is_the_exact_erf_gelu() -> None:
    x = np.linspace(-12, 12, 24001, dtype=np.float32)
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.astype(np.float64)])
    got = _gelu(x)
    assert got.dtype == np.float32
    assert float(np.max(np.abs(got - exact))) < 1e-6


def test_bert_shape_reads_the_default_model() -> None:
    assert bert_shape(default_model_path()) == BertShape(layers=6, hidden=384, heads=12, eps=1e-12, max_tokens=256,
                                                         normalize=True, lowercase=False)


def _model_copy(tmp_path: Path) -> Path:
    """The default model's configuration files (not its weights, which are only checked for existence)."""
    src, dst = Path(default_model_path()), tmp_path / "model"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("model.safetensors"))
    (dst / "model.safetensors").write_bytes(b"")
    return dst


@pytest.mark.parametrize(("file", "change"), [
    ("config.json", {"model_type": "roberta"}),
    ("config.json", {"hidden_act": "gelu_new"}),
    ("config.json", {"position_embedding_type": "relative_key"}),
    ("1_Pooling/config.json", {"pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}),
    ("1_Pooling/config.json", {"pooling_mode_max_tokens": True}),
])
def test_bert_shape_refuses_a_model_it_cannot_run(tmp_path: Path, file: str, change: dict) -> None:
    model = _model_copy(tmp_path)
    assert bert_shape(model) is not None
    path = model / file
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    assert bert_shape(model) is None


def test_bert_shape_needs_safetensors_weights_and_the_module_list(tmp_path: Path) -> None:
    model = _model_copy(tmp_path)
    (model / "model.safetensors").unlink()
    assert bert_shape(model) is None
    assert bert_shape(tmp_path / "nowhere") is None


def test_imported_modules_reads_an_importtime_report() -> None:
    report = ("import time: self [us] | cumulative | imported package\n"
              "import time:       123 |        456 |   torch._C\n"
              "import time:        10 |         20 | numpy\n"
              "some other line | with | bars\n")
    assert imported_modules(report) == {"torch._C", "numpy"}


@pytest.fixture(scope="module")
def numpy_encoder() -> NumpyBertEncoder:
    return NumpyBertEncoder.load(default_model_path())


@pytest.mark.model
def test_numpy_encoder_gives_sentence_transformers_vectors(numpy_encoder: NumpyBertEncoder,
                                                           real_embedder: SentenceTransformerEmbedder) -> None:
    texts = [*TEXTS, *_demo_passages(12)]
    expected = real_embedder.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    got = numpy_encoder.encode(texts)
    assert got.shape == (len(texts), 384) and got.dtype == np.float32
    assert float(np.max(np.abs(got - expected))) < 1e-5
    assert float(np.min(np.sum(got * expected, axis=1))) > 0.99999
    # One at a time (no padding) gives the same as in a padded batch.
    alone = np.stack([numpy_encoder.encode([t])[0] for t in texts])
    assert float(np.max(np.abs(alone - got))) < 1e-5
    assert numpy_encoder.encode([]).shape == (0, 384)


@pytest.mark.model
def test_small_batches_leave_torch_unloaded_and_bulk_loads_it(real_embedder: SentenceTransformerEmbedder) -> None:
    embedder = SentenceTransformerEmbedder()
    assert embedder.dim == 384 and not embedder.torch_loaded
    small = embedder.embed(TEXTS[:3])
    assert not embedder.torch_loaded
    torch_vectors = real_embedder.model.encode(TEXTS[:3], normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(small, torch_vectors, atol=1e-5)
    bulk = [f"passage number {i} about the budget" for i in range(SMALL_BATCH + 1)]
    vectors = embedder.embed(bulk)
    assert embedder.torch_loaded and vectors.shape == (SMALL_BATCH + 1, 384)
    np.testing.assert_allclose(vectors[:3], embedder.embed(bulk[:3]), atol=1e-5)


@pytest.mark.model
def test_a_question_does_not_wait_for_torch_to_load() -> None:
    import threading

    embedder = SentenceTransformerEmbedder()
    done = threading.Event()
    with embedder._lock:  # held while torch loads for a bulk batch in another thread
        threading.Thread(target=lambda: (embedder.embed(["What happened in Mecca?"]), done.set()), daemon=True).start()
        assert done.wait(timeout=30), "a one-question batch waited for the torch model's lock"


class _TorchOnly:
    """The real model through torch for every batch: the embedder as it was before the NumPy encoder."""

    def __init__(self, embedder: SentenceTransformerEmbedder) -> None:
        self.name, self.dim, self._model = embedder.name, 384, embedder.model

    def embed(self, texts, progress=None) -> np.ndarray:  # noqa: ANN001
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return self._model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True).astype(np.float32)


@pytest.mark.model
def test_answers_on_the_demo_index_do_not_change(demo_index_dir: Path,
                                                 real_embedder: SentenceTransformerEmbedder) -> None:
    from rag.evaluate import load_questions
    from rag.pipeline import NewsIndex

    questions = load_questions(DATA / "questions.jsonl")
    assert len(questions) > 50
    numpy_index = NewsIndex.open(demo_index_dir, embedder=SentenceTransformerEmbedder())
    torch_index = NewsIndex.open(demo_index_dir, embedder=_TorchOnly(real_embedder))
    try:
        for q in questions:
            kwargs = {"as_of": q.as_of, "choices": q.choices, "history": q.history}
            a, b = numpy_index.ask(q.question, **kwargs).to_dict(), torch_index.ask(q.question, **kwargs).to_dict()
            a.pop("timings_ms"), b.pop("timings_ms")
            assert a == b, q.question
        assert not numpy_index.embedder.torch_loaded
    finally:
        numpy_index.close()
        torch_index.close()


@pytest.mark.model
def test_a_cold_ask_imports_no_torch_and_answers_as_in_process(demo_index_dir: Path,
                                                               real_embedder: SentenceTransformerEmbedder) -> None:
    from rag.pipeline import NewsIndex
    from rag.render import answer_text

    question = "When will the S-400 systems be fully installed in Turkey?"
    index = NewsIndex.open(demo_index_dir, embedder=_TorchOnly(real_embedder))
    try:
        expected = answer_text(index.ask(question))
    finally:
        index.close()
    _, done = run_ask(demo_index_dir, question)
    assert done.stdout.strip() == expected.strip() and "April" in done.stdout
    # The reader (on by default) runs on onnxruntime; without it, and for stats, nothing heavy is imported.
    assert heavy_imports(["ask", question, "--index", str(demo_index_dir)]) == ["onnxruntime"]
    for command in (["ask", question, "--index", str(demo_index_dir), "--no-reader"],
                    ["stats", "--index", str(demo_index_dir)]):
        assert heavy_imports(command) == [], command
    assert "torch" in HEAVY_MODULES and "sentence_transformers" in HEAVY_MODULES


def test_heavy_imports_sees_what_a_command_imports(tmp_path: Path) -> None:
    """The check above can fail: ingest shows a progress bar, so its process imports tqdm."""
    assert "tqdm" in heavy_imports(["ingest", str(SEED), "--index", str(tmp_path / "index"), "--model", "hash-64",
                                    "--quiet"])


def test_overlapping_one_thread_blocks_restore_the_blas_threads_once() -> None:
    from rag.bert_numpy import _one_thread

    class Lib:
        num_threads = 4

        def set_num_threads(self, n: int) -> None:
            self.num_threads = n

    lib = Lib()
    first, second = _one_thread([lib]), _one_thread([lib])
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # the other question still runs: it keeps its one thread
    assert lib.num_threads == 1
    second.__exit__(None, None, None)
    assert lib.num_threads == 4


@pytest.mark.model
def test_a_model_the_numpy_encoder_fails_to_load_falls_back_to_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.errors import RagError

    def broken(path: str) -> NumpyBertEncoder:
        raise RagError(f"{path}: tensor names differ")

    monkeypatch.setattr(NumpyBertEncoder, "load", staticmethod(broken))
    embedder = SentenceTransformerEmbedder()
    vecs = embedder.embed(["When will the S-400 systems be fully installed?"])
    assert vecs.shape == (1, 384) and abs(float(np.linalg.norm(vecs[0])) - 1.0) < 1e-5
    assert embedder.torch_loaded
