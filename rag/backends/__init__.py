"""Index backends: where articles, passages and vectors live. ``open_backend`` picks one by the index's name:
a directory opens the local SQLite + FAISS backend, a ``postgresql://`` URL the PostgreSQL + pgvector one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rag.backends.base import Backend
from rag.config import FORMAT_VERSION, is_url
from rag.errors import IndexMismatchError


def open_backend(location: str | Path, create: bool = False) -> Backend:
    """The backend of the index at ``location``; ``create`` makes an empty one where there is none (else
    IndexMissingError)."""
    if is_url(location):
        from rag.backends.postgres import open_postgres

        return open_postgres(str(location), create)
    from rag.backends.local import LocalBackend

    return LocalBackend(location, create)


def check_compatible(recorded: dict[str, Any], model: str | None, location: str) -> None:
    """Raise IndexMismatchError when the index was built with another format or model."""
    version = recorded.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexMismatchError(f"index {location} has format version {version}; this newsrag reads version "
                                 f"{FORMAT_VERSION}. Re-ingest into a new --index directory.")
    if model and recorded.get("model") and model != recorded["model"]:
        raise IndexMismatchError(f"index {location} was built with model {recorded['model']!r} "
                                 f"(dimension {recorded.get('dim')}), not {model!r}. Use --model "
                                 f"{recorded['model']!r}, or ingest into another --index directory.")
