"""HTML for the chat app: answers with clickable citations, source cards, the index panel.

Everything that comes from an article (title, text, source, url) is untrusted: it is escaped with
``html.escape`` and only http(s) urls become links, so a page holding ``<script>`` shows it as text.
The HTML has no blank lines, so the chat's Markdown renderer passes it through as one HTML block.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape
from typing import Any
from urllib.parse import urlsplit

from rag.dates import human_date
from rag.types import Answer, Source

_MARKER = re.compile(r"\[(\d{1,3})\]")
CHAT_PLACEHOLDER = ("**Ask about the news in the index.** Each answer cites the passages it comes from: click a "
                    "number like [1] to read the passage, highlighted, beside the chat.")


def safe_url(url: str) -> str:
    """``url`` when it is an http(s) address with a host, else '' (no javascript:, data:, relative links)."""
    url = (url or "").strip()
    if any(ord(ch) < 33 for ch in url):
        return ""
    parts = urlsplit(url)
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else ""


def card_id(turn: int, marker: int) -> str:
    return f"src-{turn}-{marker}"


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
        rows = "".join(f'<li>{_cite(turn, s.marker)} {escape(s.title or "(untitled)")}'
                       f'<span class="nr-meta"> · {escape(_meta(s))}</span></li>' for s in answer.sources)
        parts.append(f'<ul class="nr-cites">{rows}</ul>')
    return "".join(parts)


def _meta(s: Source) -> str:
    return " · ".join(p for p in (s.source, human_date(s.published)) if p) or "no source or date"


def _spans(source: Source, sentences: Sequence[str]) -> list[tuple[int, int]]:
    """Spans of ``source.passage`` to highlight: its highlight and every cited sentence, merged when they
    overlap or only white space lies between them."""
    spans = [source.highlight] if source.highlight else []
    for sentence in sentences:
        at = source.passage.find(sentence) if sentence else -1
        if at >= 0:
            spans.append((at, at + len(sentence)))
    merged: list[tuple[int, int]] = []
    for a, b in sorted((max(0, a), min(len(source.passage), b)) for a, b in spans):
        if merged and (a <= merged[-1][1] or not source.passage[merged[-1][1]:a].strip()):
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        elif a < b:
            merged.append((a, b))
    return merged


def passage_html(source: Source, sentences: Sequence[str] = ()) -> str:
    text, out, at = source.passage, [], 0
    for a, b in _spans(source, list(sentences)):
        out += [escape(text[at:a]), f"<mark>{escape(text[a:b])}</mark>"]
        at = b
    out.append(escape(text[at:]))
    return "".join(out).replace("\n", "<br>")


def source_card(source: Source, card: str, sentences: Sequence[str] = (), open_: bool = True) -> str:
    """One cited passage: marker, title (linking to the original when it has an http(s) url), source, date."""
    title = escape(source.title or "(untitled)")
    url = safe_url(source.url)
    link = (f'<a class="nr-original" href="{escape(url)}" target="_blank" rel="noopener noreferrer nofollow">'
            f'original article ↗</a>') if url else ""
    copies = (f'<div class="nr-copies">also published as {escape(", ".join(source.copies))}</div>'
              if source.copies else "")
    return (f'<article class="nr-card" id="{card}"><div class="nr-card-head"><span class="nr-marker">{source.marker}'
            f'</span><div><div class="nr-title">{title}</div><div class="nr-meta">{escape(_meta(source))}'
            f'{" · " + link if link else ""}</div></div></div>{copies}'
            f'<details{" open" if open_ else ""}><summary>passage</summary>'
            f'<p class="nr-passage">{passage_html(source, sentences)}</p></details></article>')


def turn_sources(answer: Answer, turn: int, latest: bool) -> str:
    """The source cards of one answer; the latest answer's are open, earlier ones fold under their question."""
    cited: dict[int, list[str]] = {}
    for c in answer.citations:
        cited.setdefault(c.marker, []).append(c.sentence)
    cards = "".join(source_card(s, card_id(turn, s.marker), cited.get(s.marker, []), latest) for s in answer.sources)
    if answer.related:
        related = "".join(source_card(s, f"rel-{turn}-{s.marker}", [], False) for s in answer.related)
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
        span = f", published {first} to {last}" if first and last else ""
        line = (f'<p class="nr-sub">Answers with citations from {stats.get("articles", 0):,} news articles'
                f"{escape(span)}. Everything runs on this machine.</p>")
    return f'<div class="nr-head"><h1>newsrag</h1>{line}</div>'


def ingest_status(totals: dict[str, int], problems: Sequence[str], inputs: int, seconds: float) -> str:
    """What an upload did: counts, then each problem on its own line."""
    added, replaced, unchanged = totals["added"], totals["replaced"], totals["unchanged"]
    parts = [f"{_count(added, 'article')} added"]
    if replaced:
        parts.append(f"{replaced:,} updated")
    if unchanged:
        parts.append(f"{unchanged:,} already indexed")
    line = (f"{', '.join(parts)} ({_count(totals['passages'], 'passage')}) from {_count(inputs, 'input')} "
            f"in {seconds:.1f} s.")
    cls = "nr-status" if added + replaced + unchanged else "nr-status nr-problem"
    items = "".join(f"<li>{escape(p)}</li>" for p in problems[:20])
    more = f"<li>and {len(problems) - 20} more</li>" if len(problems) > 20 else ""
    return f'<div class="{cls}">{escape(line)}' + (f"<ul>{items}{more}</ul>" if items else "") + "</div>"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
