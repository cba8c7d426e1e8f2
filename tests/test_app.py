"""The app without a browser: HTML rendering, the event handlers, the named API, and `python app.py`."""

from __future__ import annotations

import http.server
import json
import os
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
from rag.app import Handlers, _text_of, build_app, example_questions
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
    good = app_html.source_card(_source(), "src-1-1")
    assert 'href="https://example.org/a"' in good and 'rel="noopener noreferrer nofollow"' in good
    bad = app_html.source_card(_source(url="javascript:alert(1)"), "src-1-1")
    assert "javascript" not in bad and "<a " not in bad
    quoted = app_html.source_card(_source(url='https://example.org/"><script>x</script>'), "src-1-1")
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
    status, stats, sources, examples, files, urls = h.add([str(good), str(bad)], "ftp://example.org/feed",
                                                          lambda *a, **k: calls.append((a, k)))
    assert calls[-1][0][0] == (1, 3) and calls[-1][1]["unit"] == "articles"  # one article of about three
    assert "1 article added" in status and "from 3 inputs" in status
    assert "bad.jsonl" in status and str(tmp_path) not in status  # named by file name, not temp path
    assert "ftp://example.org/feed" in status and "http" in status
    assert ">1<" in stats.replace(" ", "")
    assert files is None and urls == ""
    assert any("Glasgow tram museum" in q for [q] in examples.raw_samples)
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


def test_example_questions_come_from_the_index(seed_index) -> None:  # noqa: ANN001
    assert example_questions(seed_index) == [SEED_QUESTION]


# --- the named API and the command -----------------------------------------------------------------------------
def test_gradio_client_asks_the_named_endpoint(seed_index) -> None:  # noqa: ANN001
    from gradio_client import Client

    with running_app(seed_index) as url:
        client = Client(url, verbose=False)
        result = client.predict(SEED_QUESTION, api_name="/ask")
        assert "April" in result["answer"] and result["short_answer"] == "April 2020"
        assert result["sources"][0]["source"] == "Sputnik"
        assert result["sources"][0]["highlight"]
        assert result["abstained"] is False
        filtered = client.predict(SEED_QUESTION, as_of="2019-01-01", api_name="/ask")
        assert filtered["sources"] == []
        assert client.predict(SEED_QUESTION, sources=["Sputnik"], since="2019-12-01", api_name="/ask")["sources"]
        follow = client.predict("What about Russia?", history=[SEED_QUESTION], api_name="/ask")
        assert "S-400" in follow["search_query"]
        json.dumps(result)  # JSON all the way through


def test_several_people_ask_at_once(hash_index) -> None:  # noqa: ANN001
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client

    hash_index.ingest([str(SEED), str(ROOT / "rag" / "data" / "demo" / "wikinews.jsonl")])
    questions = [SEED_QUESTION, "How many people died in the Hajj stampede?",
                 "How many asylum seekers were rescued off Indonesia?", "Who founded LibriVox?"] * 3
    with running_app(hash_index) as url:
        clients = [Client(url, verbose=False) for _ in range(4)]
        with ThreadPoolExecutor(len(clients)) as pool:
            results = list(pool.map(lambda iq: clients[iq[0] % 4].predict(iq[1], api_name="/ask"),
                                    enumerate(questions)))
    assert [r["question"] for r in results] == questions  # every caller got the answer to its own question
    assert all(r["sources"] for r in results)


def test_python_app_py_serves_the_page(seed_index) -> None:  # noqa: ANN001
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "NEWSRAG_INDEX": str(seed_index.dir)}
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
