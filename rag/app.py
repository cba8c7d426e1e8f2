"""The Gradio chat app around one NewsIndex, opened once at start-up.

``build_app(index)`` gives the page (chat, sources panel, filters, index panel) and a named API endpoint
``/ask``; ``serve(index_dir, host, port)`` opens or builds the index and runs it. What the page says about the
index (the header, the index panel, the source filter's choices, the examples) is read from the index on every
page load and after every add, so it follows articles added here or by another process. Library errors
(RagError) are shown as messages in the page, never as tracebacks.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Sequence
from html import escape, unescape
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr  # noqa: E402 - after the environment that keeps it offline

from rag import app_html  # noqa: E402
from rag.dates import parse_date  # noqa: E402
from rag.errors import RagError  # noqa: E402
from rag.follow.poller import FollowSettings, follow_file  # noqa: E402
from rag.follow.status import status_html  # noqa: E402
from rag.ingest.url import is_url  # noqa: E402
from rag.render import shown_path  # noqa: E402
from rag.types import Answer  # noqa: E402

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
CONCURRENCY = 4  # answering is ~50 ms of CPU; more parallel asks than cores only adds latency
MAX_TURNS = 20
MAX_UPLOAD = "200mb"  # per file; the readers refuse files over 512 MiB anyway
UPLOAD_TYPES = [".jsonl", ".ndjson", ".json", ".txt", ".text", ".md", ".html", ".htm", ".xhtml", ".xml", ".rss",
                ".atom"]
# Questions the demo corpus answers well, keyed by the start of the article title they are about.
DEMO_QUESTIONS = {
    "Russia and Turkey will start joint production of S-400": "When will the S-400 systems be fully installed in Turkey?",
    "Hundreds dead in Hajj stampede": "How many people died in the Hajj stampede?",
    "Over 900 asylum seekers rescued off Indonesian coast": "How many asylum seekers were rescued off Indonesia?",
    "North Korea puts military in": "Why did North Korea put its military in a quasi-state of war?",
}


def open_or_build(index_dir: str | Path | None):  # noqa: ANN201 - NewsIndex
    """The index at ``index_dir``; when there is none yet, build it from the bundled demo corpus."""
    from rag.config import load_settings
    from rag.demo import demo_inputs
    from rag.errors import IndexMissingError
    from rag.pipeline import NewsIndex

    settings = load_settings(index_dir)
    try:
        return NewsIndex.open(settings.index_dir)
    except IndexMissingError:
        log.warning("no index in %s yet: building it from the bundled demo corpus", shown_path(settings.index_dir))
    index = NewsIndex.open(settings.index_dir, create=True)
    index.ingest(demo_inputs())
    return index


def example_questions(index, n: int = 4) -> list[str]:  # noqa: ANN001
    """Up to ``n`` questions about indexed articles: known good ones for the demo corpus, then the newest titles."""
    rows = index.store.recent_headlines(200)
    found = [q for prefix, q in DEMO_QUESTIONS.items() if any(t.startswith(prefix) for t, _ in rows)]
    seen_sources: set[str] = set()
    for title, source in rows:
        if len(found) >= n:
            break
        if source in seen_sources or any(title.startswith(p) for p in DEMO_QUESTIONS):
            continue
        seen_sources.add(source)
        words = title.split()
        found.append(f"What is reported about “{' '.join(words[:10])}{'…' if len(words) > 10 else ''}”?")
    return found[:n]


def _date(value: str | None, label: str) -> str | None:
    if value is None or not str(value).strip():
        return None
    iso = parse_date(value)
    if not iso:
        raise gr.Error(f"“{value}” is not a date: write the {label} as YYYY-MM-DD, e.g. 2019-12-31",
                       title="Check the date", print_exception=False)
    return iso


def _text_of(message: dict) -> str:
    """The plain text of a chat message, whether its content is a string or Gradio 6's list of parts."""
    content = message.get("content")
    if isinstance(content, list):
        content = " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return unescape(content) if isinstance(content, str) else ""  # the chat holds questions HTML-escaped


class Handlers:
    """What the page's events call: one index, shared by every session (NewsIndex is thread-safe)."""

    def __init__(self, index, problem: str = "") -> None:  # noqa: ANN001
        self.index = index
        self.problem = problem

    def _check(self) -> None:
        if self.index is None:
            raise gr.Error(self.problem or "no index is open", title="No index", print_exception=False)

    def ask(self, question: str, *, as_of: str | None = None, since: str | None = None, until: str | None = None,
            sources: Sequence[str] = (), history: Sequence[str] = ()) -> Answer:
        """One answer; filters are validated here so that a typo reads as a message, not an empty answer."""
        self._check()
        filters = {"as_of": _date(as_of, "“as of” date"), "since": _date(since, "start date"),
                   "until": _date(until, "end date")}
        if filters["since"] and filters["until"] and filters["since"] > filters["until"]:
            raise gr.Error("the date range ends before it starts", title="Check the dates", print_exception=False)
        try:
            return self.index.ask(question, history=list(history), sources=list(sources or ()), **filters)
        except RagError as err:
            raise gr.Error(str(err), title="Cannot answer", print_exception=False) from err
        except Exception as err:
            log.exception("answering %r failed", question)
            raise gr.Error("something went wrong while answering; the server log has the details",
                           title="Cannot answer", print_exception=False) from err

    def respond(self, question: str, chat: list[dict], turns: list, as_of: str, since: str, until: str,
                sources: list[str]) -> tuple[list[dict], list, str, str]:
        """Chat event: (messages, turns, sources panel, cleared question box)."""
        earlier = [_text_of(m) for m in chat if m.get("role") == "user"]
        try:
            answer = self.ask(question, as_of=as_of, since=since, until=until, sources=sources, history=earlier)
        except gr.Error as err:
            # A message, not an error state: the chat and the typed question stay as they were.
            gr.Warning(err.message, title=err.title)
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        turn = (turns[-1][0] + 1) if turns else 1
        turns = [*turns, (turn, dataclasses.replace(answer, hits=()))][-MAX_TURNS:]
        chat = [*chat, {"role": "user", "content": escape(question)},
                {"role": "assistant", "content": app_html.chat_message(answer, turn)}]
        return chat, turns, app_html.sources_panel(turns), ""

    def api_ask(self, question: str, as_of: str = "", sources: list[str] | None = None, since: str = "",
                until: str = "", history: list[str] | None = None) -> dict[str, Any]:
        """Answer ``question`` from the indexed news. Returns ``short_answer`` (a few words; "" when declined),
        the answer (``answer`` text with [n] markers), ``citations``, ``sources`` (title, source, published, url,
        passage, highlight), ``related`` and ``abstained``, as JSON."""
        answer = self.ask(question, as_of=as_of, since=since, until=until, sources=sources or (),
                          history=history or ())
        return answer.to_dict()

    def stats(self) -> dict[str, Any]:
        return self.index.stats() if self.index is not None else {}

    def panel_html(self) -> str:
        if self.index is None:
            return app_html.problem_html(self.problem)
        return app_html.stats_html(self.stats())

    def source_names(self) -> list[str]:
        return list(self.stats().get("sources", {}))

    def examples(self) -> list[list[str]]:
        return [[q] for q in example_questions(self.index)] if self.index is not None else []

    def header_html(self) -> str:
        return app_html.header_html(self.stats(), self.problem)

    def follow_status(self) -> dict[str, Any]:
        """The followed sources' row, read now: its HTML, and visible only when some source is followed."""
        html = status_html(self.index.store) if self.index is not None else ""
        return {"value": html, "visible": bool(html)}

    def page_state(self) -> tuple[str, str, dict, dict]:
        """What the page shows of the index, read now: (header, index panel, source choices, examples).

        Updates are ``gr.update`` dicts, not new components: a component made in an event handler joins whatever
        Blocks is being built at that moment in the process (another app's, in tests), half made."""
        return (self.header_html(), self.panel_html(), gr.update(choices=self.source_names()),
                gr.update(samples=self.examples() or [["What happened?"]]))

    def add(self, files: list[str] | None, url_text: str, progress: gr.Progress | None = None) -> tuple:
        """Ingest event: (status, header, index panel, source choices, examples, cleared files, cleared urls)."""
        self._check()
        typed = [u.strip() for u in (url_text or "").split() if u.strip()]
        # The box takes web addresses only: a path typed there would make the server read and index its own files.
        refused = [f"{u}: only http:// and https:// addresses can be added here" for u in typed if not is_url(u)]
        inputs = [*(files or []), *(u for u in typed if is_url(u))]
        if not inputs and not refused:
            raise gr.Error("choose files to upload or enter web addresses first", title="Nothing to add",
                           print_exception=False)
        names = {str(f): Path(f).name for f in files or []}
        totals, problems, start = {"added": 0, "replaced": 0, "unchanged": 0, "passages": 0}, refused, time.perf_counter()
        expected, seen = sum(_expected_articles(i) for i in inputs) + len(refused), [0]
        for item in inputs:
            name = names.get(str(item), item)

            def tick(_kind: str, articles: int, _passages: int, name: str = name) -> None:
                seen[0] += articles
                if progress is not None:
                    progress((seen[0], max(expected, seen[0])), desc=f"adding {name}", unit="articles")

            tick("start", 0, 0)
            try:
                report = self.index.ingest([item], progress=tick, allow_private_urls=allow_private_urls())
            except RagError as err:
                problems.append(_short(str(err), names))
                continue
            except Exception:
                log.exception("adding %s failed", item)
                problems.append(f"{name}: could not be added (the server log has the details)")
                continue
            for key in totals:
                totals[key] += getattr(report, key)
            problems += [_short(str(p), names) for p in report.problems]
        status = app_html.ingest_status(totals, problems, len(typed) + len(files or []), time.perf_counter() - start)
        if problems and not totals["added"] + totals["replaced"]:
            gr.Warning("nothing was added: see the messages under the upload box", title="Nothing added")
        return (status, *self.page_state(), None, "")


def allow_private_urls() -> bool:
    """Whether "Add to the index" may fetch loopback, private and link-local addresses: only when
    ``NEWSRAG_ALLOW_PRIVATE_URLS=1``, since anyone who can reach the page could otherwise make the server fetch
    127.0.0.1, the cloud metadata address 169.254.169.254 or the LAN."""
    return os.environ.get("NEWSRAG_ALLOW_PRIVATE_URLS", "").strip().lower() in ("1", "true", "yes")


def _expected_articles(item: str) -> int:
    """About how many articles ``item`` holds, for the progress bar: a JSONL file's lines, else one."""
    path = Path(item)
    if path.suffix.lower() in (".jsonl", ".ndjson") and path.is_file():
        with path.open("rb") as fh:
            return max(1, sum(1 for line in fh if line.strip()))
    return 1


def _short(message: str, names: dict[str, str]) -> str:
    for path, name in names.items():
        message = message.replace(path, name)
    return message


def _read_static(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


def theme() -> gr.themes.Base:
    # Gradio's bundled semibold files hold few glyphs; regular and bold are complete, so only those are used.
    return gr.themes.Default(
        primary_hue="blue", neutral_hue="slate",
        font=[gr.themes.LocalFont("Source Sans Pro", weights=(400, 700)), "ui-sans-serif", "system-ui", "sans-serif"],
        font_mono=[gr.themes.LocalFont("IBM Plex Mono", weights=(400, 700)), "ui-monospace", "monospace"],
    ).set(button_large_text_weight="700", button_small_text_weight="700", block_title_text_weight="700")


class NewsApp(gr.Blocks):
    """gr.Blocks whose ``launch`` defaults to the app's theme, CSS, script, and no external links."""

    def launch(self, *args: Any, **kwargs: Any):  # noqa: ANN201 - Blocks.launch's tuple
        kwargs.setdefault("theme", theme())
        kwargs.setdefault("css", _read_static("app.css"))
        kwargs.setdefault("head", f"<script>{_read_static('app.js')}</script>")
        kwargs.setdefault("footer_links", ["api"])
        kwargs.setdefault("max_file_size", MAX_UPLOAD)
        kwargs.setdefault("ssr_mode", False)
        kwargs.setdefault("pwa", False)
        kwargs.setdefault("mcp_server", False)
        return super().launch(*args, **kwargs)


def build_app(index, problem: str = "") -> NewsApp:  # noqa: ANN001
    """The page around ``index`` (a NewsIndex, or None with ``problem`` saying why there is none), queued."""
    h = Handlers(index, problem)
    with NewsApp(title="newsrag · answers from the news", analytics_enabled=False) as demo:
        turns = gr.State([])
        header = gr.HTML(h.header_html(), elem_id="nr-header", js_on_load=None)
        # Followed sources (app.py --follow, newsrag follow): always there, hidden while nothing is followed, read
        # again on each page load and every 10 s, so a source followed after start-up shows up too.
        follow = gr.HTML(**h.follow_status(), elem_id="nr-follow", js_on_load=None)
        gr.Timer(10).tick(lambda: gr.update(**h.follow_status()), None, follow, api_visibility="private", queue=False)
        with gr.Row(equal_height=False, elem_id="nr-main"):
            with gr.Column(scale=3, min_width=320):
                chat = gr.Chatbot(label="Chat", show_label=False, height=440, elem_id="chat", latex_delimiters=[],
                                  feedback_options=None, buttons=["copy"], placeholder=app_html.CHAT_PLACEHOLDER)
                with gr.Row(elem_id="nr-ask-row"):
                    question = gr.Textbox(show_label=False, placeholder="Ask about the news…", scale=6,
                                          elem_id="question", max_length=2000, autofocus=True, container=False,
                                          min_width=180)
                    ask = gr.Button("Ask", variant="primary", scale=1, min_width=64, elem_id="ask")
                    clear = gr.Button("Clear", variant="secondary", scale=1, min_width=64, elem_id="clear")
                examples = gr.Examples(examples=h.examples() or [["What happened?"]], inputs=[question],
                                       label="Examples from the indexed articles", examples_per_page=6)
                with gr.Accordion(app_html.FILTERS_LABEL, open=False, elem_id="nr-filters") as filters, gr.Row():
                    as_of = gr.Textbox(label="As of", placeholder="YYYY-MM-DD (today)", elem_id="as-of",
                                       info="later articles are ignored", min_width=140)
                    since = gr.Textbox(label="Published from", placeholder="YYYY-MM-DD", elem_id="since",
                                       info="on or after", min_width=140)
                    until = gr.Textbox(label="Published until", placeholder="YYYY-MM-DD", elem_id="until",
                                       info="on or before", min_width=140)
                    # Gradio's Dropdown takes no placeholder: app.js writes ALL_SOURCES into its empty input.
                    sources = gr.Dropdown(choices=h.source_names(), multiselect=True, label="Sources", value=[],
                                          info="pick one or more", elem_id="source-filter", min_width=180)
            with gr.Column(scale=2, min_width=300):
                gr.HTML(f'<h2 class="nr-panel-title">{app_html.SOURCES_HEADING}</h2>', elem_id="nr-sources-title",
                        js_on_load=None)
                panel = gr.HTML(app_html.sources_panel([]), elem_id="sources", js_on_load=None)
        with gr.Accordion("Index: what the answers come from, and adding articles", open=False,
                          elem_id="nr-index"), gr.Row(equal_height=False):
            stats = gr.HTML(h.panel_html(), elem_id="nr-stats", js_on_load=None)
            with gr.Column():
                files = gr.File(file_count="multiple", file_types=UPLOAD_TYPES, elem_id="upload",
                                label="Files: JSONL, text, HTML, RSS/Atom feeds")
                urls = gr.Textbox(label="Web pages or feeds", placeholder="https://… (one per line)", lines=2,
                                  elem_id="urls")
                add = gr.Button("Add to the index", variant="primary", elem_id="add")
                status = gr.HTML("", elem_id="ingest-status", js_on_load=None)

        chat_io = {"fn": h.respond, "inputs": [question, chat, turns, as_of, since, until, sources],
                   "outputs": [chat, turns, panel, question], "api_visibility": "private",
                   "show_progress_on": [chat]}
        question.submit(**chat_io)
        ask.click(**chat_io)
        clear.click(lambda: ([], [], app_html.sources_panel([]), ""), None, [chat, turns, panel, question],
                    api_visibility="private", queue=False)
        chat.clear(lambda: ([], app_html.sources_panel([])), None, [turns, panel], api_visibility="private",
                   queue=False)
        # A new add starts with an empty status (app.js also closes the last add's message boxes).
        add.click(lambda: "", None, status, api_visibility="private", queue=False).then(
            lambda f, u, progress=gr.Progress(): h.add(f, u, progress), [files, urls],  # noqa: B008
            [status, header, stats, sources, examples.dataset, files, urls], api_visibility="private",
            concurrency_limit=1, concurrency_id="index-write", show_progress_on=[files])
        gr.on([as_of.change, since.change, until.change, sources.change],
              lambda *values: gr.Accordion(label=app_html.filters_label(*values)), [as_of, since, until, sources],
              filters, api_visibility="private", queue=False, show_progress="hidden")
        demo.load(lambda: (*h.page_state(), gr.update(**h.follow_status())), None,
                  [header, stats, sources, examples.dataset, follow], api_visibility="private", queue=False,
                  show_progress="hidden")
        gr.api(h.api_ask, api_name="ask")
    return demo.queue(default_concurrency_limit=CONCURRENCY, max_size=64)


def warm_up(index) -> threading.Thread:  # noqa: ANN001
    """Load the embedding model in the background, so that the first question does not wait for it."""

    def work() -> None:
        try:
            index.embedder.embed(["warm up"])
        except Exception:  # noqa: BLE001 - the first question will report it properly
            log.exception("could not load the embedding model in the background")

    thread = threading.Thread(target=work, daemon=True, name="newsrag-warm-up")
    thread.start()
    return thread


def serve(index_dir: str | Path | None = None, host: str = "127.0.0.1", port: int = 7860,
          follow: str | None = None, every_s: float = 900.0) -> None:
    """Open (or build from the demo corpus) the index, then serve the app until interrupted; ``follow`` names a
    file of feeds and pages to poll beside it (rag/follow)."""
    try:
        index, problem = open_or_build(index_dir), ""
    except RagError as err:
        index, problem = None, str(err)
        log.error("%s", err)
    if follow and index is not None:  # a bad list of sources stops the start with its message
        follow_file(index, follow, every_s, FollowSettings(allow_private=allow_private_urls()))
    demo = build_app(index, problem)
    demo.launch(server_name=host, server_port=port, prevent_thread_lock=True)
    if index is not None:
        warm_up(index)
    demo.block_thread()
