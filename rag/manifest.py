"""``manifest.json``: format version, model, dimension, counts and the vector file of the current generation."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from rag.config import FORMAT_VERSION
from rag.errors import IndexMismatchError

NAME = "manifest.json"


def read_manifest(index_dir: Path) -> dict[str, Any] | None:
    path = index_dir / NAME
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def write_manifest(index_dir: Path, data: dict[str, Any]) -> None:
    """Atomic replace, so a reader never sees half a manifest."""
    data = {"format_version": FORMAT_VERSION, **data, "updated": time.strftime("%Y-%m-%dT%H:%M:%S")}
    tmp = index_dir / (NAME + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, index_dir / NAME)


def check_compatible(manifest: dict[str, Any], model: str | None, index_dir: Path) -> None:
    """Raise IndexMismatchError when the index was built with another format or model."""
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexMismatchError(f"index {index_dir} has format version {version}; this newsrag reads version "
                                 f"{FORMAT_VERSION}. Re-ingest into a new --index directory.")
    if model and manifest.get("model") and model != manifest["model"]:
        raise IndexMismatchError(f"index {index_dir} was built with model {manifest['model']!r} "
                                 f"(dimension {manifest.get('dim')}), not {model!r}. Use --model "
                                 f"{manifest['model']!r}, or ingest into another --index directory.")
