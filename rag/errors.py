"""Exceptions raised by the library; the CLI and the app translate them at the edges."""

from __future__ import annotations


class RagError(Exception):
    """Base class of every error newsrag raises on purpose."""


class InputError(RagError):
    """A file, line, field or URL could not be read as an article.

    ``where`` names the place (``path`` or ``path:line``) so the user can find it.
    """

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


class IndexMismatchError(RagError):
    """The index on disk was built with another model, dimension or format."""


class IndexMissingError(RagError):
    """No index exists at the given directory."""


class QuestionError(RagError):
    """The question is empty or unusable."""


class IndexBusyError(RagError):
    """Another process is writing to the index."""
