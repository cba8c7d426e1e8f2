"""Every sentence newsrag writes around the quoted evidence lives here, so wording changes in one place."""

from __future__ import annotations

NOT_FOUND = "The indexed articles do not answer this question."
NOT_RECENT = (" The question is about the news of its days, and the articles that come closest were published more than a "
              "month before {day} (\"As of\" in the app, --as-of on the command line, asks as of an earlier day).")
NOT_FOUND_RELATED = " The closest passages are given as related reading."
NO_ARTICLES = "The index has no articles yet: add some with `newsrag ingest` or the upload box."
CHOICE = "{choice}. {evidence}"
NO_CHOICE = "None of the options ({options}) is supported by the indexed articles."
GUESSED_CHOICE = ("{choice}, as a guess: the articles retrieved for the question name none of the options, and the "
                  "passage that names this one shares little with the question. {evidence}")
CLOSEST_CHOICE = ("{choice}, judging by meaning: the retrieved articles name none of the options, and this passage "
                  "is the closest to it. {evidence}")
CLAIM_TRUE = "{choice}: the retrieved articles report it. {evidence}"
CLAIM_UNDECIDED = "The indexed articles neither state this claim nor rule it out."
EXCEPT_CHOICE = "{choice}: the retrieved articles name {others} {markers}, but not {choice}."
EXCEPT_LEAST = ("{choice}: the retrieved articles name every option, and {choice} with the least support; the others: "
                "{others} {markers}.")
EXCEPT_UNDECIDED = ("The retrieved articles name {named} {markers}, but not {unnamed}, so they do not say which one is the "
                    "exception.")
AGREE = "Reported by {count} sources {markers}."
DISAGREE = "Sources differ: {first} ({first_source}, {first_date}) {first_marker}, while {second} ({second_source}, {second_date}) {second_marker}."
ATTRIBUTED = "“{title}”{meta}: {sentence} {marker}"
DATED = "{sentence} {marker} (as reported by {source} on {date})"
PLAIN = "{sentence} {marker}"


def marker(n: int) -> str:
    return f"[{n}]"


def options(choices: tuple[str, ...] | list[str], last: str = "or") -> str:
    items = list(choices)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" {last} " + items[-1]


def listing(items: tuple[str, ...] | list[str]) -> str:
    return options(items, "and")
