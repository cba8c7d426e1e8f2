"""The README's picture of the app, taken from the app as it is: ``python tests/screenshot.py docs/app.png``.

Starts the app on the demo index (built from the bundled corpus in a temporary directory, or ``--index DIR``) on a
free loopback port, asks one demo question in chromium at 1280x800, waits for the answer and its source cards, and
saves a PNG. tests/test_app_browser.py runs this script, so the picture cannot drift from the app unnoticed.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the checkout's own code, whatever is installed
for name, value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("GRADIO_ANALYTICS_ENABLED", "False")):
    os.environ.setdefault(name, value)

from browser_support import WIDE, launch, running_app  # noqa: E402

QUESTION = "How many people died in the Hajj stampede?"  # two passages of one article: one card, markers [1][2]
TIMEOUT_MS = 120_000  # the first question loads the model; slow when the CPUs are busy


def take(index, out: Path, question: str = QUESTION) -> Path:  # noqa: ANN001 - a NewsIndex
    """Serve the app around ``index``, ask ``question`` at 1280x800 and save the page as a PNG at ``out``."""
    from playwright.sync_api import sync_playwright

    out.parent.mkdir(parents=True, exist_ok=True)
    with running_app(index) as url, sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_context(viewport=WIDE, device_scale_factor=1).new_page()
            page.goto(url, wait_until="domcontentloaded")
            box = page.locator("#question textarea")
            box.wait_for(timeout=TIMEOUT_MS)
            box.fill(question)
            box.press("Enter")
            page.locator('#sources .nr-turn[id="turn-1"] .nr-card').first.wait_for(timeout=TIMEOUT_MS)
            page.locator("#chat .nr-answer").first.wait_for(timeout=TIMEOUT_MS)
            page.mouse.move(0, 0)  # no hover state in the picture
            page.wait_for_timeout(500)  # let the chat finish scrolling
            page.screenshot(path=str(out))
        finally:
            browser.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="where to write the PNG, e.g. docs/app.png")
    parser.add_argument("--index", type=Path, help="an index to show (default: the demo corpus, built afresh)")
    parser.add_argument("--question", default=QUESTION)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")

    from rag.app import open_or_build
    from rag.pipeline import NewsIndex

    with tempfile.TemporaryDirectory(prefix="newsrag-shot-") as tmp:
        index = NewsIndex.open(args.index) if args.index else open_or_build(Path(tmp) / "index")
        try:
            take(index, args.out, args.question)
        finally:
            index.close()
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
