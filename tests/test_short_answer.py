"""Short answers: the typed phrase of the answering sentence, relative dates written out, the reader's span when it
marks one, and where the short answer shows (Answer, ask --json, the CLI's first line)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SEED
from fake_reader import FakeReader

from rag.cli import main
from rag.compose.reading import READ_TOP
from rag.compose.short import asked_type, of_type, short_answer, typed_phrase
from rag.config import READER_OFF, load_settings
from rag.dates import resolve_relative
from rag.embed import HashEmbedder
from rag.pipeline import NewsIndex
from rag.question import analyze

SEED_QUESTION = "When will the S-400 systems be fully installed in Turkey?"


@pytest.mark.parametrize(("phrase", "published", "expected"), [
    ("April next year", "2019-12-14", "April 2020"),
    ("in April of next year", "2019-12-14", "in April 2020"),
    ("last year", "2023-01-05", "2022"),
    ("next month", "2019-12-14", "January 2020"),
    ("yesterday", "2015-09-12", "11 September 2015"),
    ("April", "2019-12-14", "April"),  # last April or next: the tense says, not the date
    ("April next year", None, "April next year"),  # an undated article resolves nothing
])
def test_relative_dates_are_written_out_against_the_article_date(phrase: str, published: str | None,
                                                                 expected: str) -> None:
    assert resolve_relative(phrase, published) == expected


@pytest.mark.parametrize(("question", "sentence", "expected"), [
    ("When will the S-400 systems be fully installed in Turkey?",
     "Now training is in progress, and in April next year, the systems will be fully installed.", "April 2020"),
    ("How many divisions are covered by the agreement?",
     "The 2017 deal, worth $2.5 billion, covers two divisions of the S-400.", "two"),
    ("How much did the telescope cost?", "The telescope, launched in 2021 with 18 mirrors, cost $10 billion.",
     "$10 billion"),
    ("How old is Mack Rutherford?", "Mack Rutherford, a 17-year-old pilot, landed in Sofia.", "17"),
    ("How long did the review take?", "Review took about four months after 2 rounds, she said.", "four months"),
    ("Who is the head of Turkey's Defence Industry Directorate?",
     "Ismail Demir, head of the Turkish Defence Industry Directorate, said Ankara was still interested.",
     "Ismail Demir"),
    ("Who ran for Governor of Virginia for the Libertarian Party?",
     "Attorney Robert Sarvis, the Libertarian Party's nominee for Governor of Virginia, answered.", "Robert Sarvis"),
    ("Which country did Turkey say it would produce air defence systems with?",
     "Russia and Turkey will start joint production of S-400 defense system.", "Russia"),
    ("Which museum will become the new home of the shuttle Enterprise?",
     "The shuttle Enterprise will move from Virginia to the Intrepid Sea-Air-Space Museum in New York.",
     "Intrepid Sea-Air-Space Museum"),
])
def test_the_typed_phrase_the_question_does_not_name(question: str, sentence: str, expected: str) -> None:
    assert short_answer(analyze(question), sentence, "2019-12-14") == expected


def test_the_kind_of_phrase_follows_the_question() -> None:
    kinds = {q: asked_type(analyze(q)) for q in ("When did it open?", "How many died?", "Who won?", "Where is it?",
                                                 "Which city hosts it?", "What percentage voted?", "Which team won?")}
    assert list(kinds.values()) == ["date", "amount", "person", "place", "place", "amount", "name"]


def test_nothing_of_the_kind_is_no_short_answer() -> None:
    assert typed_phrase(analyze("How many people died?"), "Nobody knows yet what happened there.") == ""
    assert typed_phrase(analyze("When did Velmora open?"), "Velmora opened its doors to everyone.") == ""


def test_a_reader_span_is_the_short_answer_and_its_relative_date_is_resolved() -> None:
    sentence = "Now training is in progress, and in April next year, the systems will be fully installed."
    start = sentence.index("April")
    info = analyze("When will the systems be installed?")
    assert short_answer(info, sentence, "2019-12-14", (start, start + len("April next year"))) == "April 2020"
    # the span "April" inside the sentence's more specific date "April next year": that date
    assert short_answer(info, sentence, "2019-12-14", (start, start + 5)) == "April 2020"
    amount = "The agreement with Russia on the acquisition of S-400 includes two divisions."
    at = amount.index("two divisions")
    assert short_answer(analyze("How many divisions does the deal cover?"), amount, None, (at, at + 13)) == \
        "two divisions"  # the span, not the typed "two"
    assert short_answer(info, sentence, "2019-12-14", (5, 999)) == "April 2020"  # a span outside: the typed phrase


def test_a_span_that_stops_inside_a_name_is_the_whole_name() -> None:
    def read(question: str, sentence: str, marked: str) -> str:
        at = sentence.index(marked)
        return short_answer(analyze(question), sentence, None, (at, at + len(marked)))

    panel = "According to the Herald, Emeritus Professor John Burrows chairs the panel, Smith of The Hague said."
    assert read("Who chairs the panel?", panel, "John") == "John Burrows"
    assert read("Who said it?", panel, "Smith") == "Smith"  # a person's name does not run on through "of"
    museum = "The exhibit opened at the University of Southern Indiana on Thursday."
    assert read("Which university opened the exhibit?", museum, "University") == "University of Southern Indiana"
    assert read("Where was the ecosystem found?", "It was found under the Ross Sea ice shelf.", "Ross") == "Ross Sea"
    assert read("Where is the bar?", "The bar is in Brooklyn, New York.", "Brooklyn") == "Brooklyn"
    # a span that ends in a lower-case word, or an amount, is kept as marked
    assert read("How many divisions does the deal cover?", "It covers two divisions Monday.", "two divisions") == \
        "two divisions"


@pytest.fixture
def seed_dir(tmp_path: Path) -> Path:
    path = tmp_path / "index"
    index = NewsIndex.open(path, create=True, embedder=HashEmbedder(256))
    index.ingest([str(SEED)])
    index.close()
    return path


def _open(path: Path, **kw: object) -> NewsIndex:
    return NewsIndex.open(path, embedder=HashEmbedder(256), settings=load_settings(reader=READER_OFF), **kw)


def test_answers_carry_a_short_answer_by_kind(seed_dir: Path) -> None:
    index = _open(seed_dir)
    free = index.ask(SEED_QUESTION, as_of="2019-12-20")
    assert free.short_answer == "April 2020" and free.to_dict()["short_answer"] == "April 2020"
    picked = index.ask("By which month should the first S-400 batch be ready?", choices=["January", "April", "June"])
    assert picked.short_answer == picked.choice == "April"
    declined = index.ask("Who won the 2031 Venus marathon?")
    assert declined.abstained and declined.short_answer == ""


def test_a_reader_picks_the_sentence_and_marks_the_short_answer(seed_dir: Path) -> None:
    fake = FakeReader(("next year",))
    answer = _open(seed_dir, reader=fake).ask(SEED_QUESTION, as_of="2019-12-20")
    assert answer.short_answer == "April 2020" and "April next year" in answer.text  # the span's date, resolved
    question, sentences = fake.read_calls[-1]
    assert question == SEED_QUESTION and 1 < len(sentences) <= 2 * READ_TOP  # the best-scored and best-supported
    april = next(s for s in sentences if "April next year" in s.text)
    assert april.published == "2019-12-14" and april.title.startswith("Russia and Turkey")
    # A span that is not of the kind asked (no date for "when") gives way to the sentence's typed phrase.
    off_type = _open(seed_dir, reader=FakeReader(("the systems",))).ask(SEED_QUESTION, as_of="2019-12-20")
    assert off_type.short_answer == "April 2020"
    # A reader unsure of the span it marks (under its span threshold) declines; sure enough, it answers.
    unsure = FakeReader(("next year",), span_threshold=3.0, span_score=2.5)
    assert _open(seed_dir, reader=unsure).ask(SEED_QUESTION, as_of="2019-12-20").abstained
    sure = FakeReader(("next year",), span_threshold=3.0, span_score=3.5)
    assert _open(seed_dir, reader=sure).ask(SEED_QUESTION, as_of="2019-12-20").short_answer == "April 2020"
    # A reader that finds the answer in none of them (every score under its threshold) declines.
    assert _open(seed_dir, reader=FakeReader(())).ask(SEED_QUESTION, as_of="2019-12-20").abstained


def test_cli_shows_the_short_answer_first(seed_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["ask", SEED_QUESTION, "--as-of", "2019-12-20", "--index", str(seed_dir), "--no-reader"]
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines()[0] == "Answer: April 2020"
    assert main([*argv, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["short_answer"] == "April 2020"


def test_a_span_is_of_the_kind_asked_only_when_it_holds_that_kind() -> None:
    assert of_type("date", "on 14 December 2019") and of_type("date", "next year") and not of_type("date", "the systems")
    assert of_type("amount", "two divisions") and of_type("amount", "$4.5 billion") and not of_type("amount", "Russia")
    assert of_type("person", "Ismail Demir") and not of_type("person", "the defence industry chief")
    assert of_type("place", "Ankara") and not of_type("place", "the capital")
    assert of_type("name", "the systems")


def test_the_readers_runner_up_is_the_second_sentence_when_it_is_likely_enough() -> None:
    from types import SimpleNamespace

    from rag.compose.reading import SECOND_SHARE, runner_up
    from rag.reader.base import Reading
    from rag.text import stems

    first, caption, again, close, far = (SimpleNamespace(text=t, stems=stems(t)) for t in (
        "Russia will deliver the systems in April next year.", "Photo: AP", "Russia will deliver the systems in April.",
        "The deal covers two divisions.", "Officials met in Ankara on Monday."))
    ranked = [(first, Reading(0.8)), (caption, Reading(0.7)), (again, Reading(0.6)),
              (close, Reading(0.8 * SECOND_SHARE)), (far, Reading(0.1))]
    # The caption is passed over (no finished sentence), and so is the sentence that says what the first says.
    assert runner_up(ranked) is close
    assert runner_up([(first, Reading(0.8)), (far, Reading(0.8 * SECOND_SHARE - 0.01))]) is None
    assert runner_up([(first, Reading(0.8))]) is None and runner_up([]) is None
