"""newsrag's chat app: `python app.py [--index DIR] [--host HOST] [--port PORT] [--follow FILE]`.

The index defaults to $NEWSRAG_INDEX or ./index (built from the bundled demo corpus when there is none);
host and port default to Gradio's $GRADIO_SERVER_NAME and $GRADIO_SERVER_PORT, else 127.0.0.1:7860.
"""

from __future__ import annotations

import argparse
import logging
import os

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Serve the newsrag chat app.")
    parser.add_argument("--index", default=None, help="index directory, or a postgresql:// URL "
                        "(default: $NEWSRAG_INDEX or ./index)")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
                        help="port (default: $GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--follow", metavar="FILE", help="poll the feeds and pages listed in FILE (one URL a line, "
                        "optional every=5m) beside the app; see docs/follow.md")
    parser.add_argument("--every", default="15m", help="how often to poll each followed source (default 15m)")
    args = parser.parse_args()
    from rag.app import serve  # after parsing, so that --help does not wait for Gradio to import
    from rag.errors import RagError
    from rag.follow.sources import parse_duration

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore", "urllib3", "faiss.loader"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        serve(args.index, args.host, args.port, args.follow, parse_duration(args.every, "--every"))
    except RagError as err:
        parser.error(str(err))
