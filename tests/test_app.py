"""The app without a browser: HTML rendering, the event handlers, the named API, and `python app.py`."""

from __future__ import annotations

import http.server
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import gradio as gr
import pytest
from browser_support import free_port, running_app
from conftest import ROOT, SEED

from rag import app_html
from rag.app import Handlers, _text_of, build_app, example_questions, open_or_build
from rag.types import Answer, Citation, Source

SEED_QUESTION = "When will the S-400 systems be fully installed in Turkey?"


def _source(marker: int = 1, **kw) -> Source:  # noqa: ANN003
    base = {"marker": marker, "article_id": "a1", "title": "Title", "source": "Wire", "published": "2019-12-14",
            "url": "https://example.org/a", "passage": "First sentence. Second sentence. Third.", "passage_id": 7,
            "highlight": (16, 32)}
    return Source(**{**base, **kw})


@pytest.fixture
def seed_index(hash_index):  # noqa: ANN001, ANN201
    report = hash_index.ingest([str(SEED)])
    assert report.added == 1
    return hash_index


# --- HTML ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("url", ["https://example.org/x?a=1", "http://example.org", "HTTPS://EXAMPLE.ORG/"])
def test_safe_url_keeps_http_links(url: str) -> None:
    assert app_html.safe_url(url) == url


@pytest.mark.parametrize("url", ["javascript:alert(1)", "JavaScript:alert(1)", " javascript:alert(1)",
                                 "java\tscript:alert(1)", "data:text/html,<script>alert(1)</script>",
                                 "//evil.example/x", "/relative", "ftp://example.org/f", "https://", "",
                                 "vbscript:msgbox(1)"])
def test_safe_url_drops_everything_else(url: str) -> None:
    assert app_html.safe_url(url) == ""


def test_chat_message_escapes_text_and_links_known_markers() -> None:
    answer = Answer(question="q", text="It opened <img src=x onerror=alert(1)> on Monday [1], not [2].",
                    sources=(_source(title="<script>alert('t')</script>"),), search_query="q rewritten")
    html = app_html.chat_message(answer, 3)
    assert "<img" not in html and "<script>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;script&gt;alert(&#x27;t&#x27;)&lt;/script&gt;" in html
    assert html.count('href="#src-3-1"') == 2  # in the text and in the list of sources
    assert "[2]" in html and "#src-3-2" not in html  # a marker without a source stays plain text
    assert "searched for: q rewritten" in html
    assert "\n\n" not in html  # one HTML block for the chat's Markdown renderer
    assert "nr-short" not in html  # no short answer, no line for it


def test_chat_message_opens_with_the_short_answer_in_bold() -> None:
    answer = Answer(question="q", text="In April next year [1].", sources=(_source(),), short_answer="April <2020>")
    html = app_html.chat_message(answer, 1)
    assert html.startswith('<div class="nr-short"><strong>April &lt;2020&gt;</strong></div><div class="nr-answer">')


def test_passage_highlights_the_cited_sentences_merged() -> None:
    s = _source(highlight=(16, 32))
    html = app_html.passage_html(s, ["Second sentence.", "Third."])
    assert html == "First sentence. <mark>Second sentence. Third.</mark>"
    assert app_html.passage_html(_source(highlight=None, passage="a <b> & c")) == "a &lt;b&gt; &amp; c"


def test_source_card_links_only_safe_urls() -> None:
    good = app_html.article_card([_source()], "src-1")
    assert 'href="https://example.org/a"' in good and 'rel="noopener noreferrer nofollow"' in good
    bad = app_html.article_card([_source(url="javascript:alert(1)")], "src-1")
    assert "javascript" not in bad and "<a " not in bad
    quoted = app_html.article_card([_source(url='https://example.org/"><script>x</script>')], "src-1")
    assert "<script>" not in quoted and "&quot;&gt;&lt;script&gt;" in quoted
    assert "14 December 2019" in good and "Wire" in good


def test_sources_panel_lists_newest_turn_first_and_open() -> None:
    first = Answer(question="first?", text="A [1]", sources=(_source(),),
                   citations=(Citation(1, "a1", 7, "Second sentence."),))
    second = Answer(question="second?", text="B", abstained=True)
    html = app_html.sources_panel([(1, first), (2, second)])
    assert html.index('id="turn-2"') < html.index('id="turn-1"')
    assert '<details class="nr-turn" id="turn-2" open>' in html
    assert '<details class="nr-turn" id="turn-1">' in html
    assert 'id="src-1-1"' in html and "<mark>Second sentence.</mark>" in html
    assert "No passage supports" in html
    assert "Ask a question" in app_html.sources_panel([])


def test_two_markers_citing_one_article_make_one_card() -> None:
    other = _source(2, article_id="b2", title="Other story", passage="Another passage.", passage_id=9, highlight=None)
    later = _source(3, passage="A later passage of the same article. It says more.", passage_id=8, highlight=None)
    answer = Answer(question="q", text="First [1]. Other [2]. More [3].", sources=(_source(), other, later),
                    citations=(Citation(1, "a1", 7, "Second sentence."), Citation(2, "b2", 9, "Another passage."),
                               Citation(3, "a1", 8, "It says more.")))
    panel = app_html.sources_panel([(4, answer)])
    assert panel.count('class="nr-card"') == 2 and panel.count(">Title<") == 1
    card = panel[panel.index('id="src-4-1"'):panel.index('id="src-4-2"')]
    assert '<span class="nr-marker">1</span><span class="nr-marker">3</span>' in card
    assert "<mark>Second sentence.</mark>" in card and "<mark>It says more.</mark>" in card
    assert "2 passages" in card
    chat = app_html.chat_message(answer, 4)
    for marker in (1, 2, 3):  # every [n], in the text and in the list, has one target in the panel
        assert chat.count(f'href="#src-4-{marker}"') == 2 and panel.count(f'id="src-4-{marker}"') == 1
    assert chat.count("<li>") == 2 and chat.count(">Title<") == 0 and chat.count("Title") == 1


def test_overlapping_passages_of_one_article_show_as_one_text() -> None:
    """Neighbouring passages share a sentence: the card shows it once, each marker where its passage starts."""
    # [1] cites the later passage, [2] the earlier one: the text reads in article order all the same.
    later = _source(1, passage="Crowds walked across it on the first day. Tolls start next year.", highlight=None)
    lead = _source(2, passage="The bridge opened in May. Crowds walked across it on the first day.", passage_id=6,
                   highlight=None)
    answer = Answer(question="q", text="Tolls [1]. Opened [2].", sources=(later, lead),
                    citations=(Citation(1, "a1", 7, "Tolls start next year."),
                               Citation(2, "a1", 6, "The bridge opened in May.")))
    html = app_html.sources_panel([(1, answer)])
    assert html.count('<p class="nr-passage">') == 1 and html.count("Crowds walked") == 1
    assert ('<p class="nr-passage"><span class="nr-passage-marker" id="src-1-2">[2]</span><mark>The bridge opened in '
            'May.</mark> <span class="nr-passage-marker">[1]</span>Crowds walked across it on the first day. '
            '<mark>Tolls start next year.</mark></p>') in html
    assert html.count('id="src-1-1"') == 1 and 'class="nr-card" id="src-1-1"' in html


def test_words_about_the_sources_hold_in_either_layout() -> None:
    """The sources sit beside the chat on a desktop and under it on a phone: the words name the panel instead."""
    from rag import templates

    directions = re.compile(r"\b(below|above|beside|under the chat|next to|left|right)\b", re.I)
    for text in (app_html.CHAT_PLACEHOLDER, app_html.sources_panel([]), templates.NOT_FOUND_RELATED):
        assert not directions.search(text), text
    assert f"under {app_html.SOURCES_HEADING}." in app_html.CHAT_PLACEHOLDER


@pytest.mark.parametrize(("values", "label"), [
    (("", None, "  ", []), "Filters: date and source"),
    (("2020-01-01", "", "", []), "Filters: date and source (1 active)"),
    (("", "2019-01-01", "2019-12-31", ["Sputnik", "Reuters"]), "Filters: date and source (3 active)"),
])
def test_filters_label_counts_the_active_filters(values: tuple, label: str) -> None:
    assert app_html.filters_label(*values) == label


def test_header_counts_in_the_singular() -> None:
    assert "from 1 news article." in app_html.header_html({"articles": 1})
    assert "from 2,000 news articles." in app_html.header_html({"articles": 2000})


def test_stats_html_escapes_source_names() -> None:
    html = app_html.stats_html({"articles": 1200, "passages": 5, "sources": {"<b>x</b>": 3},
                                "first_published": "2019-12-14", "last_published": "2020-01-02", "model": "m"})
    assert "1,200" in html and "&lt;b&gt;x&lt;/b&gt; (3)" in html and "14 December 2019 to 2 January 2020" in html


# --- handlers --------------------------------------------------------------------------------------------------
def test_respond_answers_with_citations_and_passes_history(seed_index) -> None:  # noqa: ANN001
    h = Handlers(seed_index)
    chat, turns, panel, box = h.respond(SEED_QUESTION, [], [], "", "", "", [])
    assert box == ""
    assert [m["role"] for m in chat] == ["user", "assistant"]
    assert "April" in chat[1]["content"] and 'href="#src-1-1"' in chat[1]["content"]
    assert 'id="src-1-1"' in panel and "Sputnik" in panel
    assert turns[0][0] == 1 and turns[0][1].hits == ()

    # Gradio 6 hands the chat back with each content as a list of parts.
    as_sent = [{"role": m["role"], "content": [{"type": "text", "text": m["content"]}]} for m in chat]
    chat2, turns2, panel2, _ = h.respond("What about Russia?", as_sent, turns, "", "", "", [])
    assert len(chat2) == 4 and turns2[-1][0] == 2
    assert "S-400" in turns2[-1][1].search_query  # rewritten from the earlier question
    assert 'id="turn-2"' in panel2 and 'id="turn-1"' in panel2


def test_history_is_handed_back_as_typed(seed_index) -> None:  # noqa: ANN001
    question = "What's <the> S-400 & when?"
    chat, *_ = Handlers(seed_index).respond(question, [], [], "", "", "", [])
    assert "<the>" not in chat[0]["content"]  # shown escaped...
    assert _text_of(chat[0]) == question  # ...and read back as typed, for the follow-up rewriter
    assert _text_of({"role": "user", "content": [{"type": "text", "text": chat[0]["content"]}]}) == question


def test_filters_reach_the_pipeline(seed_index) -> None:  # noqa: ANN001
    h = Handlers(seed_index)
    before = h.ask(SEED_QUESTION, as_of="2019-01-01")
    assert before.sources == ()  # the seed article was published later
    assert h.ask(SEED_QUESTION, sources=["Reuters"]).sources == ()
    assert h.ask(SEED_QUESTION, sources=["Sputnik"], since="2019-12-01", until="2019-12-31").sources


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"as_of": "next Tuesday"}, "is not a date"),
    ({"since": "2020-01-02", "until": "2020-01-01"}, "ends before it starts"),
])
def test_bad_filters_read_as_messages(seed_index, kwargs: dict, message: str) -> None:  # noqa: ANN001
    with pytest.raises(gr.Error, match=message):
        Handlers(seed_index).ask(SEED_QUESTION, **kwargs)


def test_empty_question_warns_and_changes_nothing(seed_index) -> None:  # noqa: ANN001
    with pytest.warns(UserWarning, match="the question is empty"):
        out = Handlers(seed_index).respond("   ", [], [], "", "", "", [])
    assert all(o == gr.skip() for o in out)


def test_without_an_index_every_action_says_why(tmp_path: Path) -> None:
    h = Handlers(None, "no index at /nowhere: run `newsrag ingest FILES --index /nowhere` first")
    with pytest.raises(gr.Error, match="no index at /nowhere"):
        h.ask(SEED_QUESTION)
    with pytest.raises(gr.Error, match="no index at /nowhere"):
        h.add([str(SEED)], "")
    assert "no index at /nowhere" in h.panel_html()
    assert build_app(None, h.problem) is not None


def test_add_reports_articles_and_problems(hash_index, tmp_path: Path) -> None:  # noqa: ANN001
    good = tmp_path / "trams.txt"
    good.write_text("Glasgow tram museum reopens\n\nThe museum reopened on 3 March 2021.\n", encoding="utf-8")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n", encoding="utf-8")
    h = Handlers(hash_index)
    calls = []
    status, header, stats, sources, examples, files, urls = h.add([str(good), str(bad)], "ftp://example.org/feed",
                                                                  lambda *a, **k: calls.append((a, k)))
    assert calls[-1][0][0] == (1, 3) and calls[-1][1]["unit"] == "articles"  # one article of about three
    assert "1 article added" in status and "from 3 inputs" in status
    assert "bad.jsonl" in status and str(tmp_path) not in status  # named by file name, not temp path
    assert "ftp://example.org/feed" in status and "http" in status
    assert ">1<" in stats.replace(" ", "") and "from 1 news article." in header
    assert files is None and urls == ""
    assert any("Glasgow tram museum" in q for [q] in examples["samples"])
    with pytest.raises(gr.Error, match="choose files"):
        h.add(None, "  ")


def test_add_fetches_urls(hash_index, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("NEWSRAG_ALLOW_PRIVATE_URLS", "1")  # the page is served from 127.0.0.1 (tests/test_ssrf.py)
    page = (b"<html><head><title>Harbour bridge repainted</title></head><body><article><h1>Harbour bridge "
            b"repainted</h1><p>Painters finished the harbour bridge on 2 May 2022 after nine months of work on the "
            b"steel arches, the city council said on Monday.</p></article></body></html>")

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args) -> None:  # noqa: ANN002
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/bridge.html"
        status, stats, *_ = Handlers(hash_index).add(None, f"{url}\nhttp://127.0.0.1:1/nothing-here")
    finally:
        server.shutdown()
    assert "1 article added" in status
    assert "http://127.0.0.1:1/nothing-here" in status and "could not connect" in status
    assert hash_index.ask("When was the harbour bridge repainted?").sources[0].url == url


def test_page_state_is_read_from_the_index_each_time(seed_index, tmp_path: Path) -> None:  # noqa: ANN001
    """What a page load shows follows articles added by another writer of the same index (another process)."""
    from rag.pipeline import NewsIndex

    h = Handlers(seed_index)
    header, panel, dropdown, _ = h.page_state()
    assert "from 1 news article, published 14 December 2019." in header and dropdown["choices"] == ["Sputnik"]
    feed = tmp_path / "herald.jsonl"
    feed.write_text(json.dumps({"id": "h1", "title": "Glasgow tram museum reopens", "source": "Glasgow Herald",
                                "published": "2021-03-03", "text": "The museum reopened on 3 March 2021."}) + "\n",
                    encoding="utf-8")
    other = NewsIndex.open(seed_index.backend.dir, embedder=seed_index.embedder)
    try:
        assert other.ingest([str(feed)]).added == 1
    finally:
        other.close()
    header, panel, dropdown, examples = h.page_state()
    assert "from 2 news articles, published 14 December 2019 to 3 March 2021." in header
    assert "Glasgow Herald (1)" in panel
    assert "Glasgow Herald" in dropdown["choices"]
    assert any("Glasgow tram museum" in q for [q] in examples["samples"])


def test_the_page_reads_the_index_on_load(seed_index) -> None:  # noqa: ANN001
    config = build_app(seed_index).get_config_file()
    ids = {c["id"]: c.get("props", {}).get("elem_id") for c in config["components"]}
    loads = [d for d in config["dependencies"] if any(t[1] == "load" for t in d["targets"])]
    assert any({"nr-header", "nr-stats", "source-filter"} <= {ids[o] for o in d["outputs"]} for d in loads)


def test_follow_row_is_always_there_and_read_on_page_load(seed_index) -> None:  # noqa: ANN001
    """Sources followed after the app started (another `newsrag follow`) show on the next page load."""
    from rag.follow.sources import Source
    from rag.follow.state import FollowState

    h = Handlers(seed_index)
    assert h.follow_status() == {"value": "", "visible": False}
    config = build_app(seed_index).get_config_file()
    ids = {c["id"]: c.get("props", {}) for c in config["components"]}
    (row,) = [p for p in ids.values() if p.get("elem_id") == "nr-follow"]
    assert row.get("visible") is False
    loads = [d for d in config["dependencies"] if any(t[1] == "load" for t in d["targets"])]
    assert any("nr-follow" in {ids[o].get("elem_id") for o in d["outputs"]} for d in loads)
    state = FollowState(seed_index.store)  # what a poller started later (or in another process) writes
    state.put(state.get(Source("https://wire.test/rss.xml", 60.0).url))
    shown = h.follow_status()
    assert shown["visible"] and "Following" in shown["value"] and "wire.test/rss.xml: not read yet" in shown["value"]


def test_a_missing_index_is_built_from_the_demo_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEWSRAG_MODEL", "hash-64")
    with caplog.at_level(logging.WARNING, logger="rag.app"):
        index = open_or_build("index")
    try:
        assert index.stats()["articles"] == 44
    finally:
        index.close()
    assert caplog.messages == ["no index in ./index yet: building it from the bundled demo corpus"]


def test_example_questions_come_from_the_index(seed_index) -> None:  # noqa: ANN001
    assert example_questions(seed_index) == [SEED_QUESTION]


# --- the named API and the command -----------------------------------------------------------------------------
def test_gradio_client_asks_the_named_endpoint(seed_index) -> None:  # noqa: ANN001
    from gradio_client import Client

    with running_app(seed_index) as url:
        # A client per call: gradio_client shares one event stream among a client's calls and cancels a call sent
        # just as the previous call's stream closes (rag/bench/app_process.py, ask_api).
        def predict(*args, **kwargs) -> dict:  # noqa: ANN002, ANN003
            return Client(url, verbose=False).predict(*args, api_name="/ask", **kwargs)

        result = predict(SEED_QUESTION)
        assert "April" in result["answer"] and result["short_answer"] == "April 2020"
        assert result["sources"][0]["source"] == "Sputnik"
        assert result["sources"][0]["highlight"]
        assert result["abstained"] is False
        filtered = predict(SEED_QUESTION, as_of="2019-01-01")
        assert filtered["sources"] == []
        assert predict(SEED_QUESTION, sources=["Sputnik"], since="2019-12-01")["sources"]
        follow = predict("What about Russia?", history=[SEED_QUESTION])
        assert "S-400" in follow["search_query"]
        json.dumps(result)  # JSON all the way through


def test_several_people_ask_at_once(hash_index) -> None:  # noqa: ANN001
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from rag.bench.app_process import ask_api

    hash_index.ingest([str(SEED), str(ROOT / "rag" / "data" / "demo" / "wikinews.jsonl")])
    questions = [SEED_QUESTION, "How many people died in the Hajj stampede?",
                 "How many asylum seekers were rescued off Indonesia?", "Who founded LibriVox?"] * 3
    with running_app(hash_index) as url, httpx.Client(timeout=120) as http, ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda q: ask_api(http, url, q), questions))
    assert [r["question"] for r in results] == questions  # every caller got the answer to its own question
    assert all(r["sources"] for r in results)


def test_python_app_py_serves_the_page(seed_index) -> None:  # noqa: ANN001
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "NEWSRAG_INDEX": str(seed_index.backend.dir)}
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        page = ""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
                    page = resp.read().decode("utf-8", errors="replace")
                    break
            except OSError:
                time.sleep(0.25)
        assert page, f"app.py did not serve: {proc.stdout.read().decode() if proc.poll() is not None else ''}"
        assert "newsrag" in page
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=5) as resp:
            config = json.load(resp)
        assert any(d.get("api_name") == "ask" for d in config["dependencies"])
    finally:
        proc.terminate()
        proc.wait(timeout=20)
