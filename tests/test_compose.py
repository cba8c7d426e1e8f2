"""The composer and the question analysis behind it, on small hashing-embedder indexes."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest

from rag.compose import compose
from rag.compose.candidates import (
    _has_count,
    _rest_of_first_article,
    _shape_penalty,
    adds_nothing,
    score_candidates,
)
from rag.compose.choices import CHOICE_HITS, _headline_support, _options_named, choice_variants
from rag.compose.names import missing_names, question_names
from rag.compose.render import _Cited, _sentence, trim
from rag.followup import asks_after_person, person_named, rewrite
from rag.pipeline import NewsIndex
from rag.question import analyze, parse_choices, question_kind
from rag.retrieve import Query, retrieve
from rag.templates import NOT_FOUND
from rag.text import headline_news
from rag.types import ArticleInfo, Hit, Passage

ARTICLES = [
    {"id": "tram", "title": "Velmora approves tram line", "published": "2022-03-01", "source": "Velmora Post",
     "text": "The city council of Velmora approved a new tram line on Tuesday after a long debate.\n\n"
             "Construction will start in April next year, the mayor Anna Kovac said. The line will cost 40 million "
             "euros and link the harbour with the university."},
    {"id": "tram2", "title": "Tram line to cost more", "published": "2022-05-01", "source": "Harbour News",
     "text": "The Velmora tram line will cost 55 million euros, not 40 million, auditors said on Monday.\n\n"
             "The council of Velmora disputed the figure."},
    {"id": "zoo", "title": "Zoo welcomes panda", "published": "2022-04-01", "source": "Velmora Post",
     "text": "The Velmora zoo welcomed a giant panda from China on Friday. Keepers named her Mei."},
]


@pytest.fixture
def towns(hash_index: NewsIndex, tmp_path: Path) -> NewsIndex:
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps(a) + "\n" for a in ARTICLES), encoding="utf-8")
    hash_index.ingest([path])
    return hash_index


def _markers_point_at_their_sentences(answer) -> None:  # noqa: ANN001
    by_marker = {s.marker: s for s in answer.sources}
    for c in answer.citations:
        assert c.sentence in by_marker[c.marker].passage
    for n in re.findall(r"\[(\d+)\]", answer.text):
        assert int(n) in by_marker


def test_a_when_question_leads_with_the_dated_sentence(towns: NewsIndex) -> None:
    answer = towns.ask("When will construction of the Velmora tram line start?", as_of="2022-12-31")
    assert not answer.abstained
    lead = answer.text.split("[1]")[0]
    # The lead names its article, whose date anchors "next year".
    assert lead.startswith("“Velmora approves tram line” (Velmora Post, 1 March 2022): ")
    assert "April next year" in lead
    _markers_point_at_their_sentences(answer)
    source = answer.sources[0]
    a, b = source.highlight
    assert "April next year" in source.passage[a:b]


def test_sources_that_disagree_on_a_number_are_both_shown(towns: NewsIndex) -> None:
    answer = towns.ask("How much will the Velmora tram line cost?", as_of="2022-12-31")
    assert "40 million" in answer.text and "55 million" in answer.text
    assert "Sources differ" in answer.text
    _markers_point_at_their_sentences(answer)


def test_the_answer_reads_more_stories_than_it_lists(towns: NewsIndex) -> None:
    answer = towns.ask("How much will the Velmora tram line cost?", as_of="2022-12-31", top_k=1)
    assert len(answer.hits) == 1
    assert "Sources differ" in answer.text and len(answer.sources) == 2  # the second story is still read


def test_a_question_about_something_absent_is_declined_with_related_passages(towns: NewsIndex) -> None:
    answer = towns.ask("Who won the 2018 Velmora marathon in Kyoto?", as_of="2022-12-31")
    assert answer.abstained and answer.text.startswith(NOT_FOUND)
    assert answer.related and not answer.citations


def test_a_question_about_this_weeks_news_is_not_answered_from_old_articles(towns: NewsIndex) -> None:
    question = "When will construction of the Velmora tram line start, as the mayor said this week?"
    fresh = towns.ask(question, as_of="2022-03-05")
    assert not fresh.abstained and "April next year" in fresh.text
    stale = towns.ask(question, as_of="2022-12-31")  # the tram article is from 1 March
    assert stale.abstained and not stale.citations and stale.related
    assert stale.text.startswith(NOT_FOUND) and "more than a month before 31 December 2022" in stale.text
    # "Today" also means "nowadays": it does not ask for the news of the day.
    assert not towns.ask("When will construction of the Velmora tram line start today?", as_of="2022-12-31").abstained


def test_a_question_about_this_weeks_news_is_answered_from_the_articles_of_its_days(towns: NewsIndex) -> None:
    # Both tram stories answer "how much"; as of 5 May only the auditors' (1 May) is of the question's days: the
    # answer comes from it, not declined because the council's story (1 March) would score best.
    answer = towns.ask("How much will the Velmora tram line cost, as reported this week?", as_of="2022-05-05")
    assert not answer.abstained and "55 million" in answer.text
    assert {s.title for s in answer.sources} == {"Tram line to cost more"}


def test_choices_pick_the_supported_option_and_cite_it(towns: NewsIndex) -> None:
    answer = towns.ask("Which animal did the Velmora zoo welcome?", choices=["A tiger", "A giant panda", "A koala"],
                       as_of="2022-12-31")
    assert answer.choice == "A giant panda" and answer.text.startswith("A giant panda.")
    _markers_point_at_their_sentences(answer)
    none = towns.ask("Which animal did the Velmora zoo welcome?", choices=["A walrus", "A lynx"], as_of="2022-12-31")
    assert none.choice is None and none.abstained and "None of the options" in none.text


def test_options_searched_beside_retrieval_give_the_answer_the_composer_gives_alone(towns: NewsIndex) -> None:
    question = "Which animal did the Velmora zoo welcome: a tiger, a giant panda or a koala?"
    answer = towns.ask(question, as_of="2022-12-31")
    assert answer.choice == "a giant panda" and "options" in answer.timings
    assert "options" not in towns.ask("Which animal did the Velmora zoo welcome?", as_of="2022-12-31").timings
    query = Query.make(question, as_of="2022-12-31", top_k=CHOICE_HITS)
    alone = compose(towns, question, question, query, retrieve(towns, query), (), {})  # searches the options itself
    assert (alone.text, alone.choice, alone.citations) == (answer.text, answer.choice, answer.citations)


def test_a_true_or_false_claim_is_true_when_an_article_states_it_and_undecided_otherwise(towns: NewsIndex) -> None:
    stated = towns.ask("True or false: the Velmora zoo welcomed a giant panda from China.", as_of="2022-12-31")
    assert stated.choice == "True" and stated.text.startswith("True: the retrieved articles report it."), stated.text
    assert [s.article_id for s in stated.sources] == ["zoo"]
    assert "options" not in stated.timings  # no passages are searched for the words "true" and "false"
    _markers_point_at_their_sentences(stated)
    given = towns.ask("The Velmora zoo welcomed a giant panda from China.", choices=["TRUE", "FALSE"],
                      as_of="2022-12-31")
    assert given.choice == "TRUE"
    # Not reported is not false: the articles are not taken to rule out what they do not mention.
    for claim in ("True or false: the Velmora zoo welcomed a walrus from Norway.",
                  "True or false: the Velmora zoo did not welcome a giant panda from China."):
        undecided = towns.ask(claim, as_of="2022-12-31")
        assert undecided.choice is None and undecided.abstained and not undecided.citations, undecided.text
        assert "neither state this claim nor rule it out" in undecided.text and undecided.related
        assert "true" not in undecided.text.lower()  # the answer strings "TRUE" and "FALSE" are not in it


def test_a_hyphenated_number_names_the_option(hash_index: NewsIndex, tmp_path: Path) -> None:
    pilot = {"id": "pilot", "title": "Velmora pilot flies around the world", "published": "2022-08-24",
             "source": "Post", "text": "A 17-year-old pilot from Velmora has flown around the world solo. He was just "
                                       "15 years old when he received his first licence."}
    (tmp_path / "p.jsonl").write_text(json.dumps(pilot) + "\n", encoding="utf-8")
    hash_index.ingest([tmp_path / "p.jsonl"])
    answer = hash_index.ask("How old is the Velmora pilot who has flown around the world solo?",
                            choices=["13", "15", "17", "19"], as_of="2022-12-31")
    assert answer.choice == "17", answer.text


def test_a_hyphenated_name_is_one_name() -> None:
    hits = [_hit("a", "Trade talks", "Leaders of the Asia-Pacific region met in Velmora.", 1.0, 1)]
    assert not _options_named(["Asia", "Africa"], hits)  # "Asia-Pacific" is another place than Asia
    assert _options_named(["Asia-Pacific", "Africa"], hits)
    assert _options_named(["17"], [_hit("b", "Pilot", "A 17-year-old flew solo.", 1.0, 2)])


def test_an_all_these_except_question_picks_the_option_the_articles_leave_out(hash_index: NewsIndex,
                                                                                 tmp_path: Path) -> None:
    festival = {"id": "fest", "title": "Velmora film festival closes", "published": "2022-09-01", "source": "Post",
                "text": "The Velmora film festival showed Harbour Lights, Iron Bridge and Blue Tram this year. "
                        "Harbour Lights won the audience prize."}
    races = {"id": "race", "title": "Celebrities at the races", "published": "2022-09-02", "source": "Post",
             "text": "Stars of Red Moon and Green Hill were seen at the races on Sunday."}
    (tmp_path / "f.jsonl").write_text(json.dumps(festival) + "\n" + json.dumps(races) + "\n", encoding="utf-8")
    hash_index.ingest([tmp_path / "f.jsonl"])
    question = "The Velmora film festival showed all these films except:"
    assert analyze(question, ["Harbour Lights", "Red Moon"]).excluding
    assert not analyze("Which film did the Velmora festival show?", ["Harbour Lights", "Red Moon"]).excluding
    answer = hash_index.ask(question, choices=["Harbour Lights", "Iron Bridge", "Red Moon", "Blue Tram"],
                            as_of="2022-12-31")
    # Red Moon is named too, but by an article about something else.
    assert answer.choice == "Red Moon" and not answer.abstained, answer.text
    assert answer.text.startswith("Red Moon: the retrieved articles name") and "but not Red Moon" in answer.text
    _markers_point_at_their_sentences(answer)
    assert {s.article_id for s in answer.sources} == {"fest"}
    assert len(set(answer.citations)) == len(answer.citations)  # one sentence naming two options: one citation
    undecided = hash_index.ask(question, choices=["Harbour Lights", "Green Hill", "Red Moon"], as_of="2022-12-31")
    assert undecided.choice is None and undecided.abstained
    assert "do not say which one is the exception" in undecided.text


def test_a_number_option_counts_by_the_question_words_next_to_it() -> None:
    from rag.compose.choices import _choice_answer

    text = ("She raised £1m in less than 24 hours for the hospice, and has gone on to raise more than £7m for "
            "cancer research since she launched the fund in Velmora.")
    hit = _hit("a", "Campaigner dies", text, 1.0, 1)
    info = analyze("How much has she raised for cancer research?", ["£1m", "£7m", "£2m"])
    answer = _choice_answer(info, score_candidates(info, [hit]), [hit], {"question": info.text, "search_query": "",
                                                                          "timings": {}, "hits": (hit,)})
    assert answer.choice == "£7m", answer.text


def test_an_option_named_by_an_article_about_something_else_is_not_evidence(hash_index: NewsIndex,
                                                                              tmp_path: Path) -> None:
    expo = {"id": "expo", "title": "Fan convention opens", "published": "2022-09-01", "source": "Post",
            "text": "The convention in Toronto is one of the most popular in North America, with cosplay and games."}
    (tmp_path / "e.jsonl").write_text(json.dumps(expo) + "\n", encoding="utf-8")
    hash_index.ingest([tmp_path / "e.jsonl"])
    answer = hash_index.ask("Which continent will require a common charger: Europe, North America, Asia or Africa?",
                            as_of="2022-12-31")
    assert answer.choice is None and answer.abstained and "None of the options" in answer.text, answer.text


def test_an_option_named_in_a_higher_headline_gets_more_support() -> None:
    headlines = [" squid game season 2 ", " netflix earnings friends reruns "]
    def support(choice: str) -> float:
        return _headline_support(choice_variants(choice), headlines)

    assert support("Squid Game") > support("Friends") > 0
    assert support("Breaking Bad") == 0


def test_the_question_quoted_in_an_article_is_not_its_answer(hash_index: NewsIndex, tmp_path: Path) -> None:
    quiz = {"id": "quiz", "title": "Weekly news quiz", "published": "2022-07-01", "source": "Quiz Desk",
            "text": "Which retailer is accused of turning off the air conditioning in its stores to save money? "
                    "Readers sent many guesses this week.\n\nThe retailer Bed Bath & Beyond was accused of turning "
                    "off the air conditioning in its stores to cut costs."}
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps(quiz) + "\n", encoding="utf-8")
    hash_index.ingest([path])
    answer = hash_index.ask("Which retailer is accused of turning off the air conditioning in its stores to save money?",
                            as_of="2022-07-02")
    assert "Bed Bath & Beyond" in answer.text.split("[1]")[0]
    assert "save money?" not in answer.text


def test_the_first_articles_other_passages_are_candidates_too(hash_index: NewsIndex, tmp_path: Path) -> None:
    paragraphs = [f"Paragraph {i} of the long harbour report says little about the ferry timetable. " * 6
                  for i in range(4)]
    long = {"id": "long", "title": "Harbour report", "published": "2022-03-01", "source": "Velmora Post",
            "text": "\n\n".join(paragraphs)}
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps(long) + "\n", encoding="utf-8")
    hash_index.ingest([path])
    passages = hash_index.store.article_passages("long")
    assert len(passages) >= 3 and [p.ordinal for p in passages] == sorted(p.ordinal for p in passages)
    first = hash_index.ask("What does the harbour report say?", as_of="2022-12-31").hits[0]
    rest = _rest_of_first_article(hash_index, first)
    assert {h.passage.passage_id for h in rest} == {p.passage_id for p in passages} - {first.passage.passage_id}
    assert all(h.article.article_id == "long" and h.score == first.score for h in rest)


def test_captions_and_datelines_rank_below_sentences() -> None:
    assert _shape_penalty("Political activist and philosopher Noam Chomsky") > 0
    assert _shape_penalty("Wikinews interviews Robert Sarvis Saturday, October 19, 2013") > 0
    assert _shape_penalty("Chomsky sat down with Michael Dranove.") == 0
    assert _shape_penalty("“We will keep it,” he said.”") == 0
    # A gallery's caption or a link to another story, however it ends, is no sentence either.
    assert _shape_penalty("Photos: Australian pop star Olivia Newton-John's life in pictures.") > 0
    assert _shape_penalty("Related: Why gas prices are so high.") > 0
    assert _shape_penalty("She said the photos: were hers.") == 0


def test_a_long_run_of_digits_is_scored_at_once_not_taken_apart_as_a_dateline() -> None:
    # The dateline pattern once tried every way to split a digit run into 1-4 digit "days" before failing: a table
    # of numbers in a news article stopped the answer (and the reader's training) for minutes.
    import signal

    def too_slow(*_):  # noqa: ANN002, ANN202
        raise TimeoutError("a digit run took over 5 s to score")

    previous = signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(5)
    try:
        digits = "0123456789" * 8
        hit = _hit("n", "Numbers", f"{digits} in the table. The table holds the results of the count.", 1.0, 1)
        cands = score_candidates(analyze("What does the table hold?"), [hit])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert [c.text for c in cands] == [f"{digits} in the table.", "The table holds the results of the count."]


def _hit(article_id: str, title: str, text: str, score: float, passage_id: int, published: str = "2022-06-01") -> Hit:
    info = ArticleInfo(article_id, title, "", published, "Wire", "", article_id)
    return Hit(Passage(article_id, 0, 0, len(text), text, passage_id), info, score)


def _compose_alone(question: str, hits: list[Hit], today: date, article: tuple[Passage, ...] = ()):  # noqa: ANN202
    """The free-form Answer composed from ``hits`` alone, asked on ``today``: no index behind them but ``article``,
    the passages of the first hit's article."""
    index = SimpleNamespace(store=SimpleNamespace(article_passages=lambda article_id: list(article)))
    return compose(index, question, question, SimpleNamespace(latest=today), hits, (), {})


def test_the_higher_story_wins_a_near_tie_and_an_article_about_none_of_the_names_loses() -> None:
    info = analyze("Which company did Velmora pick to build its tram line?")
    top = _hit("a", "Velmora tram contract", "Velmora picked Arcadia Rail for the job on Monday.", 1.0, 1)
    lower = _hit("b", "Velmora budget", "Velmora will build its tram line with a company, the council said.", 0.5, 2)
    best = max(score_candidates(info, [top, lower]), key=lambda c: c.score)
    assert best.hit is top  # fewer of the question's words, but the story retrieval ranks first
    other_town = _hit("c", "Bus news", "The city will build its tram line with a new company soon.", 1.0, 3)
    best = max(score_candidates(info, [other_town, lower]), key=lambda c: c.score)
    assert best.hit is lower  # the first story names nothing the question names (not Velmora)


def test_sources_agree_only_when_they_report_the_same_news() -> None:
    question = "How many workers did the storm kill at the Velmora harbour?"
    first = _hit("a", "Storm in Velmora", "A storm killed 12 workers at the Velmora harbour on Friday.", 1.0, 1,
                 "2022-06-03")
    same_week = _hit("b", "Velmora storm toll", "The storm killed 12 workers at the Velmora harbour, police said.",
                     0.9, 2, "2022-06-04")
    years_before = _hit("c", "Velmora storm of 2015", "The storm killed 12 workers at the Velmora harbour in 2015.",
                        0.9, 3, "2015-06-01")
    answer = _compose_alone(question, [first, same_week, years_before], date(2022, 12, 31))
    assert "Sources differ" not in answer.text  # both say 12
    agreeing = re.search(r"Reported by 2 sources ((?:\[\d\])+)\.", answer.text)
    assert agreeing, answer.text
    by_marker = {s.marker: s.article_id for s in answer.sources}
    # The 2015 storm is another event, though its sentence says the same.
    assert {by_marker[int(n)] for n in re.findall(r"\d", agreeing[1])} == {"a", "b"}
    _markers_point_at_their_sentences(answer)


def test_an_option_named_only_far_from_the_question_is_given_as_a_guess() -> None:
    question = "Which animal did the Velmora zoo welcome on Friday?"
    index = SimpleNamespace(embedder=None)  # evidence for the options given: no search, no embedding
    zoo = _hit("a", "Velmora zoo news", "The Velmora zoo welcomed a new arrival on Friday, keepers said.", 1.0, 1)
    far = _hit("b", "Harbour fair", "On Friday, children at the harbour fair in Ostrava drew a koala.", 1.0, 2)
    guess = compose(index, question, question, None, [zoo], ["Koala", "Walrus"], {}, [far])
    assert guess.choice == "Koala" and guess.text.startswith("Koala, as a guess:"), guess.text
    _markers_point_at_their_sentences(guess)
    near = _hit("c", "Velmora zoo welcomes koala", "The Velmora zoo welcomed a koala on Friday.", 1.0, 3)
    sure = compose(index, question, question, None, [zoo], ["Koala", "Walrus"], {}, [near])
    assert sure.choice == "Koala" and sure.text.startswith("Koala. "), sure.text


def test_the_articles_date_is_part_of_a_sentences_context() -> None:
    info = analyze("Where did the stampede of January 2006 happen?")
    june = _hit("a", "Stampede", "The stampede happened at the bridge near the square.", 1.0, 1, "2005-06-01")
    january = _hit("b", "Stampede", "The stampede happened at the gate near the square.", 1.0, 2, "2006-01-12")
    best = max(score_candidates(info, [june, january]), key=lambda c: c.score)
    assert best.hit is january


def test_what_happened_is_answered_by_the_articles_first_sentence() -> None:
    text = ("Crowds near the harbour in 2008.\n\nA storm brought down a crane on Friday, killing three workers at the "
            "harbour, officials said.\n\nThe crane in Velmora had stood there for ten years.")
    hit = _hit("a", "Storm topples crane", text, 1.0, 1)
    lead = "A storm brought down a crane on Friday, killing three workers at the harbour, officials said."
    for question, expected in (("What happened in Velmora?", lead),
                               ("How long had the crane stood in Velmora?", "The crane in Velmora had stood there "
                                                                             "for ten years.")):
        best = max(score_candidates(analyze(question), [hit]), key=lambda c: c.score)
        assert best.text == expected, question


def test_a_line_that_is_only_a_date_is_not_a_candidate() -> None:
    info = analyze("When did Velmora open its tram line?")
    hit = _hit("a", "Tram", "Friday, July 21, 2017\n\nVelmora opened its tram line in May.", 1.0, 1)
    assert [c.text for c in score_candidates(info, [hit])] == ["Velmora opened its tram line in May."]


def test_question_names_are_the_capitalized_words_and_years_that_pin_it() -> None:
    assert list(question_names("Why did Velmora’s council make a U-turn on the U.S. tram deal in 2019 for 41 million?")
                .values()) == ["Velmora’s", "2019"]
    # What describes the answer right after "which" / "what" is not what the question is about, and a stopword with
    # a possessive is no name; "-area" joins the suffixes ("an MIT-led study" names MIT).
    assert set(question_names("Which Texas city did the FAA close to flights, the Velmora Times asked?").values()) \
        == {"FAA", "Velmora", "Times"}
    assert question_names("What did Trump say about Texas?") == {"trump": "Trump", "texa": "Texas"}
    assert question_names("Where did the fire at a New Year’s party in Crans-Montana start?") == {
        "crans-montana": "Crans-Montana"}
    assert list(question_names("Why was a Velmora-area airport shut?").values()) == ["Velmora"]


def test_options_written_into_the_question_are_read() -> None:
    assert parse_choices("Which continent will require a common charger: Europe, North America, Asia or Africa?") == (
        "Europe", "North America", "Asia", "Africa")
    assert parse_choices("Who founded LibriVox?") == ()


def test_choice_variants_match_how_articles_write_numbers() -> None:
    assert " 9 years " in choice_variants("Nine years")
    assert " 38 percent " in choice_variants("38%")
    assert " gbp 7 million " in choice_variants("£7m")
    # A percentage, a decimal and a sum are one thing each: "40%" is not the 40 of "40 years", "8%" not the 8 of
    # "7.8%" or "eight months", "$1 million" not "1 million doses".
    assert choice_variants("8%") == {" 8 percent ", " eight percent ", " eight per cent "}
    assert choice_variants("$1 million") == {" usd 1 million "}
    assert choice_variants("8.5%") == {" 8point5 percent "}
    text = "Prices rose 7.8% in the first eight months, the highest in 40 years; 1 million doses came at $22.50."
    hits = [_hit("a", "Prices", text, 1.0, 1)]
    assert not any(_options_named([option], hits) for option in ["8%", "40%", "$1 million", "$22", "78%"])
    assert all(_options_named([option], hits) for option in ["7.8%", "40 years", "$22.50", "7.8 percent"])


@pytest.mark.parametrize(("question", "kind"), [
    ("When will the systems be installed?", "when"), ("Who heads the directorate?", "who"),
    ("Where was the document found?", "where"), ("How many people died?", "how_many"),
    ("How much does it cost?", "how_much"), ("Why did they leave?", "why"), ("Which team won?", "which"),
    ("What did he say?", "what"), ("Is the panda female?", "yes_no"), ("In what year did it open?", "when"),
    # The first cue of the sentence that asks, unless a later one names what is asked.
    ("Who was the editor when the paper was sold?", "who"), ("Which lawyer did he reach when he called?", "which"),
    ("Kyiv marks the date, which fell on a Sunday, of its split in which year?", "when"),
    ("A storm hit the coast on Sunday. Where did it land?", "where"),
])
def test_question_kinds(question: str, kind: str) -> None:
    assert question_kind(question) == kind


def test_question_analysis_finds_names_and_terms() -> None:
    info = analyze("When will Turkey's S-400 systems be fully installed?")
    assert info.kind == "when" and {"Turkey", "S-400"} <= set(info.entities) and "installed" in info.terms


@pytest.mark.parametrize(("question", "history", "expected"), [
    ("When was he interviewed?", ["What did Noam Chomsky say about Obama?"], "When was Noam Chomsky interviewed?"),
    ("What about Belgium?", ["How many points did Sweden win in the World Cup?"],
     "How many points did Belgium win in the World Cup?"),
    ("What about Russia?", ["When will Turkey's S-400 systems be fully installed?"],
     "When will Russia's S-400 systems be fully installed?"),
    ("Who will install them?", ["When will Turkey's S-400 systems be fully installed?"], "Who will install S-400 systems?"),
    ("Who is the president of France?", ["Who founded LibriVox?"], "Who is the president of France?"),
    ("Who founded LibriVox?", [], "Who founded LibriVox?"),
])
def test_follow_ups_are_rewritten_and_standalone_questions_are_not(question: str, history: list[str],
                                                                   expected: str) -> None:
    assert rewrite(question, history) == expected


def test_missing_names_ignore_sentence_starts_and_stopwords(towns: NewsIndex) -> None:
    hits = towns.ask("What did the council of Velmora approve?", as_of="2022-12-31").hits
    assert missing_names("What did the council of Velmora approve?", hits) == []
    assert missing_names("What did the council of Velmora approve in 2019 with Kyoto?", hits) == ["2019", "Kyoto"]
    # One name however written; no single letters ("U.S."); amounts are reported rounded, so they are not held
    # against the articles.
    assert missing_names("What did Velmora and Kyoto’s council approve with Kyoto for U.S. 41 million?", hits) == [
        "Kyoto’s"]


def test_names_count_however_the_articles_write_them() -> None:
    hits = [_hit("a", "Browser report", "Security firm Secunia.com counted 277 flaws. A team from the Massachusetts "
                 "Institute of Technology and the University of North Carolina agreed. A record 45,756 migrants "
                 "crossed last year.", 1.0, 1, "2023-02-23")]
    # A web address names its firm, an acronym is written out, "-led" is not part of a name, and "last year"
    # in an article of 2023 is 2022.
    question = "Did Secunia, an MIT-led team, UNC and the 2022 migrants agree?"
    assert missing_names(question, hits) == []
    assert missing_names("Did the BBC and the 2021 migrants agree?", hits) == ["BBC", "2021"]
    assert question_names("Was the MIT-led study published?") == {"mit": "MIT"}


def test_names_and_years_are_looked_for_in_the_whole_first_article() -> None:
    # Retrieval shows the story by its first passage; the year is in a later one, which the composer reads too.
    first = _hit("g", "Wheelchair basketball player Tina McKenzie interviewed",
                 "Tina McKenzie played for the Gliders, Australia's national wheelchair basketball team.", 1.0, 1)
    later = Passage("g", 1, 0, 0, "At the 2006 World Cup the Gliders finished fourth, McKenzie said.", 2)
    question = "Where did the Gliders finish at the 2006 World Cup, according to McKenzie?"
    answer = _compose_alone(question, [first], date(2014, 12, 31), (first.passage, later))
    assert not answer.abstained and "fourth" in answer.text, answer.text
    _markers_point_at_their_sentences(answer)


def test_a_count_from_another_time_does_not_answer_the_question() -> None:
    text = ("Cyclone Phailin reached the coast of Velmora on Saturday. A previous cyclone in 1999 on the Velmora "
            "coast left 10,000 people dead.")
    hit = _hit("c", "Cyclone Phailin hits Velmora", text, 1.0, 1, "2013-10-14")
    for question in ("How many people did Cyclone Phailin kill in Velmora?",
                     "How many people did Cyclone Phailin kill in Velmora in 2013?"):
        answer = _compose_alone(question, [hit], date(2014, 12, 31))
        assert answer.abstained and answer.text.startswith(NOT_FOUND), answer.text
    # A count in the years' range is no year.
    museum = _hit("m", "Velmora opens a quilt museum", "The quilt museum of Velmora opened with 1881 exhibits.", 1.0, 2,
                  "2024-03-01")
    question = "How many exhibits does the museum of Velmora have?"
    answer = _compose_alone(question, [museum], date(2024, 12, 31))
    assert not answer.abstained and "1881" in answer.text, answer.text
    # Asked about 1999, the same sentence answers.
    question = "How many people did the 1999 cyclone kill in Velmora?"
    answer = _compose_alone(question, [hit], date(2014, 12, 31))
    assert not answer.abstained and "10,000" in answer.text, answer.text


def test_a_sentence_holding_what_is_asked_wins_a_near_tie_and_a_share_needs_a_percentage() -> None:
    text = ("Valeska Paris, a former Scientologist from Velmora, claims she was held aboard the cruise ship Freewinds "
            "for twelve years. In 2007, Paris left the ship after a confrontation.")
    hit = _hit("p", "Woman says she was held on cruise ship", text, 1.0, 1, "2011-12-02")
    question = "In what year did Valeska Paris leave the cruise ship Freewinds?"
    answer = _compose_alone(question, [hit], date(2012, 12, 31))
    assert answer.text.split("[1]")[0].endswith("In 2007, Paris left the ship after a confrontation. "), answer.text
    question = "What share of the vote did Valeska Paris win in Velmora?"
    answer = _compose_alone(question, [hit], date(2012, 12, 31))
    assert answer.abstained, answer.text


def test_a_duration_is_no_count_of_people() -> None:
    text = ("The crane accident in Velmora comes just ten days before the festival. A storm caused the crane to fall "
            "in Velmora, killing 107 or more.")
    hit = _hit("c", "Crane collapse in Velmora", text, 1.0, 1)
    best = max(score_candidates(analyze("How many people died in the Velmora crane accident?"), [hit]),
               key=lambda c: c.score)
    assert "107" in best.text
    best = max(score_candidates(analyze("How many days before the festival was the Velmora crane accident?"), [hit]),
               key=lambda c: c.score)
    assert "ten days" in best.text


def test_a_country_is_mentioned_by_its_demonym() -> None:
    hits = [_hit("a", "Greek court rules worship of ancient deities is legal", "About 100,000 Greeks worship "
                 "the old gods. The Swiss and Dutch envoys and a Welsh choir came.", 1.0, 1)]
    question = "Is worship legal in Greece, Switzerland, the Netherlands, Wales and Kyoto’s Japan?"
    assert missing_names(question, hits) == ["Kyoto’s", "Japan"]
    assert missing_names("Did Germany’s envoy come?", hits) == ["Germany’s"]


def test_the_person_an_answer_names_fills_in_he_after_a_who_question() -> None:
    assert asks_after_person("When was he interviewed?", ["Who founded LibriVox?"])
    assert asks_after_person("Where did she study?", ["Which person leads the agency?", "Who replaced him?"])
    assert not asks_after_person("When was it founded?", ["Who founded LibriVox?"])  # "it" is LibriVox
    assert not asks_after_person("When was he interviewed?", ["What did Noam Chomsky say?"])  # not a who question
    assert not asks_after_person("What about Belgium?", ["Who won in Sweden?"])
    answer = ("“Interview with LibriVox founder Hugh McGuire” (Wikinews, 28 May 2006): The LibriVox website "
              "features a catalog of about a hundred completed books. [1]")
    assert person_named(answer, "Who founded LibriVox?") == "Hugh McGuire"
    assert person_named("“Ismail Demir said so” (Sputnik): Ismail Demir, head of the directorate, said it.",
                        "Who heads it?") == "Ismail Demir"
    assert person_named("The New York Times said Demir left.", "Who left the Times?") == ""
    # Organisations, places and events are not the person a "he" or "she" stands for.
    assert person_named("New York Times reporters said the Supreme Court heard Anna Kovac.", "Who?") == "Anna Kovac"
    assert person_named("South Korea beat Sweden on Monday Night Football, said coach Paulo Bento.",
                        "Who won?") == "Paulo Bento"
    assert rewrite("When was he interviewed?", ["Who founded LibriVox?"], "Hugh McGuire") == (
        "When was Hugh McGuire interviewed?")
    assert rewrite("What was his job?", ["Who founded LibriVox?"], "Hugh McGuire") == "What was Hugh McGuire's job?"


def test_trim_keeps_the_clauses_that_answer() -> None:
    info = analyze("When will the systems be fully installed?")
    long = ("The first of the divisions has already been delivered to the base near the capital after months of "
            "talks; now training is in progress, and in April next year, the systems will be fully installed; "
            "the second division is still being negotiated between the two governments and their industries.")
    short = trim(info, long)
    assert "April next year" in short and len(short.split()) < len(long.split())
    assert trim(info, "The systems will be fully installed in April.") == "The systems will be fully installed in April."


def test_a_year_or_model_number_the_answering_article_lacks_is_declined(towns: NewsIndex, tmp_path: Path) -> None:
    # The tram articles are of 2022 and name no "Line 7": asked about 2019, or about another line, the same
    # well-matching sentences answer another question, even when another article names that year and line.
    bus = {"id": "bus", "title": "Bus rerouted", "published": "2019-06-01", "source": "Harbour News",
           "text": "Bus Line 7 was rerouted in 2019 because of road works near the harbour."}
    (tmp_path / "bus.jsonl").write_text(json.dumps(bus) + "\n", encoding="utf-8")
    towns.ingest([tmp_path / "bus.jsonl"])
    answered = towns.ask("When will construction of the Velmora tram line start?", as_of="2022-12-31")
    assert not answered.abstained
    for question in ("When will construction of the Velmora tram line start in 2019?",
                     "When will construction of Velmora tram Line 7 start?"):
        answer = towns.ask(question, as_of="2022-12-31")
        assert answer.abstained, answer.text
        assert answer.text.startswith(NOT_FOUND)


def test_specifics_are_years_and_numbers_that_belong_to_a_name() -> None:
    from rag.compose.names import _specifics

    found = [shown for q in ("Who won the 2022 FIFA World Cup final?", "When did Microsoft release Internet Explorer 11?",
                             "When will Turkey get its Su-57 jets?", "England beat Norway 8-0 on March 5, aged 77?",
                             "A Commanders 50/50 raffle won 13% of $250 million?")
             for shown, _ in _specifics(q)]
    assert found == ["2022", "Explorer 11", "Su-57"]


def test_a_price_question_is_not_answered_by_a_sentence_without_money(towns: NewsIndex) -> None:
    assert not towns.ask("How much will the Velmora tram line cost?", as_of="2022-12-31").abstained
    answer = towns.ask("How much did the Velmora zoo pay for the giant panda from China?", as_of="2022-12-31")
    assert answer.abstained, answer.text


def test_descriptive_options_no_article_names_are_chosen_by_meaning_and_say_so(towns: NewsIndex) -> None:
    options = ["Money from the city council", "An animal from China", "A new director from Kyoto"]
    answer = towns.ask("What did the Velmora zoo get on Friday?", choices=options, as_of="2022-12-31")
    assert answer.choice == "An animal from China"
    assert answer.text.startswith("An animal from China, judging by meaning: the retrieved articles name none")
    assert "giant panda" in answer.citations[0].sentence
    _markers_point_at_their_sentences(answer)
    # Options that name things are not guessed by meaning: an article would name the right one.
    named = towns.ask("Which animal did the Velmora zoo welcome?", choices=["A walrus", "A lynx"], as_of="2022-12-31")
    assert named.choice is None and "judging by meaning" not in named.text


def test_number_words_count_for_how_many_and_durations_only_for_how_long() -> None:
    injured = analyze("How many people were injured?")
    assert _has_count(injured, "Seventy people were taken to hospital.")
    assert _has_count(injured, "Thirteen were hurt, two of them badly.")
    assert not _has_count(injured, "It happened fifteen days before the final.")  # a duration is not the count asked
    assert _has_count(analyze("How many days did the strike last?"), "The strike lasted fifteen days.")


@pytest.mark.parametrize(("title", "news"), [
    ("TSA workers say they're sleeping in cars amid shutdown - USA Today",
     "TSA workers say they're sleeping in cars amid shutdown"),
    ("Fed holds rates steady | CNN Business", "Fed holds rates steady"),
    ("Ukraine talks resume - The Week UK", "Ukraine talks resume"),
    ("Markets slide - CNN ...", "Markets slide"),
    ("Robocalls are getting smarter - and how to stop them", "Robocalls are getting smarter - and how to stop them"),
    ("Velmora bridge reopens after repairs", "Velmora bridge reopens after repairs"),
])
def test_a_headline_is_read_without_its_publishers_name(title: str, news: str) -> None:
    assert headline_news(title) == news


def test_a_second_sentence_that_leans_on_the_first_follows_it_alone() -> None:
    """"He highlighted..." would come with the sentence before it; when that is the sentence the answer has just
    given, it follows it as it is, instead of repeating it."""
    text = ("The regulator may issue a draft permit for one of the city's groundwater wells on March 13, the city "
            "manager said. He highlighted ongoing water supply projects, including two groundwater well fields.")
    info = analyze("What may the regulator issue for the city's groundwater wells?")
    first, second = score_candidates(info, [_hit("w", "Water", text, 1.0, 1)])
    assert _sentence(second, info, _Cited()).startswith("The regulator may issue")  # alone, it takes its context
    assert _sentence(second, info, _Cited(), after=first).startswith("He highlighted")


def test_a_second_sentence_that_adds_nothing_is_not_given() -> None:
    info = analyze("When is the next general election due?")
    long, short, more = score_candidates(info, [
        _hit("a", "Election", "The next general election is due to take place no later than January 2025, but a new "
                              "prime minister may ask for a new mandate.", 1.0, 1),
        _hit("b", "Election", "The next general election is due to take place no later than January 2025.", 0.9, 2),
        _hit("c", "Election", "The next general election is due in January 2025, the Electoral Commission said "
                              "on Tuesday.", 0.8, 3)])
    assert adds_nothing(short, long) and not adds_nothing(long, short)
    assert not adds_nothing(more, long)  # it says who said so, and when
