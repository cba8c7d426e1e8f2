"""How the reader reaches the composer: Settings.reader, the lazy load once per index, the fallback to the rules
when the shipped model is missing, and the CLI's --reader / --no-reader."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from conftest import SEED
from fake_reader import FakeReader

from rag import compose as composer
from rag.cli import main
from rag.config import READER_OFF, READER_SHIPPED, load_settings
from rag.embed import HashEmbedder
from rag.errors import RagError
from rag.pipeline import NewsIndex
from rag.types import Answer

QUESTION = "When will the S-400 systems be fully installed in Turkey?"


@pytest.fixture
def no_shipped_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shipped reader directory pointed at an empty one: newsrag before its model arrives."""
    empty = tmp_path / "no-reader"
    empty.mkdir()
    monkeypatch.setattr("rag.reader.base.SHIPPED", empty)
    return empty


def _seed_index(path: Path, **settings: str) -> NewsIndex:
    index = NewsIndex.open(path, create=True, embedder=HashEmbedder(256), settings=load_settings(**settings))
    index.ingest([str(SEED)])
    return index


def test_settings_read_the_reader_from_arguments_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().reader == READER_SHIPPED and not load_settings().reader_off  # on unless turned off
    assert load_settings(reader=READER_OFF).reader_off
    monkeypatch.setenv("NEWSRAG_READER", "None")
    assert load_settings().reader_off
    assert load_settings(reader="/models/r").reader == "/models/r" and not load_settings(reader="/models/r").reader_off
    assert load_settings().with_reader(None).reader_off  # None keeps what was set


def test_a_missing_shipped_model_falls_back_to_the_rules_with_one_warning(
        tmp_path: Path, no_shipped_model: Path, caplog: pytest.LogCaptureFixture) -> None:
    index = _seed_index(tmp_path / "index", reader=READER_SHIPPED)
    with caplog.at_level(logging.WARNING, logger="rag.pipeline"):
        first = index.ask(QUESTION, as_of="2019-12-20")
        second = index.ask(QUESTION, as_of="2019-12-20")
    assert index.reader() is None
    assert not first.abstained and first.text == second.text
    warnings = [r.getMessage() for r in caplog.records if "without a reader" in r.getMessage()]
    assert len(warnings) == 1 and str(no_shipped_model) in warnings[0]  # loaded (and warned) once per index


def test_reader_off_loads_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(path: object = None) -> None:
        raise AssertionError("the reader was loaded although it is off")

    monkeypatch.setattr("rag.pipeline.load_reader", refuse)
    index = _seed_index(tmp_path / "index", reader=READER_OFF)
    assert index.reader() is None
    assert not index.ask(QUESTION, as_of="2019-12-20").abstained


def test_an_explicit_reader_directory_without_a_model_is_an_error(tmp_path: Path) -> None:
    index = _seed_index(tmp_path / "index", reader=str(tmp_path / "elsewhere"))
    with pytest.raises(RagError, match="elsewhere"):
        index.ask(QUESTION, as_of="2019-12-20")


def test_the_reader_given_is_loaded_once_and_reaches_the_composer(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeReader(("April",))
    loads: list[object] = []

    def load(path: object = None) -> FakeReader:
        loads.append(path)
        return fake

    monkeypatch.setattr("rag.pipeline.load_reader", load)
    index = _seed_index(tmp_path / "index", reader=str(tmp_path / "my-reader"))
    seen: list[object] = []
    real = composer.compose

    def spy(*args: object, reader: object = None, **kwargs: object) -> object:
        seen.append(reader)
        return real(*args, reader=reader, **kwargs)

    monkeypatch.setattr("rag.pipeline.compose.compose", spy)
    index.ask(QUESTION, as_of="2019-12-20")
    index.ask(QUESTION, as_of="2019-12-20")
    assert loads == [str(tmp_path / "my-reader")]
    assert seen == [fake, fake]


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_reader_options(tmp_path: Path, capsys: pytest.CaptureFixture[str], no_shipped_model: Path) -> None:
    path = tmp_path / "index"
    assert main(["ingest", str(SEED), "--index", str(path), "--model", "hash-256", "--quiet"]) == 0
    capsys.readouterr()
    code, out, err = _cli(capsys, "ask", QUESTION, "--as-of", "2019-12-20", "--index", str(path), "--no-reader")
    assert code == 0 and "April" in out, err
    code, _, err = _cli(capsys, "ask", QUESTION, "--index", str(path), "--reader", str(tmp_path / "nowhere"))
    assert code == 2 and "no reader model in" in err and "nowhere" in err
    with pytest.raises(SystemExit):  # one or the other
        main(["ask", QUESTION, "--index", str(path), "--no-reader", "--reader", str(tmp_path)])
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"question": QUESTION, "answers": ["April 2020"], "as_of": "2019-12-20"}) + "\n")
    code, _, err = _cli(capsys, "eval", str(questions), "--index", str(path), "--reader", str(tmp_path / "nowhere"))
    assert code == 2 and "nowhere" in err


BRIDGE = {"title": "Velmora bridge reopens after repairs", "published": "2024-03-02", "source": "Test Gazette",
          "url": "https://example.org/velmora-bridge",
          "text": "The Velmora bridge repairs cost the city months of traffic trouble, officials said on Friday. "
                  "Drivers had used a ferry across the river since the autumn. "
                  "The final bill for the work came to $4.2 million, the council said."}


def _one_article_index(tmp_path: Path, article: dict) -> Path:
    """An index (HashEmbedder, no reader) of the one ``article``; its directory."""
    corpus = tmp_path / "article.jsonl"
    corpus.write_text(json.dumps(article) + "\n", encoding="utf-8")
    index = NewsIndex.open(tmp_path / "index", create=True, embedder=HashEmbedder(256),
                           settings=load_settings(reader=READER_OFF))
    index.ingest([str(corpus)])
    index.close()
    return tmp_path / "index"


def _ask(path: Path, reader: FakeReader | None, question: str, as_of: str) -> Answer:
    """``question`` asked of the index in ``path`` with ``reader`` (None: the rules alone); the index closed after."""
    with NewsIndex.open(path, embedder=HashEmbedder(256), settings=load_settings(reader=READER_OFF),
                        reader=reader) as index:
        return index.ask(question, as_of=as_of)


def test_the_rules_decline_only_when_neither_the_composers_nor_the_readers_sentence_fits(tmp_path: Path) -> None:
    """A price asked: the composer's best sentence names none, so the rules alone decline; a reader that picks the
    sentence with the sum answers from it; a reader that picks the composer's sentence declines as the rules do."""
    index = _one_article_index(tmp_path, BRIDGE)
    question = "How much did the Velmora bridge repairs cost?"

    def ask(reader: FakeReader | None):  # noqa: ANN202
        return _ask(index, reader, question, "2024-03-05")

    assert ask(None).abstained  # "...cost the city months of traffic trouble" is no price
    found = ask(FakeReader(("$4.2 million",), threshold=0.05))
    assert not found.abstained and found.short_answer == "$4.2 million" and "$4.2 million" in found.text
    assert ask(FakeReader(("traffic",), threshold=0.05)).abstained


WATER = {"title": "Corpus Christi is running out of water, officials warn",
         "published": "2026-03-13", "url": "https://example.org/water",
         "text": "The state's environmental regulator may issue a draft permit for the desalination plant this spring, "
                 "the Texas Commission on Environmental Quality said. Reservoir levels stand at a record low."}


def test_the_short_answer_comes_from_the_headline_when_the_reader_marks_it_there_more_surely(tmp_path: Path) -> None:
    """The reader reads the answering sentence's headline as a sentence of its own; its span there is the short
    answer only when the reader is surer of it than of the sentence's by more than HEADLINE_MARGIN."""
    index = _one_article_index(tmp_path, WATER)

    def short(headline_score: float) -> str:
        reader = FakeReader(("Texas Commission on Environmental Quality", "Corpus Christi"), threshold=0.05,
                            span_scores={"Texas Commission on Environmental Quality": 2.0,
                                         "Corpus Christi": headline_score})
        answer = _ask(index, reader, "Which city in Texas is running out of water?", "2026-03-14")
        assert not answer.abstained
        assert any(s.text == WATER["title"] for _, sentences in reader.read_calls for s in sentences)
        return answer.short_answer

    assert short(2.0 + composer.reading.HEADLINE_MARGIN + 0.5) == "Corpus Christi"
    assert short(2.0 + composer.reading.HEADLINE_MARGIN - 0.5) == "Texas Commission on Environmental Quality"
