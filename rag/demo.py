"""The bundled demo corpus: 43 Wikinews articles (CC BY 2.5, see README-wikinews.md) and the seed article."""

from __future__ import annotations

from pathlib import Path

DEMO_DIR = Path(__file__).parent / "data" / "demo"


def demo_inputs() -> list[str]:
    return [str(DEMO_DIR)]
