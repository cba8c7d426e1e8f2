"""Fuzzing the readers and the question path: no input makes them raise anything but a RagError (readers
give a Problem). Examples are bounded and derandomized, so the run is fast and the same every time."""

from __future__ import annotations

import json
import tempfile
from datetime import date, datetime
from pathlib import Path

import pytest
from conftest import DATA, SEED
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.embed import HashEmbedder
from rag.errors import RagError
from rag.ingest import SUPPORTED, read_inputs
from rag.ingest.decode import decode_bytes
from rag.ingest.feed import read_feed
from rag.ingest.html import read_html
from rag.ingest.jsonl import read_jsonl
from rag.ingest.text import read_text
from rag.pipeline import NewsIndex
from rag.types import Answer, Article, Problem

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# Text that looks like what the readers expect, with the characters that tend to break them.
_ALPHABET = st.characters(codec="utf-8") | st.sampled_from(list("<>/&;\"'{}[]:,\n\r\t \x00\x07\x85\u2028\ufeff\ud800\udfff"))
_MARKUP = st.sampled_from(["<html>", "<body>", "</p>", "<p>", "<div>", "<title>", "</title>", "<rss>", "<item>",
                           "<feed>", "<entry>", "<![CDATA[", "]]>", "<?xml version='1.0'?>", "&amp;", "&#0;",
                           "&#xD800;", "{\"text\": ", "\"id\": ", "\"published\": \"", "2019-12-14", "\n\n",
                           "Saturday, 14 December 2019\n", "No comments:\n", "<!--", "-->", "<script>"])
TEXT = st.lists(_MARKUP | st.text(_ALPHABET, max_size=30), max_size=25).map("".join)
RAW = st.binary(max_size=3000) | TEXT.map(lambda t: t.encode("utf-8", "surrogatepass"))


def _only_articles_and_problems(items: object) -> None:
    for item in items:  # type: ignore[attr-defined]
        assert isinstance(item, Article | Problem), item
        if isinstance(item, Article):
            assert item.text.strip() and item.article_id


def _checked(call, *args) -> None:  # noqa: ANN001
    try:
        result = call(*args)
    except RagError:
        return
    _only_articles_and_problems(result if isinstance(result, list) else
                                [result] if isinstance(result, Article | Problem) else list(result))


@FUZZ
@given(TEXT)
def test_text_readers_never_crash(text: str) -> None:
    for call in (read_jsonl, read_feed):
        _checked(lambda t, c=call: list(c(t, "fuzz")), text)
    _checked(read_text, text, "fuzz.txt")
    _checked(read_html, text, "fuzz.html")


@FUZZ
@given(RAW)
def test_decode_and_byte_readers_never_crash(data: bytes) -> None:
    text, problem = decode_bytes(data, "fuzz")
    assert text is not None or problem is not None
    if problem is not None:
        assert isinstance(problem, Problem) and problem.where == "fuzz" and problem.reason
    _checked(lambda d: list(read_feed(d, "fuzz")), data)


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(_ALPHABET, max_size=20),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                     max_leaves=8)
_FIELDS = st.sampled_from(["id", "title", "text", "url", "published", "source", "author", "tags"])


@FUZZ
@given(st.lists(st.dictionaries(_FIELDS, _JSON | TEXT, max_size=8) | _JSON, max_size=4))
def test_jsonl_records_of_any_shape(records: list) -> None:
    lines = []
    for record in records:
        try:
            lines.append(json.dumps(record, ensure_ascii=False))
        except ValueError:  # NaN is fine for json.dumps; only circular data would land here
            continue
    items = list(read_jsonl("\n".join(lines), "fuzz.jsonl"))
    _only_articles_and_problems(items)
    assert len(items) == sum(1 for line in lines if line.strip())  # one result per line, never more


@FUZZ
@given(RAW, st.sampled_from(sorted(SUPPORTED) + [".bin", ""]))
def test_any_file_gives_articles_or_problems(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"fuzz{suffix}"
        path.write_bytes(data)
        items = list(read_inputs([path]))
    _only_articles_and_problems(items)
    assert items and all(str(path) in (i.where if isinstance(i, Problem) else str(path)) for i in items)


# --- the question path -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> NewsIndex:
    idx = NewsIndex.open(tmp_path_factory.mktemp("fuzz") / "index", create=True, embedder=HashEmbedder(64))
    idx.ingest([SEED, DATA / "news-page.html", DATA / "feed-rss.xml", DATA / "feed-atom.xml"])
    yield idx
    idx.close()


QUESTION = (TEXT | st.text(max_size=80)
            | st.sampled_from(["When will the S-400 systems be fully installed in Turkey?",
                               "What happened last week?", "Who won, Russia or Turkey?", "How many homes since 2020?",
                               "what about yesterday in 9999?", "Is it Europe, Asia or Africa?", "?", "and then?"]))
DAY = (st.none() | st.dates() | st.datetimes() | st.text(max_size=20)
       | st.sampled_from(["2019-12-20", "0001-01-01", "9999-12-31", "1000-01-01", "9000-12-31", "14 December 2019",
                          "", " ", "2019-02-30"]))


@FUZZ
@given(QUESTION, DAY, st.lists(st.text(max_size=20), max_size=4), st.lists(TEXT, max_size=3),
       st.lists(st.sampled_from(["Sputnik", "Valley Courier", "", "Nobody"]), max_size=2), DAY, DAY,
       st.none() | st.integers(-3, 50))
def test_ask_never_crashes(index: NewsIndex, question: str, as_of: date | datetime | str | None, choices: list[str],
                           history: list[str], sources: list[str], since, until, top_k: int | None) -> None:  # noqa: ANN001
    try:
        answer = index.ask(question, as_of=as_of, choices=choices, history=history, sources=sources, since=since,
                           until=until, top_k=top_k)
    except RagError as err:
        assert str(err)
        return
    assert isinstance(answer, Answer) and answer.text
    markers = {s.marker for s in answer.sources}
    assert {c.marker for c in answer.citations} <= markers
    assert answer.abstained or answer.citations
    json.dumps(answer.to_dict())
