"""Every sentence newsrag writes around the quoted evidence lives here, so wording changes in one place."""

from __future__ import annotations

NOT_FOUND = "The indexed articles do not answer this question."
NOT_FOUND_RELATED = " The closest passages are listed below as related reading."
NO_ARTICLES = "The index has no articles yet: add some with `newsrag ingest` or the upload box."
CHOICE = "{choice}. {evidence}"
NO_CHOICE = "None of the options ({options}) is supported by the indexed articles."
CLOSEST_CHOICE = ("{choice}, judging by meaning: the retrieved articles name none of the options, and this passage "
                  "is the closest to it. {evidence}")
AGREE = "Reported by {count} sources {markers}."
DISAGREE = "Sources differ: {first} ({first_source}, {first_date}) {first_marker}, while {second} ({second_source}, {second_date}) {second_marker}."
ATTRIBUTED = "“{title}”{meta}: {sentence} {marker}"
DATED = "{sentence} {marker} (as reported by {source} on {date})"
PLAIN = "{sentence} {marker}"


def marker(n: int) -> str:
    return f"[{n}]"


def options(choices: tuple[str, ...] | list[str]) -> str:
    items = list(choices)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]
