"""The Gradio chat app around one NewsIndex, loaded once at start-up."""

from __future__ import annotations

import logging
import os
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

log = logging.getLogger(__name__)


def open_or_build(index_dir: str | Path | None):  # noqa: ANN201 - NewsIndex
    """The index at ``index_dir``; when there is none yet, build it from the bundled demo corpus."""
    from rag.config import load_settings
    from rag.demo import demo_inputs
    from rag.pipeline import DB_NAME, NewsIndex

    settings = load_settings(index_dir)
    if not (Path(settings.index_dir) / DB_NAME).exists():
        log.warning("no index at %s yet: ingesting the bundled demo corpus", settings.index_dir)
        index = NewsIndex.open(settings.index_dir, create=True)
        index.ingest(demo_inputs())
        return index
    return NewsIndex.open(settings.index_dir)


def build_app(index):  # noqa: ANN001, ANN201 - gr.Blocks
    import gradio as gr

    from rag.errors import RagError
    from rag.render import answer_text

    def respond(message: str, history: list[dict]):  # noqa: ANN202
        earlier = [m["content"] for m in history if m.get("role") == "user" and isinstance(m.get("content"), str)]
        try:
            answer = index.ask(message, history=earlier)
        except RagError as err:
            raise gr.Error(str(err)) from err
        return answer_text(answer, width=100)

    with gr.Blocks(title="newsrag") as demo:
        gr.Markdown("# newsrag\nAsk a question about the indexed news articles.")
        gr.ChatInterface(respond)
    return demo


def serve(index_dir: str | Path | None = None, host: str = "127.0.0.1", port: int = 7860) -> None:
    index = open_or_build(index_dir)
    build_app(index).queue(default_concurrency_limit=4).launch(server_name=host, server_port=port)
