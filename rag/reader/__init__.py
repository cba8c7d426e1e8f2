"""newsrag's own reader: a model trained on news quizzes that scores whether a sentence answers a question,
marks the answer in it, and judges which offered option the sentences state.

The composer depends only on :class:`Reader` and :class:`Reading` (``rag.reader.base``); the trained model lives in
``rag.reader.model`` and is loaded lazily by :func:`load_reader`.
"""

from __future__ import annotations

from rag.reader.base import Reader, Reading, SentenceInput, load_reader

__all__ = ["Reader", "Reading", "SentenceInput", "load_reader"]
