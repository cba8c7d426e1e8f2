"""newsrag's chat app: `python app.py [--index DIR] [--host HOST] [--port PORT]`."""

from __future__ import annotations

import argparse
import os

from rag.app import serve

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Serve the newsrag chat app.")
    parser.add_argument("--index", default=None, help="index directory (default: $NEWSRAG_INDEX or ./index)")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    args = parser.parse_args()
    serve(args.index, args.host, args.port)
