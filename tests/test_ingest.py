"""Ingestion (issue #2): every format on a real file, http(s) URLs from a real local server, deterministic ids,
duplicates, and bad input that gets one clear line naming the place and the reason."""

from __future__ import annotations

import json
import shutil
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import DATA, SEED, WIKINEWS

from rag.cli import main
from rag.config import Settings
from rag.embed import HashEmbedder
from rag.ingest import read_inputs
from rag.pipeline import NewsIndex
from rag.types import Article, Problem

PAGE = DATA / "news-page.html"
RSS = DATA / "feed-rss.xml"
ATOM = DATA / "feed-atom.xml"


def articles(items: list) -> list[Article]:
    return [i for i in items if isinstance(i, Article)]


def problems(items: list) -> list[Problem]:
    return [i for i in items if isinstance(i, Problem)]


# --- each format on a real file -----------------------------------------------------------------------------
def test_jsonl_keeps_ids_parses_fields_and_keeps_unknown_fields() -> None:
    records = [json.loads(line) for line in WIKINEWS.read_text(encoding="utf-8").splitlines() if line.strip()]
    items = list(read_inputs([WIKINEWS]))
    assert problems(items) == []
    got = articles(items)
    assert [a.article_id for a in got] == [r["id"] for r in records]
    first, record = got[0], records[0]
    assert first.title == record["title"]
    assert first.url == record["url"]
    assert first.source == "Wikinews"
    assert first.author == record["author"]
    assert first.published == record["published"][:10] == "2015-09-01"
    assert first.metadata == {"genre": record["genre"], "license": record["license"]}
    assert "Formica fusca" in first.text
    assert all(a.published and len(a.published) == 10 for a in got)
    # Wikinews repeats the headline with a dateline above the body and credits its photos: the caption stays
    # (it names what is shown), the dateline and the credit go.
    assert first.text.startswith("Formica fusca, from file.\n\nNick Bos, of the University of Helsinki")
    assert not any("Image:" in a.text for a in got)
    assert not any(a.text.startswith(a.title[:30]) for a in got)


def test_datelines_photo_credits_and_gallery_counters_are_dropped_and_the_rest_kept() -> None:
    from rag.ingest.clean import clean_text

    text = ("Ličen interviewed by Wikinews Saturday, November 16, 2013\n\nFriday, 3 January 2014\n\n"
            "Tina McKenzie. Image: Australian Paralympic Committee.\n\nBelle Image: Nick Moreau.\n\n"
            "\"Peace.\" Shimon Peres image: David Shankbone.\n\n"
            "He said it was on May 28, 2006\n\nThe photo: a harbour at dawn, he said.\n\n"
            "Houses stood in Schuld. Hide Caption 29 of 44 Photos: A road buckles in Euskirchen.\n\n"
            "Thursday, March 15, 2012 Wikinews interviewed a bar owner.\n\nMarch 15, 2012 was a Thursday.")
    assert clean_text(text, "Licen interviewed by Wikinews").split("\n\n") == [
        "Tina McKenzie.", "Belle", "\"Peace.\" Shimon Peres", "He said it was on May 28, 2006", "The photo: a harbour at dawn, he said.",
        "Houses stood in Schuld.", "A road buckles in Euskirchen.", "Wikinews interviewed a bar owner.",
        "March 15, 2012 was a Thursday."]


def test_a_headline_made_from_a_web_address_is_cased_as_its_article_writes_it() -> None:
    from rag.ingest.titles import recase_title

    text = ("Members of Patriot Front were arrested near a Pride event in Coeur d'Alene. The FDA said on Friday that "
            "Yellowstone National Park would stay closed; the park had flooded. Front doors were shut. The group "
            "met at a city park, police said. Patriot Front denied it. Squid was on the menu, and Pride went on.")
    assert recase_title("Idaho patriot front arrests pride what we know", text) == \
        "Idaho Patriot Front arrests Pride what we know"
    # A name is cased whole, though the article's "the park" outnumbers its "Park"; a first word only when the
    # article writes it with a capital inside ("FDA", not "Squid").
    assert recase_title("Fda yellowstone national park flooding", text) == "FDA Yellowstone National Park flooding"
    assert recase_title("Squid served at the park", text) == "Squid served at the park"
    # A word the article capitalizes only inside a longer name ("Patriot Front") or where a sentence starts ("Front
    # doors") is no name of its own.
    assert recase_title("Fence at the front", text) == "Fence at the front"
    # A headline that names something in capitals was cased by its newsroom and stays as it is.
    assert recase_title("Police in Idaho arrest a patriot front", text) == "Police in Idaho arrest a patriot front"
    assert recase_title("Arrests", text) == "Arrests"


def test_ingest_stores_the_cased_headline(hash_index: NewsIndex, tmp_path: Path) -> None:
    record = {"id": "cnn-1", "title": "Liz truss government crisis thursday", "published": "2022-10-20",
              "text": "Liz Truss resigned as UK prime minister on Thursday after 45 days in office. Truss said she "
                      "could not deliver the mandate. The pound rose after Truss spoke."}
    path = tmp_path / "cnn.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    # Cased where every reader's articles pass, so a Ray cluster splits and embeds what the index stores.
    (article,) = list(read_inputs([str(path)]))
    assert article.title == "Liz Truss government crisis Thursday"
    hash_index.ingest([str(path)])
    (title,) = hash_index.store.query("SELECT title FROM articles WHERE article_id = 'cnn-1'")[0]
    assert title == "Liz Truss government crisis Thursday"


def test_plain_text_seed_article(hash_index: NewsIndex) -> None:
    (article,) = list(read_inputs([SEED]))
    assert article.published == "2019-12-14"
    assert article.title == ("Russia and Turkey will start joint production of S-400 defense system and transfer "
                             "of technologies")
    assert article.source == "Sputnik"
    # The title repeated as the first paragraph, the paragraph repeated with a full stop, and blog boilerplate
    # are dropped from the text.
    assert not article.text.startswith(article.title)
    assert article.text.count("As we reported yesterday, Turkey could finalise terms") == 1
    assert "No comments" not in article.text and "Post a Comment" not in article.text

    hash_index.ingest([SEED])
    texts = [r[0] for r in hash_index.store.query("SELECT text FROM passages ORDER BY ordinal")]
    starts = [t for t in texts if t.startswith("As we reported yesterday")]
    assert len(starts) == 1
    assert not any("No comments" in t or "Post a Comment" in t for t in texts)


def test_html_page_text_and_metadata() -> None:
    (article,) = list(read_inputs([PAGE]))
    assert article.title == "Harbour city opens floating solar farm"
    assert article.published == "2021-06-03"
    assert article.author == "Maria Lindqvist"
    assert article.source == "The Coastal Gazette"
    assert article.url == "https://gazette.example.org/2021/06/03/floating-solar-farm"
    paragraphs = article.text.split("\n\n")
    assert len(paragraphs) == 5, paragraphs
    assert paragraphs[0].startswith("The city council of Port Alder switched on a floating solar farm")
    assert "enough to power 4,000 homes" in article.text
    for junk in ("Subscribe", "Weather", "tracking code", "font-family", "bus lanes", "Follow us", "All rights"):
        assert junk not in article.text, junk


def test_rss_feed_items_and_the_empty_one() -> None:
    items = list(read_inputs([RSS]))
    bridge, apples = articles(items)
    assert bridge.title == "Bridge over the Marrow river reopens after repairs"
    assert bridge.url == "https://courier.example.net/2022/03/bridge-reopens"
    assert bridge.published == "2022-03-15"
    assert bridge.source == "Valley Courier"
    assert bridge.author == "Ana Ruiz"
    # content:encoded (the full text) wins over the one-line description.
    assert "corroded steel bearings" in bridge.text
    assert apples.published == "2022-03-16" and "85,000 tonnes" in apples.text
    (empty,) = problems(items)
    assert empty.where == f"{RSS} item 3" and "no text" in empty.reason


def test_atom_feed_entries() -> None:
    glacier, telescope = list(read_inputs([ATOM]))
    assert glacier.title == "Glacier in the Kesta valley retreated 60 metres last year"
    assert glacier.published == "2023-05-01"  # <published>, not <updated>
    assert glacier.author == "Jon Halvorsen"
    assert glacier.source == "Northern Science Desk"
    assert glacier.text.split("\n\n")[1] == "The team blamed a warm summer and little winter snow."
    assert telescope.published == "2023-05-02"  # only <updated>
    assert "first images" in telescope.text


def test_directory_is_read_recursively_by_extension(tmp_path: Path) -> None:
    root = tmp_path / "news"
    (root / "a" / "b").mkdir(parents=True)
    shutil.copy(PAGE, root / "page.HTML")
    shutil.copy(RSS, root / "a" / "feed.rss")
    shutil.copy(SEED, root / "a" / "b" / "seed.txt")
    (root / "a" / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (root / "a" / "b" / "table.csv").write_text("a,b\n1,2\n")
    items = list(read_inputs([root]))
    assert problems(items) == [Problem(f"{root / 'a' / 'feed.rss'} item 3", "feed item has no text")]
    titles = {a.title for a in articles(items)}
    assert titles == {"Bridge over the Marrow river reopens after repairs", "Orchard growers expect record apple harvest",
                      "Harbour city opens floating solar farm",
                      "Russia and Turkey will start joint production of S-400 defense system and transfer of technologies"}


def test_directory_without_supported_files(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("a,b\n")
    (problem,) = list(read_inputs([tmp_path]))
    assert problem.where == str(tmp_path) and "no files ending in" in problem.reason


# --- http(s) URLs from a real server on 127.0.0.1 ---------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    stop: threading.Event
    secret: Path

    def log_message(self, *args) -> None:  # noqa: ANN002 - keep test output clean
        pass

    def _send(self, body: bytes, content_type: str, length: bool = True) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = self.path
        if path == "/page.html":
            self._send(PAGE.read_bytes(), "text/html; charset=utf-8")
        elif path == "/feed":
            self._send(RSS.read_bytes(), "application/rss+xml")
        elif path == "/atom.xml":
            self._send(ATOM.read_bytes(), "application/octet-stream")
        elif path == "/slow":
            self.stop.wait(30)  # never answers within the test's timeout
        elif path == "/trickle":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            while not self.stop.wait(0.05):
                self.wfile.write(b"<p>more</p>")
                self.wfile.flush()
        elif path == "/big":
            self._send(b"<p>" + b"x" * 300_000 + b"</p>", "text/html")
        elif path == "/big-no-length":
            self.close_connection = True
            self._send(b"<p>" + b"y " * 300_000 + b"</p>", "text/html", length=False)
        elif path == "/to-page":
            self._redirect("/page.html")
        elif path == "/to-file":
            self._redirect(self.secret.as_uri())
        elif path == "/to-ftp":
            self._redirect("ftp://127.0.0.1/secret.txt")
        else:
            self.send_error(404, "Not Found")

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 (its own thread); yields its base URL."""
    secret = tmp_path / "secret.txt"
    secret.write_text("Secret headline\n\nThe password is swordfish-4711 and must never be indexed.\n")
    stop = threading.Event()
    handler = type("Handler", (_Handler,), {"stop": stop, "secret": secret})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    stop.set()
    httpd.shutdown()
    httpd.server_close()


def test_url_of_a_page_and_of_feeds(server: str) -> None:
    (page,) = list(read_inputs([f"{server}/page.html"]))
    assert page.title == "Harbour city opens floating solar farm"
    assert page.published == "2021-06-03"
    rss = list(read_inputs([f"{server}/feed"]))
    assert len(articles(rss)) == 2 and problems(rss)[0].where == f"{server}/feed item 3"
    # A feed served with a generic content type is recognized by its content.
    assert [a.author for a in read_inputs([f"{server}/atom.xml"])] == ["Jon Halvorsen", ""]
    # A redirect between http(s) pages is followed; the page's own url comes from its canonical link.
    (moved,) = list(read_inputs([f"{server}/to-page"]))
    assert moved.article_id == page.article_id


def test_url_ingest_through_the_index(server: str, tmp_path: Path) -> None:
    index = NewsIndex.open(tmp_path / "index", create=True, embedder=HashEmbedder(256))
    report = index.ingest([f"{server}/page.html", f"{server}/feed", f"{server}/nothing-here"])
    assert report.added == 3
    assert [str(p) for p in report.problems] == [f"{server}/feed item 3: feed item has no text",
                                                 f"{server}/nothing-here: server answered HTTP 404 Not Found"]
    answer = index.ask("How many homes will the floating solar farm power?", as_of="2021-07-01")
    assert answer.sources and answer.sources[0].title == "Harbour city opens floating solar farm"
    index.close()


@pytest.mark.parametrize(("path", "reason"), [
    ("/missing", "server answered HTTP 404 Not Found"),
    ("/slow", "no answer within 0.5 s"),
    ("/trickle", "download took longer than 0.5 s"),
    ("/big", "response is 300,007 bytes, over the limit of 100,000 bytes"),
    ("/big-no-length", "response is larger than the limit of 100,000 bytes"),
])
def test_url_failures_are_one_clear_problem(server: str, path: str, reason: str) -> None:
    url = server + path
    assert list(read_inputs([url], timeout_s=0.5, max_fetch_bytes=100_000)) == [Problem(url, reason)]


def test_fetch_limits_come_from_the_settings(server: str, tmp_path: Path) -> None:
    settings = Settings(max_fetch_bytes=100_000, fetch_timeout_s=0.5)
    index = NewsIndex.open(tmp_path / "index", create=True, embedder=HashEmbedder(256), settings=settings)
    report = index.ingest([f"{server}/big", f"{server}/slow", f"{server}/page.html"])
    assert report.added == 1
    assert [p.reason for p in report.problems] == ["response is 300,007 bytes, over the limit of 100,000 bytes",
                                                   "no answer within 0.5 s"]
    index.close()


def test_only_http_urls_are_fetched(server: str, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    for url in (secret.as_uri(), "ftp://127.0.0.1/secret.txt", "file:secret.txt"):
        (problem,) = list(read_inputs([url]))
        assert problem.where == url and problem.reason in ("only http:// and https:// addresses can be fetched",
                                                           "no such file or directory")
    # A redirect away from http(s) is refused, whatever the scheme; the file's content is never read.
    (to_file,) = list(read_inputs([server + "/to-file"]))
    assert to_file == Problem(server + "/to-file", f"server answered HTTP 302 Found - Redirection to url "
                                                   f"'{secret.as_uri()}' is not allowed")
    (to_ftp,) = list(read_inputs([server + "/to-ftp"]))
    assert to_ftp == Problem(server + "/to-ftp", "redirects to a non-http(s) address: ftp://127.0.0.1/secret.txt")


def test_unreachable_url(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/news.xml"
    (problem,) = list(read_inputs([url], timeout_s=2))
    assert problem.where == url and problem.reason.startswith("could not connect")


# --- ids and duplicates ------------------------------------------------------------------------------------
def test_ids_are_deterministic_and_a_second_ingest_adds_nothing(hash_index: NewsIndex) -> None:
    inputs = [WIKINEWS, SEED, PAGE, RSS, ATOM]
    first_ids = [a.article_id for a in articles(list(read_inputs(inputs)))]
    assert first_ids == [a.article_id for a in articles(list(read_inputs(inputs)))]
    assert len(set(first_ids)) == len(first_ids) == 43 + 1 + 1 + 2 + 2
    first = hash_index.ingest(inputs)
    assert first.added == len(first_ids) and first.duplicates == 0
    before = hash_index.store.counts()
    generation = hash_index.store.generation()
    again = hash_index.ingest(inputs)
    assert (again.added, again.replaced, again.unchanged, again.passages) == (0, 0, len(first_ids), 0)
    assert hash_index.store.counts() == before
    assert hash_index.store.generation() == generation  # nothing was written at all


def test_same_text_under_another_id_is_a_duplicate(hash_index: NewsIndex, tmp_path: Path) -> None:
    text = "The river Marrow flooded the lower town on Sunday. Two hundred homes were evacuated by boat."
    first = tmp_path / "first.jsonl"
    first.write_text(json.dumps({"id": "wire-1", "title": "Flood", "text": text}) + "\n"
                     + json.dumps({"id": "wire-2", "title": "Flood (copy)", "text": text}) + "\n")
    report = hash_index.ingest([first])
    assert (report.added, report.duplicates) == (1, 1)
    # Case, spacing and punctuation do not make a text new.
    second = tmp_path / "second.jsonl"
    second.write_text(json.dumps({"id": "site-7", "title": "Flood", "text": text.upper().replace(".", " !")}) + "\n")
    report = hash_index.ingest([second])
    assert (report.added, report.duplicates) == (0, 1)
    # Copies keep no passages of their own, but stay citable as copies of the story they repeat.
    rows = hash_index.store.query("SELECT a.article_id, COUNT(p.passage_id) FROM articles a LEFT JOIN passages p "
                                  "ON p.article_id = a.article_id GROUP BY a.article_id ORDER BY a.article_id")
    assert rows == [("site-7", 0), ("wire-1", 1), ("wire-2", 0)]
    hits = hash_index.ask("river Marrow flooded the lower town").hits
    assert [h.article.article_id for h in hits] == ["wire-1"]
    assert set(hits[0].copies) == {"wire-2", "site-7"}


# --- bad input through `newsrag ingest` --------------------------------------------------------------------
def _ingest_cli(index_dir: Path, *inputs: str | Path) -> int:
    return main(["ingest", *map(str, inputs), "--index", str(index_dir), "--model", "hash-256", "--quiet"])


def _count(index_dir: Path) -> int:
    index = NewsIndex.open(index_dir)
    try:
        return index.store.counts()["articles"]
    finally:
        index.close()


def test_bad_inputs_each_get_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    index_dir = tmp_path / "index"
    assert _ingest_cli(index_dir, SEED) == 0
    capsys.readouterr()
    bad = tmp_path / "bad"
    bad.mkdir()
    binary = bad / "photo.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    latin = bad / "latin.txt"
    latin.write_bytes("Zürich café reopens\n\nThe café on the Limmat reopened in Zürich on Monday.".encode("latin-1"))
    empty = bad / "empty.jsonl"
    empty.write_text(json.dumps({"id": "e1", "title": "Nothing", "text": "   "}) + "\n")
    lines = bad / "lines.jsonl"
    good = [{"id": f"g{i}", "title": f"Good {i}", "text": f"Good article number {i} about the harbour."} for i in range(3)]
    lines.write_text(json.dumps(good[0]) + "\n" + json.dumps(good[1]) + "\n{not json\n" + json.dumps(good[2]) + "\n")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{sock.getsockname()[1]}/feed.xml"
    missing = tmp_path / "missing.jsonl"

    code = _ingest_cli(index_dir, missing, binary, latin, empty, lines, dead_url)
    out, err = capsys.readouterr()
    assert code == 1
    messages = [line for line in err.splitlines() if line.startswith("newsrag: ")]
    expected = [
        f"newsrag: skipped: {missing}: no such file or directory",
        f"newsrag: skipped: {binary}: looks like a binary file (it contains NUL bytes), not text",
        f"newsrag: warning: {latin}: not valid UTF-8",
        f"newsrag: skipped: {empty}:1: field 'text' is missing or empty",
        f"newsrag: skipped: {lines}:3: not valid JSON",
        f"newsrag: skipped: {dead_url}: could not connect",
        "newsrag: 5 inputs skipped (see above); 4 articles went in",
    ]
    assert len(messages) == len(expected), err
    for message, start in zip(messages, expected, strict=True):
        assert message.startswith(start), (message, start)
    assert out.startswith("added 4 articles")
    # Nothing indexed before was lost; the good lines around the bad one and the Latin-1 file went in.
    assert _count(index_dir) == 1 + 4
    index = NewsIndex.open(index_dir)
    stored = dict(index.store.query("SELECT article_id, title FROM articles"))
    assert {"g0", "g1", "g2"} <= set(stored)
    assert "Zürich café reopens" in stored.values()
    index.close()


def test_ingest_exits_zero_when_all_went_in(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _ingest_cli(tmp_path / "index", RSS, PAGE) == 1  # the RSS fixture's empty item counts as a failure
    capsys.readouterr()
    assert _ingest_cli(tmp_path / "index2", PAGE, ATOM) == 0
    out, err = capsys.readouterr()
    assert "added 3 articles" in out and "skipped" not in err
