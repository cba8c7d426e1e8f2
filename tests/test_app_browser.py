"""The app in a real browser: ask, follow a citation, stay safe with hostile articles, add an article.

The app runs in this process on a small index (the seed article and a hostile one) embedded with the real
model; chromium is Debian's, driven by Playwright. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from browser_support import PHONE, WIDE, chromium, running_app
from conftest import ARTIFACTS, SEED

pytestmark = [pytest.mark.browser, pytest.mark.model]

SEED_QUESTION = "When will the S-400 systems be fully installed in Turkey?"
HOSTILE = {
    "id": "hostile-1",
    "title": "<script>window.__xss='title'</script>Zeppelin museum <img src=x onerror=\"window.__xss='title-img'\"> opens",
    "text": "The zeppelin museum in Friedrichshafen opened a new hall on Monday. <img src=x "
            "onerror=\"window.__xss='text-img'\"> Visitors can see a full-size zeppelin gondola in the new hall. "
            "<script>window.__xss='text-script'</script> The hall cost 12 million euros to build.\n\n"
            "The museum expects <a href=\"javascript:window.__xss='inline-link'\">300,000 visitors</a> a year.",
    "url": "javascript:window.__xss='url'",
    "published": "2020-03-01",
    "source": "<b onmouseover=\"window.__xss='source'\">Evil Wire</b>",
}
UPLOADED = ("Glasgow tram museum reopens\n\n"
            "The Glasgow tram museum reopened on 3 March 2021 after a restoration that took two years. "
            "Its oldest tram, built in 1898, runs again on a short track beside the River Clyde.\n")


@dataclass
class Tab:
    """A page and what it did that a test may check: requests to other hosts, dialogs, script errors."""

    page: object
    outside: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def small_index(tmp_path_factory: pytest.TempPathFactory, real_embedder):  # noqa: ANN001, ANN201
    from rag.pipeline import NewsIndex

    base = tmp_path_factory.mktemp("app-browser")
    hostile = base / "hostile.jsonl"
    hostile.write_text(json.dumps(HOSTILE) + "\n", encoding="utf-8")
    index = NewsIndex.open(base / "index", create=True, embedder=real_embedder)
    report = index.ingest([str(SEED), str(hostile)])
    assert report.added == 2, report.problems
    yield index
    index.close()


@pytest.fixture(scope="module")
def app_url(small_index):  # noqa: ANN001, ANN201
    with running_app(small_index) as url:
        yield url


@pytest.fixture(scope="module")
def browser():  # noqa: ANN201
    with chromium() as b:
        yield b


def open_tab(browser, url: str, viewport: dict) -> Tab:  # noqa: ANN001
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    tab = Tab(page)
    page.on("request", lambda r: tab.outside.append(r.url) if not r.url.startswith(("http://127.0.0.1", "data:",
                                                                                      "blob:")) else None)
    page.on("dialog", lambda d: (tab.dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: tab.errors.append(str(e)))
    page.goto(url, wait_until="domcontentloaded")
    page.locator("#question textarea").wait_for(timeout=30_000)
    return tab


def ask(tab: Tab, question: str, turn: int) -> str:
    """Type ``question``, press Enter, wait for answer ``turn`` and return its text."""
    box = tab.page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    tab.page.locator(f'#sources .nr-turn[id="turn-{turn}"]').wait_for(timeout=60_000)
    return tab.page.locator("#chat .nr-answer").nth(turn - 1).inner_text()


def shot(tab: Tab, name: str, full_page: bool = False) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tab.page.screenshot(path=str(ARTIFACTS / f"app-{name}.png"), full_page=full_page)


def test_answer_cites_the_seed_article_and_the_citation_opens_the_passage(browser, app_url: str) -> None:  # noqa: ANN001
    tab = open_tab(browser, app_url, WIDE)
    page = tab.page
    assert page.title().startswith("newsrag")
    assert "2 news articles" in page.locator("#nr-header").inner_text()
    # On a desktop the sources sit beside the chat, under their heading the chat's first words point at.
    assert box(tab, "#nr-sources-title")["x"] >= box(tab, "#chat")["x"] + box(tab, "#chat")["width"]
    assert "under Sources" in page.locator("#chat").inner_text()
    shot(tab, "wide-start")

    answer = ask(tab, SEED_QUESTION, 1)
    assert "April" in answer
    short = page.locator("#chat .nr-short strong").first  # the short answer opens the reply, in bold
    assert short.inner_text() == "April 2020"
    cite = page.locator("#chat a.cite").first
    assert cite.inner_text() == "[1]"
    card = page.locator('#sources [id="src-1-1"]')
    page.evaluate("document.querySelectorAll('#sources details').forEach(d => d.open = false)")
    assert not card.locator(".nr-passage").is_visible()

    cite.click()
    passage = card.locator(".nr-passage")
    passage.wait_for(state="visible")
    assert "S-400" in card.locator(".nr-title").inner_text()
    assert "Sputnik" in card.locator(".nr-meta").inner_text()
    assert "14 December 2019" in card.locator(".nr-meta").inner_text()
    assert any("April" in m for m in passage.locator("mark").all_inner_texts())
    shot(tab, "wide-answer")

    # A follow-up leans on the first question: the chat hands the earlier questions to the pipeline.
    ask(tab, "What about Russia?", 2)
    assert "S-400" in page.locator("#chat .nr-searched").last.inner_text()
    assert page.locator('#sources [id="src-2-1"]').count() == 1
    assert page.locator('#sources details[id="turn-1"]').get_attribute("open") is None  # the older turn folds
    assert tab.outside == [], f"the page asked other hosts: {tab.outside}"
    assert tab.errors == []


def box(tab: Tab, selector: str) -> dict:
    return tab.page.locator(selector).bounding_box()


def test_phone_width_has_no_sideways_scroll(browser, app_url: str) -> None:  # noqa: ANN001
    tab = open_tab(browser, app_url, PHONE)
    # On a phone the sources sit under the chat, and the words that point at them name their heading.
    assert box(tab, "#nr-sources-title")["y"] >= box(tab, "#chat")["y"] + box(tab, "#chat")["height"]
    assert "under Sources" in tab.page.locator("#chat").inner_text()
    assert tab.page.locator("#nr-sources-title").inner_text().strip().lower() == "sources"
    ask(tab, SEED_QUESTION, 1)
    tab.page.locator("#chat a.cite").first.click()
    tab.page.locator('#sources [id="src-1-1"] mark').first.wait_for(state="visible")
    overflow = tab.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than a phone screen"
    shot(tab, "phone-answer", full_page=True)


def test_hostile_article_shows_as_text_and_runs_nothing(browser, app_url: str) -> None:  # noqa: ANN001
    tab = open_tab(browser, app_url, WIDE)
    page = tab.page
    answer = ask(tab, "How much did the new hall of the zeppelin museum cost?", 1)
    assert "12 million" in answer
    page.locator("#chat a.cite").first.click()
    card = page.locator('#sources [id="src-1-1"]')
    card.locator(".nr-passage").wait_for(state="visible")
    page.mouse.move(0, 0)
    card.locator(".nr-meta").hover()  # the hostile source name carries an onmouseover
    page.wait_for_timeout(300)

    assert "<script>window.__xss='title'</script>" in card.locator(".nr-title").inner_text()
    assert "<img src=x" in card.locator(".nr-passage").inner_text()
    assert "<b onmouseover" in card.locator(".nr-meta").inner_text()
    assert page.evaluate("window.__xss") is None
    assert tab.dialogs == []
    assert page.locator("#sources script, #chat script, #sources img, #chat .nr-answer img").count() == 0
    assert page.locator('a[href^="javascript:" i]').count() == 0
    assert card.locator("a.nr-original").count() == 0  # a javascript: url is no link at all
    shot(tab, "hostile-article")
    assert tab.errors == []


def test_uploaded_article_can_be_asked_about(browser, small_index, app_url: str, tmp_path: Path) -> None:  # noqa: ANN001
    upload = tmp_path / "glasgow-trams.txt"
    upload.write_text(UPLOADED, encoding="utf-8")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"title": "no text and a missing brace"\n', encoding="utf-8")
    before = small_index.stats()["articles"]

    tab = open_tab(browser, app_url, WIDE)
    page = tab.page
    page.get_by_text("Index: what the answers come from").click()
    stats = page.locator("#nr-stats")
    stats.wait_for(state="visible")
    assert re.search(rf"articles\s+{before}\b", stats.inner_text())
    choose_files(page, [upload, broken])
    page.locator("#add").click()
    status = page.locator("#ingest-status .nr-status")
    status.wait_for(timeout=60_000)
    assert "1 article added" in status.inner_text()
    assert "broken.jsonl" in status.inner_text()  # the file that failed is named, with why
    assert re.search(rf"articles\s+{before + 1}\b", stats.inner_text())
    shot(tab, "upload", full_page=True)

    answer = ask(tab, "When did the Glasgow tram museum reopen?", 1)
    assert "3 March 2021" in answer
    assert "Glasgow tram museum" in page.locator('#sources [id="src-1-1"] .nr-title').inner_text()


def test_errors_read_as_messages(browser, app_url: str) -> None:  # noqa: ANN001
    tab = open_tab(browser, app_url, WIDE)
    page = tab.page
    page.locator("#ask").click()
    page.get_by_text("the question is empty").wait_for(timeout=10_000)
    page.get_by_text("Filters: date and source").click()
    page.locator("#as-of textarea").fill("next Tuesday")
    filters = page.locator("#nr-filters .label-wrap")
    expect_text(filters, "Filters: date and source (1 active)")
    page.locator("#question textarea").fill(SEED_QUESTION)
    page.locator("#ask").click()
    page.get_by_text("is not a date").wait_for(timeout=10_000)
    shot(tab, "error-message")
    assert page.locator("#chat .nr-answer").count() == 0
    assert "Traceback" not in page.content()


def expect_text(locator, text: str, timeout_ms: int = 15_000) -> None:  # noqa: ANN001
    """Wait until ``locator``'s text contains ``text`` (Gradio updates the page a moment after an event)."""
    from playwright.sync_api import expect

    expect(locator).to_contain_text(text, timeout=timeout_ms)


def source_choices(tab: Tab) -> list[str]:
    """The source filter's choices, read by opening its list."""
    page = tab.page
    page.locator("#source-filter input").click()
    page.get_by_role("option").first.wait_for(timeout=10_000)
    choices = page.get_by_role("option").all_inner_texts()
    page.locator("#nr-header").click()  # closes the list
    page.get_by_role("option").first.wait_for(state="detached", timeout=10_000)
    return [c.strip() for c in choices]


def choose_files(page, paths: list[Path], tries: int = 3) -> None:  # noqa: ANN001 - a Playwright page
    """Put ``paths`` in the upload box and wait until it lists them. Under a busy machine the browser's upload of
    the chosen files was seen to stall (once in a CI run, the name never showed in 60 s): then empty the box and
    choose them again. An upload that was only slow can still land after that, next to the new one (seen once
    with a 30 s wait: the add then read the same file twice), so a box that lists more rows than files chosen is
    emptied and chosen again too."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    box = page.locator("#upload")
    rows = box.locator("table.file-preview tbody tr")  # one a file, its name split into stem and extension
    for attempt in range(1, tries + 1):
        box.locator("input[type=file]").set_input_files([str(p) for p in paths])
        try:
            rows.nth(len(paths) - 1).wait_for(timeout=60_000)
            page.wait_for_timeout(500)  # a late upload of an earlier try lands now or was never coming
            listed = rows.all_inner_texts()
            if len(listed) == len(paths) and all(p.stem in text for p, text in zip(paths, listed, strict=True)):
                return
        except PlaywrightTimeout:
            pass
        if attempt == tries:
            raise AssertionError(f"the upload box did not list {[p.name for p in paths]} after {tries} tries")
        clear = box.get_by_label("Clear")
        if clear.count():
            clear.first.click()
            box.locator("table.file-preview").wait_for(state="detached", timeout=10_000)
            box.locator("input[type=file]").wait_for(state="attached", timeout=10_000)


def upload(tab: Tab, path: Path, expected: str) -> str:
    """Add ``path`` through the upload box; the status the page shows after it, once it says ``expected``."""
    page = tab.page
    choose_files(page, [path])
    page.locator("#add").click()
    status = page.locator("#ingest-status .nr-status").filter(has_text=expected)
    status.wait_for(timeout=60_000)
    return status.inner_text()


def test_the_page_follows_the_index(browser, real_embedder, tmp_path: Path) -> None:  # noqa: ANN001
    """Header, index panel and source filter show the index as it is now: after an add in the page, and after
    another writer (another process) adds to the same index and the page is reloaded."""
    from rag.pipeline import NewsIndex

    def article(source: str, title: str, text: str, published: str) -> Path:
        path = tmp_path / f"{source.split()[0].lower()}.jsonl"
        path.write_text(json.dumps({"id": source, "title": title, "source": source, "published": published,
                                    "text": text}) + "\n", encoding="utf-8")
        return path

    index = NewsIndex.open(tmp_path / "index", create=True, embedder=real_embedder)
    assert index.ingest([str(SEED)]).added == 1
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"title": "no text"}\n', encoding="utf-8")
    herald = article("Glasgow Herald", "Glasgow tram museum reopens", UPLOADED, "2021-03-03")
    gazette = article("Clyde Gazette", "Clyde ferry returns", "The Clyde ferry returned to service on 9 June 2022 "
                      "after a winter of repairs to its engines.", "2022-06-09")
    try:
        with running_app(index) as url:
            tab = open_tab(browser, url, WIDE)
            page = tab.page
            header, filters = page.locator("#nr-header"), page.locator("#nr-filters .label-wrap")
            assert "from 1 news article, published 14 December 2019." in header.inner_text()
            filters.click()
            assert page.locator("#source-filter input").get_attribute("placeholder") == "All sources"
            assert source_choices(tab) == ["Sputnik"]
            page.get_by_text("Index: what the answers come from").click()

            # A failed add leaves a message box; the next add closes it and replaces the status.
            assert "broken.jsonl" in upload(tab, broken, "0 articles added")
            toast = page.locator('[data-testid="toast-body"]')
            toast.filter(has_text="nothing was added").wait_for(timeout=10_000)
            assert "from 1 input" in upload(tab, herald, "1 article added")
            toast.first.wait_for(state="detached", timeout=3_000)
            assert "broken.jsonl" not in page.locator("#ingest-status").inner_text()

            expect_text(header, "from 2 news articles, published 14 December 2019 to 3 March 2021.")
            assert re.search(r"articles\s+2\b", page.locator("#nr-stats").inner_text())
            assert sorted(source_choices(tab)) == ["Glasgow Herald", "Sputnik"]
            page.locator("#source-filter input").click()
            page.get_by_role("option", name="Glasgow Herald").click()
            page.locator("#nr-header").click()
            filters.click()  # folded, the panel still says a filter is set
            expect_text(filters, "Filters: date and source (1 active)")

            other = NewsIndex.open(index.backend.dir, embedder=real_embedder)  # another writer of the same index
            try:
                assert other.ingest([str(gazette)]).added == 1
            finally:
                other.close()
            page.reload(wait_until="domcontentloaded")
            expect_text(header, "from 3 news articles, published 14 December 2019 to 9 June 2022.")
            assert filters.inner_text().strip().startswith("Filters: date and source")
            assert "active" not in filters.inner_text()
            filters.click()
            assert sorted(source_choices(tab)) == ["Clyde Gazette", "Glasgow Herald", "Sputnik"]
            page.get_by_text("Index: what the answers come from").click()
            expect_text(page.locator("#nr-stats"), "Clyde Gazette (1)")
            shot(tab, "follows-the-index", full_page=True)
            assert tab.errors == []
    finally:
        index.close()


def test_two_markers_of_one_article_share_its_card(browser, demo_index) -> None:  # noqa: ANN001
    """The demo's Hajj answer cites two passages of one article: one card, and [2] leads into it."""
    with running_app(demo_index) as url:
        tab = open_tab(browser, url, WIDE)
        page = tab.page
        ask(tab, "How many people died in the Hajj stampede?", 1)
        cards = page.locator('#sources .nr-turn[id="turn-1"] > .nr-card')
        assert cards.count() == 1
        assert cards.locator(".nr-markers").inner_text().split() == ["1", "2"]
        assert page.locator("#chat ul.nr-cites li").count() == 1
        page.evaluate("document.querySelectorAll('#sources details').forEach(d => d.open = false)")
        page.locator("#chat .nr-answer a.cite", has_text="[2]").click()
        page.locator('#sources [id="src-1-2"]').wait_for(state="visible")
        assert "nr-flash" in cards.get_attribute("class")
        assert tab.errors == []

def test_screenshot_script_shoots_the_app(demo_index_dir: Path, tmp_path: Path) -> None:
    """tests/screenshot.py, as the docs run it, makes a real picture of the answered page."""
    import shutil
    import struct
    import subprocess
    import sys

    from conftest import ROOT

    index = shutil.copytree(demo_index_dir, tmp_path / "index")
    out = tmp_path / "shots" / "app.png"
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "screenshot.py"), str(out), "--index", str(index)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1280, 800)
    assert len(data) > 60_000, f"{len(data)} bytes: the page looks empty"


@pytest.fixture(scope="module", autouse=True)
def _clean_artifacts() -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("app-*.png"):
        old.unlink()
