"""What the Ray workers run: split articles into passages, and embed the passages that get a vector.

Both take and return Ray Data batches (a dict of equal-length NumPy columns). They import nothing of Ray at
module level, so that the driver can import them without Ray, and the tests can call them directly.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from rag.chunk import chunk_article
from rag.config import ChunkSettings
from rag.embed import make_embedder
from rag.indexer import embed_key, embed_text
from rag.types import Article

log = logging.getLogger(__name__)
Batch = Mapping[str, np.ndarray]


def article_row(key: int, article: Article) -> dict[str, object]:
    """What a worker needs of an article to split it and to build what the model reads; ``key`` finds it back."""
    return {"key": key, "article_id": article.article_id, "title": article.title,
            "published": article.published or "", "text": article.text}


def split_batch(batch: Batch, chunk: ChunkSettings, dense_passages: int) -> dict[str, np.ndarray]:
    """Article rows (``article_row``) -> one row per passage, in article order: ``key``, ``ordinal``, ``start``,
    ``end``, and for the first ``dense_passages`` of an article (0 = all) the ``embed_hash`` and ``embed_text``
    of what the model reads ("" for the others)."""
    cols: dict[str, list] = {name: [] for name in ("key", "ordinal", "start", "end", "embed_hash", "embed_text")}
    for key, article_id, title, published, text in zip(batch["key"], batch["article_id"], batch["title"],
                                                         batch["published"], batch["text"], strict=True):
        article = Article(str(article_id), str(title), str(text), published=str(published) or None)
        for passage in chunk_article(article, chunk):
            dense = not dense_passages or passage.ordinal < dense_passages
            read = embed_text(article, passage) if dense else ""
            cols["key"].append(int(key))
            cols["ordinal"].append(passage.ordinal)
            cols["start"].append(passage.start)
            cols["end"].append(passage.end)
            cols["embed_hash"].append(embed_key(read) if dense else "")
            cols["embed_text"].append(read)
    return {"key": np.asarray(cols["key"], dtype=np.int64), "ordinal": np.asarray(cols["ordinal"], dtype=np.int64),
            "start": np.asarray(cols["start"], dtype=np.int64), "end": np.asarray(cols["end"], dtype=np.int64),
            "embed_hash": np.asarray(cols["embed_hash"], dtype=object),
            "embed_text": np.asarray(cols["embed_text"], dtype=object)}


class EmbedActor:
    """One per node: loads the index's model once (offline, from its package) and embeds batches of
    ``{"embed_hash", "embed_text"}`` rows into ``{"embed_hash", "vector", "node"}`` (``node``: the Ray node id
    that did the work). Torch uses as many threads as the actor was given CPUs."""

    def __init__(self, model: str, batch_size: int) -> None:
        import ray

        context = ray.get_runtime_context()
        self.node = context.get_node_id()
        cpus = int(context.get_assigned_resources().get("CPU", 0)) or None
        self.embedder = make_embedder(model, batch_size)
        if cpus and hasattr(self.embedder, "threads"):
            self.embedder.threads = cpus
        log.info("embedding with %s on node %s (%s CPUs)", model, self.node, cpus)

    def __call__(self, batch: Batch) -> dict[str, np.ndarray]:
        vectors = self.embedder.embed([str(t) for t in batch["embed_text"]])
        return {"embed_hash": np.asarray(batch["embed_hash"], dtype=object), "vector": vectors.astype(np.float32),
                "node": np.asarray([self.node] * len(vectors), dtype=object)}
