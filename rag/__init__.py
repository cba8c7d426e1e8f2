"""newsrag: answer questions over news articles, citing the passages that support each answer.

The data flows one way: ``ingest`` (readers) -> ``chunk`` -> ``embed`` -> ``store`` / ``vectors``
-> ``retrieve`` -> ``compose``; ``pipeline.NewsIndex`` wires the stages for the CLI, the app and eval.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
