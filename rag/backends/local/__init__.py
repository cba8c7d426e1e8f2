"""The local backend: SQLite + FAISS in one directory (the default)."""

from rag.backends.local.backend import DB_NAME, LocalBackend

__all__ = ["DB_NAME", "LocalBackend"]
