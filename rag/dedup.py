"""Near-duplicate articles (syndicated copies, updated versions of one story) by MinHash over word shingles,
found through LSH bands so that ingest compares an article with a handful of candidates, not all of them."""

from __future__ import annotations

import re
import zlib

import numpy as np

NUM_PERM = 64
BANDS = 16  # 4 rows a band: pairs above ~0.7 Jaccard share a bucket with probability > 0.9
SHINGLE = 5
THRESHOLD = 0.7
_PRIME = (1 << 61) - 1
_rng = np.random.default_rng(20191214)
_A = _rng.integers(1, _PRIME, NUM_PERM, dtype=np.uint64)
_B = _rng.integers(0, _PRIME, NUM_PERM, dtype=np.uint64)


def signature(text: str) -> np.ndarray:
    """MinHash signature (uint64 [NUM_PERM]) of the text's word 5-shingles."""
    words = re.findall(r"\w+", text.lower())
    grams = {" ".join(words[i : i + SHINGLE]) for i in range(max(1, len(words) - SHINGLE + 1))}
    hashes = np.fromiter((zlib.crc32(g.encode()) for g in grams), dtype=np.uint64, count=len(grams))
    # (a * x + b) mod 2^61-1, computed in uint64 with wrap-around; good enough mixing for MinHash.
    mixed = (hashes[None, :] * _A[:, None] + _B[:, None]) % np.uint64(_PRIME)
    return mixed.min(axis=1)


def bands(sig: np.ndarray) -> list[int]:
    rows = NUM_PERM // BANDS
    return [zlib.crc32(sig[i * rows : (i + 1) * rows].tobytes()) for i in range(BANDS)]


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures."""
    return float(np.mean(a == b))


def from_bytes(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.uint64)
