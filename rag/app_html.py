"""HTML for the chat app: answers with clickable citations, source cards, the index panel.

Everything that comes from an article (title, text, source, url) is untrusted: it is escaped with
``html.escape`` and only http(s) urls become links, so a page holding ``<script>`` shows it as text.
The HTML has no blank lines, so the chat's Markdown renderer passes it through as one HTML block.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from itertools import pairwise
from typing import Any
from urllib.parse import urlsplit

from rag.dates import human_date
from rag.render import counted
from rag.types import Answer, Source

_MARKER = re.compile(r"\[(\d{1,3})\]")
# Where the sources sit depends on the width (beside the chat on a desktop, under it on a phone), so the words
# name the panel's heading instead of a direction.
SOURCES_HEADING = "Sources"
CHAT_PLACEHOLDER = ("**Ask about the news in the index.** Each answer cites the passages it comes from: click a "
                    f"number like [1] to read the passage, highlighted, under {SOURCES_HEADING}.")
FILTERS_LABEL = "Filters: date and source"


def safe_url(url: str) -> str:
    """``url`` when it is an http(s) address with a host, else '' (no javascript:, data:, relative links)."""
    url = (url or "").strip()
    if any(ord(ch) < 33 for ch in url):
        return ""
    parts = urlsplit(url)
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else ""


def card_prefix(turn: int) -> str:
    return f"src-{turn}"


def card_id(turn: int, marker: int) -> str:
    """The id that citation [marker] of answer ``turn`` links to: its article's card, or its passage there."""
    return f"{card_prefix(turn)}-{marker}"


def _cite(turn: int, marker: int) -> str:
    return f'<a class="cite" href="#{card_id(turn, marker)}" title="show source {marker}">[{marker}]</a>'


def answer_body(answer: Answer, turn: int) -> str:
    """The answer text, escaped, with each ``[n]`` a link to source card n of this turn."""
    known = {s.marker for s in answer.sources}
    text = escape(answer.text)
    text = _MARKER.sub(lambda m: _cite(turn, int(m[1])) if int(m[1]) in known else m[0], text)
    return text


def chat_message(answer: Answer, turn: int) -> str:
    """What the chat shows for one answer: the short answer in bold, the text with citation links, then one line
    per source."""
    cls = "nr-answer nr-abstained" if answer.abstained else "nr-answer"
    parts = [f'<div class="nr-short"><strong>{escape(answer.short_answer)}</strong></div>'] if answer.short_answer else []
    parts.append(f'<div class="{cls}">{answer_body(answer, turn)}</div>')
    if answer.search_query and answer.search_query != answer.question:
        parts.append(f'<div class="nr-searched">searched for: {escape(answer.search_query)}</div>')
    if answer.sources:
        rows = "".join(f'<li>{"".join(_cite(turn, s.marker) for s in group)} {escape(group[0].title or "(untitled)")}'
                       f'<span class="nr-meta"> · {escape(_meta(group[0]))}</span></li>'
                       for group in by_article(answer.sources))
        parts.append(f'<ul class="nr-cites">{rows}</ul>')
    return "".join(parts)


def by_article(sources: Sequence[Source]) -> list[list[Source]]:
    """``sources`` grouped by article, in order of each article's first marker: two markers citing two passages
    of one article make one card."""
    groups: dict[str, list[Source]] = {}
    for s in sources:
        groups.setdefault(s.article_id, []).append(s)
    return list(groups.values())


def _meta(s: Source) -> str:
    return " · ".join(p for p in (s.source, human_date(s.published)) if p) or "no source or date"


def _merged(spans: Sequence[tuple[int, int]], text: str) -> list[tuple[int, int]]:
    """``spans`` of ``text`` sorted and clipped, merged when they overlap or only white space lies between them."""
    merged: list[tuple[int, int]] = []
    for a, b in sorted((max(0, a), min(len(text), b)) for a, b in spans):
        if merged and (a <= merged[-1][1] or not text[merged[-1][1]:a].strip()):
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        elif a < b:
            merged.append((a, b))
    return merged


def _spans(source: Source, sentences: Sequence[str]) -> list[tuple[int, int]]:
    """Spans of ``source.passage`` to highlight: its highlight and every cited sentence, merged."""
    spans = [source.highlight] if source.highlight else []
    for sentence in sentences:
        at = source.passage.find(sentence) if sentence else -1
        if at >= 0:
            spans.append((at, at + len(sentence)))
    return _merged(spans, source.passage)


def _marked(text: str, spans: Sequence[tuple[int, int]], labels: dict[int, str] | None = None) -> str:
    """``text`` escaped, with ``spans`` (merged, not overlapping) in <mark> and each label's HTML at its offset."""
    labels = labels or {}
    cuts = sorted({0, len(text), *labels, *(p for span in spans for p in span)})
    out = []
    for a, b in pairwise(cuts):
        piece = escape(text[a:b])
        out += [labels.get(a, ""), f"<mark>{piece}</mark>" if any(s <= a and b <= e for s, e in spans) else piece]
    return "".join(out).replace("\n", "<br>")


def passage_html(source: Source, sentences: Sequence[str] = ()) -> str:
    return _marked(source.passage, _spans(source, list(sentences)))


@dataclass
class _Excerpt:
    """What one block of a card shows: passages of one article joined where they overlap, and where each starts."""

    text: str
    starts: list[tuple[Source, int]]


def _continues_at(a: str, b: str, least: int = 30) -> int | None:
    """Where ``b`` starts in ``a`` when it lies inside ``a`` or opens with at least ``least`` of a's last
    characters (neighbouring passages of an article share a sentence); None when they do not overlap."""
    if b in a:
        return a.index(b)
    for at in range(max(0, len(a) - len(b)), len(a) - least + 1):
        if b.startswith(a[at:]):
            return at
    return None


def _excerpts(sources: Sequence[Source]) -> list[_Excerpt]:
    """The passages of one article as blocks to show, overlapping ones joined, so no sentence shows twice."""
    out: list[_Excerpt] = []
    for s in sources:
        for ex in out:
            if (at := _continues_at(ex.text, s.passage)) is not None:
                ex.text, ex.starts = ex.text[:at] + s.passage + ex.text[at + len(s.passage):], [*ex.starts, (s, at)]
                break
            if (at := _continues_at(s.passage, ex.text)) is not None:
                ex.text = s.passage[:at] + ex.text + s.passage[at + len(ex.text):]
                ex.starts = [(s, 0), *((o, p + at) for o, p in ex.starts)]
                break
        else:
            out.append(_Excerpt(s.passage, [(s, 0)]))
    return out


def article_card(sources: Sequence[Source], prefix: str, cited: dict[int, Sequence[str]] | None = None,
                 open_: bool = True) -> str:
    """One card for the passages of one article: its markers, title (linking to the original when it has an
    http(s) url), source and date, then its passages (joined where they overlap) with the cited sentences
    highlighted. The card's id is ``{prefix}-{first marker}``; when several markers cite the article, each
    passage opens with its marker, which carries that marker's id, so every [n] has a target."""
    first, cited = sources[0], cited or {}
    url = safe_url(first.url)
    link = (f'<a class="nr-original" href="{escape(url)}" target="_blank" rel="noopener noreferrer nofollow">'
            f'original article ↗</a>') if url else ""
    copies = (f'<div class="nr-copies">also published as {escape(", ".join(first.copies))}</div>'
              if first.copies else "")
    markers = "".join(f'<span class="nr-marker">{s.marker}</span>' for s in sources)
    passages = []
    for ex in _excerpts(sources):
        spans = _merged([(a + at, b + at) for s, at in ex.starts for a, b in _spans(s, cited.get(s.marker, ()))],
                        ex.text)
        labels: dict[int, str] = {}
        for s, at in ex.starts if len(sources) > 1 else ():
            anchor = f' id="{prefix}-{s.marker}"' if s is not first else ""
            labels[at] = labels.get(at, "") + f'<span class="nr-passage-marker"{anchor}>[{s.marker}]</span>'
        passages.append(f'<p class="nr-passage">{_marked(ex.text, spans, labels)}</p>')
    summary = "passage" if len(sources) == 1 else counted(len(sources), "passage")
    return (f'<article class="nr-card" id="{prefix}-{first.marker}"><div class="nr-card-head">'
            f'<span class="nr-markers">{markers}</span><div><div class="nr-title">{escape(first.title or "(untitled)")}'
            f'</div><div class="nr-meta">{escape(_meta(first))}{" · " + link if link else ""}</div></div></div>{copies}'
            f'<details{" open" if open_ else ""}><summary>{summary}</summary>{"".join(passages)}</details></article>')


def turn_sources(answer: Answer, turn: int, latest: bool) -> str:
    """The source cards of one answer, one per article; the latest answer's are open, earlier ones fold under
    their question."""
    cited: dict[int, list[str]] = {}
    for c in answer.citations:
        cited.setdefault(c.marker, []).append(c.sentence)
    cards = "".join(article_card(group, card_prefix(turn), cited, latest) for group in by_article(answer.sources))
    if answer.related:
        related = "".join(article_card(group, f"rel-{turn}", {}, False) for group in by_article(answer.related))
        cards += f'<div class="nr-related"><div class="nr-label">related reading</div>{related}</div>'
    if not cards:
        cards = '<p class="nr-empty">No passage supports an answer to this question.</p>'
    question = escape(answer.question)
    return (f'<details class="nr-turn" id="turn-{turn}"{" open" if latest else ""}><summary>{question}</summary>'
            f"{cards}</details>")


def sources_panel(turns: Sequence[tuple[int, Answer]]) -> str:
    """The sources of each ``(turn, answer)``, newest first (``turns`` is oldest first)."""
    if not turns:
        return ('<div class="nr-panel"><p class="nr-empty">Ask a question: the passages that support the answer '
                "appear here, with the sentence that answers it highlighted.</p></div>")
    last = turns[-1][0]
    return f'<div class="nr-panel">{"".join(turn_sources(a, t, t == last) for t, a in reversed(turns))}</div>'


def stats_html(stats: dict[str, Any]) -> str:
    """The index panel: articles, passages, sources, date range, model."""
    sources = stats.get("sources") or {}
    shown = ", ".join(f"{escape(k)} ({v:,})" for k, v in list(sources.items())[:8])
    if len(sources) > 8:
        shown += f" and {len(sources) - 8} more"
    first, last = human_date(stats.get("first_published")), human_date(stats.get("last_published"))
    rows = [("articles", f"{stats.get('articles', 0):,}"), ("passages", f"{stats.get('passages', 0):,}"),
            ("sources", shown or "–"), ("published", f"{first or '–'} to {last or '–'}" if first or last else "–"),
            ("model", escape(str(stats.get("model") or "–")))]
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="nr-stats">{body}</table>'


def problem_html(message: str) -> str:
    return f'<div class="nr-problem">{escape(message)}</div>'


def header_html(stats: dict[str, Any], problem: str = "") -> str:
    """The page title and what the index holds (or why there is no index)."""
    if problem:
        line = problem_html(problem)
    else:
        first, last = human_date(stats.get("first_published")), human_date(stats.get("last_published"))
        span = (f", published {first}" + (f" to {last}" if last != first else "")) if first and last else ""
        line = (f'<p class="nr-sub">Answers with citations from {counted(stats.get("articles", 0), "news article")}'
                f"{escape(span)}. Everything runs on this machine.</p>")
    return f'<div class="nr-head"><h1>newsrag</h1>{line}</div>'


def ingest_status(totals: dict[str, int], problems: Sequence[str], inputs: int, seconds: float) -> str:
    """What an upload did: counts, then each problem on its own line."""
    added, replaced, unchanged = totals["added"], totals["replaced"], totals["unchanged"]
    parts = [f"{counted(added, 'article')} added"]
    if replaced:
        parts.append(f"{replaced:,} updated")
    if unchanged:
        parts.append(f"{unchanged:,} already indexed")
    line = (f"{', '.join(parts)} ({counted(totals['passages'], 'passage')}) from {counted(inputs, 'input')} "
            f"in {seconds:.1f} s.")
    cls = "nr-status" if added + replaced + unchanged else "nr-status nr-problem"
    items = "".join(f"<li>{escape(p)}</li>" for p in problems[:20])
    more = f"<li>and {len(problems) - 20} more</li>" if len(problems) > 20 else ""
    return f'<div class="{cls}">{escape(line)}' + (f"<ul>{items}{more}</ul>" if items else "") + "</div>"


def filters_label(as_of: str | None, since: str | None, until: str | None, sources: Sequence[str] | None) -> str:
    """The Filters panel's title, saying how many filters are set, so that a folded panel does not hide them."""
    active = sum(1 for v in (as_of, since, until) if v and str(v).strip()) + (1 if sources else 0)
    return f"{FILTERS_LABEL} ({active} active)" if active else FILTERS_LABEL
