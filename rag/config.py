"""Settings with defaults; paths and the model can come from environment variables.

``NEWSRAG_INDEX`` sets the index directory, ``NEWSRAG_MODEL`` the sentence-transformers model, ``NEWSRAG_READER``
the reader model directory (``none`` turns the reader off).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

DEFAULT_MODEL = "all-MiniLM-L6-v2"
READER_OFF = "none"  # Settings.reader value that turns the reader off: the composer's rules answer alone
READER_SHIPPED = "shipped"  # Settings.reader value for the reader model that ships with newsrag (rag/models/reader)
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ChunkSettings:
    """Passage sizes in words. MiniLM reads 256 word pieces: 150 words plus a title stay inside it."""

    target_words: int = 120
    max_words: int = 160
    overlap_sentences: int = 1


@dataclass(frozen=True)
class EmbedSettings:
    """``dense_passages`` is how many leading passages of each article get a vector (0 = all).

    News puts the essentials in the title and the first paragraphs; the lexical index sees every word. One
    passage (title + lead) an article is the default: on RealTimeQA it ranked the asked article better than
    vectors for every passage (hits@5 0.941 against 0.902) for a fifteenth of the embedding (172 s of ingest),
    and on the demo set it answered as often (contains 0.759 against 0.734); see the README.
    """

    model: str = DEFAULT_MODEL
    batch_size: int = 64
    dense_passages: int = 1


@dataclass(frozen=True)
class RetrieveSettings:
    """``mode`` is hybrid, lexical or dense (the last two are baselines); ``date_prior`` weighs articles by their
    date relative to ``as_of``; ``story_support`` is the share of a story's 2nd (and, squared, 3rd) passage score
    added to its best one; ``headline_weight`` weighs a ranking of articles by their headline alone, fused into the
    lexical list (a headline names what the whole article is about; with one vector an article it raised
    RealTimeQA hits@5 from 0.912 to 0.941 and mrr@10 from 0.729 to 0.758, left the demo set unchanged, and cost
    0.01-0.02 of RealTimeQA choice accuracy: see the README); ``group_stories`` shows one passage for each group
    of near-duplicate articles (False is an ablation). Articles published after ``as_of`` are excluded in every mode."""

    top_k: int = 5
    candidates: int = 100
    rrf_k: int = 60
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    mode: str = "hybrid"
    date_prior: bool = True
    story_support: float = 0.3
    headline_weight: float = 1.0
    group_stories: bool = True

    def __post_init__(self) -> None:
        if self.mode not in ("hybrid", "lexical", "dense"):
            raise ValueError(f"Invalid retrieval mode: {self.mode}. Must be one of hybrid, lexical, dense")


@dataclass(frozen=True)
class Settings:
    # A directory (the local SQLite + FAISS backend) or a postgresql:// URL (rag/backends/postgres).
    index_dir: Path | str = Path("index")
    chunk: ChunkSettings = ChunkSettings()
    embed: EmbedSettings = EmbedSettings()
    retrieve: RetrieveSettings = RetrieveSettings()
    max_fetch_bytes: int = 20 * 1024 * 1024
    fetch_timeout_s: float = 15.0
    # False refuses URLs on loopback, private and link-local addresses (the app, served to others, sets it so).
    allow_private_urls: bool = True
    # The reader model directory, READER_SHIPPED for the one shipped with newsrag, READER_OFF for none. On by
    # default: with it (version 4, exported per channel), contains and short-answer F1 rise on all four sets (demo
    # hand-written 0.886 -> 0.924 and 0.489 -> 0.609, held-out 0.722 -> 0.778 and 0.488 -> 0.495, the held-out
    # 2026 weeks 0.330 -> 0.398 and 0.153 -> 0.287, RealTimeQA dev 0.467 -> 0.517 and 0.219 -> 0.345) and the
    # demo sets' abstention recall with them; its cost is about 70 ms an ask (docs/reader.md).
    reader: str | None = READER_SHIPPED

    def with_index(self, index_dir: str | Path | None) -> Settings:
        if index_dir is None:
            return self
        return replace(self, index_dir=str(index_dir).strip() if is_url(index_dir) else Path(index_dir))

    def with_model(self, model: str | None) -> Settings:
        return self if not model else replace(self, embed=replace(self.embed, model=model))

    def with_reader(self, reader: str | Path | None) -> Settings:
        """These settings with the reader directory ``reader`` (``READER_OFF`` turns it off; None keeps it)."""
        return self if reader is None or not str(reader).strip() else replace(self, reader=str(reader))

    @property
    def reader_off(self) -> bool:
        return self.reader is not None and self.reader.strip().lower() == READER_OFF


def is_url(location: str | Path) -> bool:
    """True when ``location`` names a PostgreSQL database rather than a directory."""
    return isinstance(location, str) and location.strip().lower().startswith(("postgresql://", "postgres://"))


def load_settings(index_dir: str | Path | None = None, model: str | None = None,
                  reader: str | Path | None = None) -> Settings:
    """Defaults, overridden by ``NEWSRAG_INDEX`` / ``NEWSRAG_MODEL`` / ``NEWSRAG_READER``, overridden by the
    arguments."""
    env_index = os.environ.get("NEWSRAG_INDEX")
    env_model = os.environ.get("NEWSRAG_MODEL")
    env_reader = os.environ.get("NEWSRAG_READER")
    settings = Settings().with_index(env_index).with_model(env_model).with_reader(env_reader)
    return settings.with_index(index_dir).with_model(model).with_reader(reader)
