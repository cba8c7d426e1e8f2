"""``manifest.json``: format version, model, dimension, counts and the vector file of the current generation."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from rag.config import FORMAT_VERSION

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
