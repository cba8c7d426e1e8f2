"""The reader: shipped weights read the seed article offline, a tiny training run goes end to end, calibration and
span decoding are exact."""

from __future__ import annotations

import gzip
import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from rag.chunk import sentence_spans
from rag.reader import SentenceInput, data, load_reader
from rag.reader.asked import asked_groups
from rag.reader.calibration import Platt, abstention_rate, abstention_threshold, fit_platt
from rag.reader.data import Candidate, TrainQuestion, answer_span, groups, holds_answer, unanswerable_group
from rag.reader.features import Encoder, best_span, token_span, whole_words
from rag.reader.train import TrainSettings, default_base, train

SEED = Path(__file__).resolve().parent.parent / "rag" / "data" / "demo" / "seed-s400.txt"
SEED_TITLE = "Russia and Turkey will start joint production of S-400 defense system and transfer of technologies"


# --- calibration ---------------------------------------------------------------------------------------------

def test_platt_recovers_the_mapping_that_made_the_labels() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, 20000)
    labels = rng.random(20000) < 1 / (1 + np.exp(-(1.5 * logits - 0.7)))
    platt = fit_platt(logits, labels.astype(int))
    assert platt.a == pytest.approx(1.5, abs=0.08)
    assert platt.b == pytest.approx(-0.7, abs=0.08)
    probs = platt.probability([-10.0, 0.0, 10.0])
    assert probs[0] < 0.01 < probs[1] < 0.99 < probs[2]


def test_platt_needs_both_labels_and_a_known_method() -> None:
    with pytest.raises(ValueError, match="both positive and negative"):
        fit_platt([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="Must be 'platt'"):
        Platt.from_config({"method": "isotonic"})
    assert Platt.from_config(Platt(2.0, -1.0).to_config()) == Platt(2.0, -1.0)


def test_threshold_declines_at_most_the_allowed_share_of_answerable_questions() -> None:
    best = [i / 100 for i in range(100)]
    t = abstention_threshold(best, 0.05)
    assert abstention_rate(best, t) == pytest.approx(0.05)
    assert abstention_rate(best, t + 0.01) > 0.05
    assert abstention_threshold([0.9], 0.05) == 0.9  # one question: never declined


# --- span decoding --------------------------------------------------------------------------------------------

def test_best_span_keeps_start_before_end_inside_the_sentence_and_short() -> None:
    offsets = [(-1, -1), (0, 5), (6, 10), (11, 15), (16, 20), (-1, -1)]
    start = np.array([9.0, 0.0, 1.0, 0.0, 0.0, 9.0])  # the specials score highest: never chosen
    end = np.array([9.0, 0.0, 0.0, 0.0, 2.0, 9.0])
    span, score = best_span(start, end, offsets, max_tokens=12)
    assert span == (6, 20) and score == pytest.approx(3.0)
    span, _ = best_span(start, end, offsets, max_tokens=2)  # tokens 2..4 are 3 apart: too long
    assert span in {(6, 15), (11, 20), (16, 20), (6, 10)}
    backwards = best_span(np.array([0, 0, 0, 5.0]), np.array([0, 5.0, 0, 0]), [(-1, -1), (0, 3), (4, 7), (8, 9)])
    assert backwards[0][0] <= backwards[0][1]
    assert best_span(np.zeros(3), np.zeros(3), [(-1, -1)] * 3) is None


def test_best_span_skips_the_spans_it_is_told_to_and_falls_back_to_the_best() -> None:
    offsets = [(-1, -1), (0, 3), (4, 7), (8, 11)]
    start, end = np.array([0, 5.0, 4.0, 0]), np.array([0, 5.0, 0, 4.0])
    assert best_span(start, end, offsets)[0] == (0, 3)
    assert best_span(start, end, offsets, allowed=lambda span: span != (0, 3))[0] == (0, 11)  # the next best
    assert best_span(start, end, offsets, allowed=lambda span: span[0] > 0)[0] == (4, 11)
    assert best_span(start, end, offsets, allowed=lambda span: False)[0] == (0, 3)  # none allowed: the best


def test_a_span_that_repeats_the_question_is_not_an_answer() -> None:
    from rag.reader.model import _repeats
    from rag.text import stems

    asked = stems("“The Testaments” arrived on TV as a sequel to which hit show?")
    assert _repeats(asked, "The Testaments") and _repeats(asked, "the hit TV show")
    assert not _repeats(asked, "The Handmaid’s Tale") and not _repeats(asked, "the")  # no content word: kept


def test_token_offsets_map_a_span_back_to_the_sentences_characters() -> None:
    enc = Encoder(default_base() / "tokenizer.json")
    sentence = "Now training is in progress, and in April next year, the systems will be fully installed."
    batch = enc.encode("When will the S-400 systems be fully installed?",
                       [SentenceInput(sentence, "Russia and Turkey", "2019-12-14")])
    start, end = answer_span(["April next year"], sentence)
    first, last = token_span(batch.offsets[0], start, end)
    logits = np.full(batch.input_ids.shape[1], -5.0)
    s_logits, e_logits = logits.copy(), logits.copy()
    s_logits[first], e_logits[last] = 5.0, 5.0
    (s, e), _ = best_span(s_logits, e_logits, batch.offsets[0])
    assert sentence[s:e] == "April next year"
    # the headline and date are read but never marked: their tokens carry no sentence offsets
    assert sum(o[0] >= 0 for o in batch.offsets[0]) < batch.attention_mask[0].sum() - 10


def test_a_span_is_widened_to_the_whole_words_it_cuts() -> None:
    text = "Some 1,426 pilgrims died in Phailin's wake, 3.5 times more."
    assert text[slice(*whole_words(text, (8, 10)))] == "1,426"  # the tokenizer's "426" of "1", ",", "426"
    assert text[slice(*whole_words(text, (28, 31)))] == "Phailin"  # a word piece
    assert text[slice(*whole_words(text, (44, 46)))] == "3.5"
    assert whole_words(text, (5, 10)) == (5, 10) and whole_words(text, (0, 4)) == (0, 4)
    assert text[slice(*whole_words(text, (42, 46)))] == ", 3.5"  # a comma between words joins nothing


def test_answer_matching_is_on_word_boundaries() -> None:
    assert holds_answer(["Iraq"], "They protested US airstrikes in Iraq and Syria.")
    assert not holds_answer(["Iran"], "Pro-Iranian demonstrators stormed the embassy.")
    assert answer_span(["the Patriot"], "Ankara would still buy Patriot missiles.") == (23, 30)
    assert answer_span(["Iran"], "Pro-Iranian demonstrators") is None


def _question(answers: tuple[str, ...], evidence: str = "") -> TrainQuestion:
    return TrainQuestion("q", "Where will the lantern festival move next spring?", answers, (), "2025-03-01", evidence,
                         ("a",))


_ARTICLE = {"a": {"title": "Festival moves", "published": "2025-03-01", "text": (
    "The lantern festival drew large crowds this weekend.\n\nOrganisers said the lantern festival will move next "
    "spring.\n\nTickets for the lantern festival sold out within hours.\n\nShops reported record sales during the "
    "event.\n\nThe mayor thanked the volunteers who cleaned the streets.")}}


def test_unanswerable_groups_come_only_where_the_articles_surely_lack_the_answer() -> None:
    rng = random.Random(0)
    assert groups(_question(("Velmora",)), _ARTICLE, rng) == []  # off by default: v2's recipe
    [group] = groups(_question(("Velmora",)), _ARTICLE, rng, unanswerable=True)
    assert not group.answerable and len(group.items) == 4 and not any(c.label for c in group.items)
    # the sentences that restate the question most come first
    assert group.items[0].sentence.text == "Organisers said the lantern festival will move next spring."
    # an evidence passage is written to state the answer: missing it there is a paraphrase, not a lack
    assert groups(_question(("Velmora",), evidence="It moves to the old harbour town."), _ARTICLE, rng,
                  unanswerable=True) == []
    # numbers are written as digits or words: not finding "3" does not show that "three" is absent
    assert groups(_question(("3 days",)), _ARTICLE, rng, unanswerable=True) == []
    assert groups(_question(("three",)), _ARTICLE, rng, unanswerable=True) == []
    # an answerable question still gives answerable groups only
    answered = groups(_question(("the volunteers",)), _ARTICLE, rng, unanswerable=True)
    assert answered and all(g.answerable for g in answered)


def test_headline_groups_read_the_headline_that_states_the_answer_as_a_sentence() -> None:
    article = {"a": {**_ARTICLE["a"], "title": "Lantern festival moves to the old harbour - USA Today"}}
    question = _question(("the old harbour",))
    # off by default (version 4's recipe): the headline is context, never a candidate
    plain = groups(question, {"a": {**article["a"], "text": _ARTICLE["a"]["text"] + "\n\nIt moves to the old "
                                                               "harbour, they said."}}, random.Random(0))
    assert plain and not any(c.headline for g in plain for c in g.items)
    both = groups(question, {"a": {**article["a"], "text": _ARTICLE["a"]["text"] + "\n\nIt moves to the old "
                                                              "harbour, they said."}}, random.Random(0),
                  headlines=True)
    assert len(both) == len(plain) + 1
    head = both[-1].items[0]
    # read without its publisher, as asking reads it, with the answer marked; its negatives are sentences
    assert head.headline and head.sentence.text == head.sentence.title == "Lantern festival moves to the old harbour"
    assert head.sentence.text[slice(*head.span)] == "the old harbour" and head.label == 1
    assert not any(c.headline for c in both[-1].items[1:])
    # a headline alone, with no sentence that states the answer, gives no group: nothing to teach the span head
    assert groups(question, article, random.Random(0), headlines=True) == []


def test_unanswerable_group_needs_enough_sentences() -> None:
    few = [Candidate(SentenceInput("One sentence only here.", "", None), 0, None, False, 0.5)]
    assert unanswerable_group(_question(("Velmora",)), few, random.Random(0)) is None


def _read(*labels: int) -> list[Candidate]:
    return [Candidate(SentenceInput(f"Sentence number {i} of the shortlist.", "", None), label, None, False, 0.5)
            for i, label in enumerate(labels)]


def test_asked_groups_take_the_shortlists_answer_and_its_hardest_others() -> None:
    rng = random.Random(0)
    read = _read(0, 0, 1, 0, 0, 0, 0, 0, 0, 1)
    found = asked_groups(_question(("Velmora",)), read, rng)
    assert len(found) == 2 and all(g.answerable and len(g.items) == 4 for g in found)
    assert [g.items[0] for g in found] == [read[2], read[9]]
    for g in found:
        negatives = g.items[1:]
        assert not any(c.label for c in negatives) and len(set(negatives)) == 3
        hardest = [c for c in read if not c.label][:6]
        assert sum(c in hardest for c in negatives) >= 2  # two of the hardest six, one of the rest
    # nothing read holds the answer: one unanswerable group of the four hardest, unless the answer is a number
    [none] = asked_groups(_question(("Velmora",)), _read(0, 0, 0, 0, 0), rng)
    assert not none.answerable and [c.sentence.text for c in none.items] == [c.sentence.text for c in _read(0, 0, 0, 0)]
    assert asked_groups(_question(("3 days",)), _read(0, 0, 0, 0, 0), rng) == []
    assert asked_groups(_question(("Velmora",)), _read(0, 0, 0, 0, 0), rng, unanswerable=False) == []
    assert asked_groups(_question(("Velmora",)), _read(1, 0, 0), rng) == []  # too few negatives


# --- the shipped model ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shipped():  # noqa: ANN201
    return load_reader()


@pytest.fixture(scope="module")
def seed_sentences() -> list[SentenceInput]:
    text = SEED.read_text(encoding="utf-8")
    return [SentenceInput(" ".join(text[s:e].split()), SEED_TITLE, "2019-12-14") for s, e in sentence_spans(text)
            if len(text[s:e].split()) >= 4]


# Known limit of the shipped model (docs/reader.md): on the seed article it ranks the headline-like lead sentence
# first for "when" and "how many" (version 4 exported with one scale per tensor put "two consignments" first by
# 0.0003; its fp32 weights and the per-channel export do not). The composer's rules beside it answer both (the seed
# tests of test_eval.py); strict, so that a model that fixes it makes these tests fail until they are turned back
# into plain ones.
_SEED_MISS = pytest.mark.xfail(strict=True, reason="shipped reader ranks the lead sentence first (docs/reader.md)")


@pytest.mark.parametrize(("question", "answer"), [
    pytest.param("When will the S-400 systems be fully installed in Turkey?", "April", marks=_SEED_MISS),
    ("Who is the head of Turkey's Defence Industry Directorate?", "Ismail Demir"),
    pytest.param("How many divisions are covered by Turkey's S-400 acquisition agreement with Russia?", "two",
                 marks=_SEED_MISS),
])
def test_shipped_reader_picks_the_answering_sentence_of_the_seed_article(shipped, seed_sentences, question: str,
                                                                         answer: str) -> None:  # noqa: ANN001
    readings = shipped.read(question, seed_sentences)
    assert len(readings) == len(seed_sentences)
    assert all(0.0 <= r.score <= 1.0 for r in readings)
    top = max(range(len(readings)), key=lambda i: readings[i].score)
    assert holds_answer([answer], seed_sentences[top].text), seed_sentences[top].text
    assert readings[top].score >= shipped.threshold


def test_shipped_reader_marks_the_short_answer(shipped, seed_sentences) -> None:  # noqa: ANN001
    question = "When will the S-400 systems be fully installed in Turkey?"
    answering = next(s for s in seed_sentences if "April next year" in s.text)
    (reading,) = shipped.read(question, [answering])
    s, e = reading.span
    assert "April" in answering.text[s:e]
    assert reading.span_score is not None and reading.span_score > 3.0  # sure of it: the sentence states it


def test_shipped_reader_chooses_the_stated_option(shipped, seed_sentences) -> None:  # noqa: ANN001
    options = ["January", "April", "June", "December"]
    probs = shipped.choose("By which month should the first S-400 batch be ready to operate in Turkey?", options,
                           seed_sentences)
    assert len(probs) == 4 and sum(probs) == pytest.approx(1.0)
    assert options[int(np.argmax(probs))] == "April"


def test_shipped_model_directory_is_complete_and_small() -> None:
    from rag.reader.base import SHIPPED

    config = json.loads((SHIPPED / "config.json").read_text(encoding="utf-8"))
    assert config["calibration"]["method"] == "platt" and 0.0 < config["threshold"] < 1.0
    assert (SHIPPED / "model.onnx").stat().st_size <= 50 * 1024 * 1024
    assert (SHIPPED / "README.md").exists() and (SHIPPED / "tokenizer.json").exists()


def test_missing_reader_directory_names_the_fix(tmp_path: Path) -> None:
    from rag.errors import RagError

    with pytest.raises(RagError, match="train-reader"):
        load_reader(tmp_path)


# --- a tiny training run, end to end --------------------------------------------------------------------------

def _tiny_data(folder: Path) -> None:
    """Made-up quizzes over made-up articles: the city a fictional festival moved to, one question a week."""
    rng = random.Random(3)
    cities = ["Velmora", "Ostrand", "Kelbury", "Marrowgate", "Tessaly", "Quillon", "Brask", "Dunmere"]
    questions, articles = [], []
    for i in range(24):
        city, *others = rng.sample(cities, 4)
        year = "2026" if i >= 18 else "2025"
        aid = f"art-{i}"
        text = (f"The lantern festival number {i} drew large crowds this weekend.\n\n"
                f"Organisers said the lantern festival will move to {city} next spring.\n\n"
                f"Tickets for the lantern festival sold out within hours of going on sale.\n\n"
                f"Local shops in {others[0]} reported record sales during the event.")
        articles.append({"id": aid, "title": f"Festival {i} moves", "text": text, "url": "",
                         "published": f"{year}-03-{i % 28 + 1:02d}", "source": "test"})
        questions.append({"id": f"q{i}", "question": f"Where will lantern festival number {i} move next spring?",
                          "answers": [city], "choices": [city, *others], "as_of": f"{year}-03-{i % 28 + 1:02d}",
                          "asked_by": "test", "evidence": f"The festival is moving to {city}.",
                          "doc_ids": [aid], "gold_doc_ids": []})
    (folder / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions), encoding="utf-8")
    with gzip.open(folder / "corpus.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(a) + "\n" for a in articles)


def _tiny_base(folder: Path) -> None:
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(folder)
    shutil.copy(default_base() / "tokenizer.json", folder / "tokenizer.json")


def test_listwise_loss_skips_groups_without_an_answer() -> None:
    torch = pytest.importorskip("torch")
    from rag.reader.train import _loss

    relevance = torch.tensor([3.0, 0.0, 0.0, 0.0, -9.0, 5.0, 0.0, 0.0])  # group 2 has no answer; its 5.0 is wrong

    def net(**_batch):  # noqa: ANN003, ANN202
        return relevance, torch.zeros(8, 4), torch.zeros(8, 4)

    batch = {"token_type_ids": torch.ones(8, 4, dtype=torch.long)}
    no_span = torch.full((8,), -100)
    s = TrainSettings(pointwise_weight=0.0, span_weight=0.0)
    labels = torch.tensor([1.0, 0, 0, 0, 0, 0, 0, 0])
    _, listwise, _ = _loss(net, batch, labels, no_span, no_span, 4, s)
    expected = torch.nn.functional.cross_entropy(relevance[:4].view(1, 4), torch.zeros(1, dtype=torch.long))
    assert torch.isclose(listwise, expected)
    _, listwise, _ = _loss(net, batch, torch.zeros(8), no_span, no_span, 4, s)
    assert listwise.item() == 0.0
    # the pointwise term still sees the unanswerable group: its wrong 5.0 costs
    with_pointwise = TrainSettings(pointwise_weight=1.0, span_weight=0.0)
    low = _loss(net, batch, labels, no_span, no_span, 4, with_pointwise)[0]
    relevance[5] = -5.0
    assert _loss(net, batch, labels, no_span, no_span, 4, with_pointwise)[0] < low


def test_asked_groups_come_from_an_index_of_the_training_weeks_built_once(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    _tiny_data(tmp_path / "data")
    index = tmp_path / "weeks"
    plain, _, _ = data.build(tmp_path / "data", unanswerable=True)
    more, heldout, _ = data.build(tmp_path / "data", unanswerable=True, asked_index=index)
    assert (index / "manifest.json").exists() and not list(tmp_path.glob("*-articles.jsonl"))
    assert not (tmp_path / "weeks.partial").exists()
    asked = len(more) - len(plain)
    assert asked >= 12  # most of the 18 training questions find their festival's sentence
    again, _, _ = data.build(tmp_path / "data", unanswerable=True, asked_index=index)  # the index is reused
    assert len(again) == len(more)
    # the 2026 weeks stay out of the index, as out of training
    from rag.pipeline import NewsIndex

    weeks = NewsIndex.open(index)
    try:
        assert weeks.store.counts()["articles"] == 18 and len(heldout) == 6
    finally:
        weeks.close()


def test_tiny_training_run_writes_a_model_that_loads_back_and_reads(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    (tmp_path / "data").mkdir()
    (tmp_path / "base").mkdir()
    _tiny_data(tmp_path / "data")
    _tiny_base(tmp_path / "base")
    out = train(TrainSettings(data=str(tmp_path / "data"), out=str(tmp_path / "model"), base=str(tmp_path / "base"),
                              epochs=2, groups_per_step=2, lr=1e-3, max_minutes=1.0))
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["training"]["steps"] > 0 and config["training"]["groups"] >= 18
    assert config["calibration"]["method"] == "platt"
    assert config["calibration_stats"]["questions"] == 6  # the 2026 questions, held out
    reader = load_reader(out)
    sentences = [SentenceInput("Organisers said the lantern festival will move to Brask next spring.", "F", None),
                 SentenceInput("Tickets sold out within hours.", "F", None)]
    readings = reader.read("Where will lantern festival number 40 move next spring?", sentences)
    assert len(readings) == 2 and all(0.0 <= r.score <= 1.0 for r in readings)
    for r, s in zip(readings, sentences, strict=True):
        assert r.span is None or 0 <= r.span[0] < r.span[1] <= len(s.text)
    assert reader.read("anything?", []) == []
    from rag.reader.net import reexport

    onnx = (out / "model.onnx").read_bytes()
    (out / "model.onnx").unlink()
    reexport(out, tmp_path / "base")  # python -m rag.reader.net DIR: the saved weights, exported again
    assert (out / "model.onnx").read_bytes() == onnx  # deterministic: the shipped model can be rebuilt from model.pt
