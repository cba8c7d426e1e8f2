"""URL ingestion from the app must not reach this machine or its network (server-side request forgery).

The sandbox has no public host, so the refusals are tested for real (a server on 127.0.0.1 counts the requests
that reach it, and the network guard in conftest fails any connection elsewhere), and the redirect and
re-resolution checks use a stand-in: ``is_public`` patched to count 127.0.0.1 as public, so that a local server
can play the public site that redirects to a private address.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rag.app import Handlers
from rag.config import Settings
from rag.embed import HashEmbedder
from rag.errors import InputError
from rag.ingest import read_inputs
from rag.ingest import url as url_module
from rag.ingest.url import PRIVATE, fetch, is_public
from rag.pipeline import NewsIndex
from rag.types import Article, Problem

PAGE = (b"<html><head><title>Harbour bridge repainted</title></head><body><article><h1>Harbour bridge repainted"
        b"</h1><p>Painters finished the harbour bridge on 2 May 2022 after nine months of work on the steel arches, "
        b"the city council said on Monday.</p></article></body></html>")
LAN = "10.0.0.7"


class _Handler(BaseHTTPRequestHandler):
    seen: list[str]
    redirects: dict[str, str]

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.seen.append(self.path)
        if self.path in self.redirects:
            self.send_response(302)
            self.send_header("Location", self.redirects[self.path].format(port=self.server.server_address[1]))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args) -> None:  # noqa: ANN002
        pass


class Server:
    """A page server on 127.0.0.1 that records every path asked for."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        redirects = {"/to-page": "http://127.0.0.1:{port}/page",
                     "/to-metadata": "http://169.254.169.254/latest/meta-data/",
                     "/to-lan": "http://lan.test:{port}/page",
                     "/to-flip": "http://flip.test:{port}/page"}
        handler = type("Handler", (_Handler,), {"seen": self.seen, "redirects": redirects})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    thread = threading.Thread(target=srv.httpd.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


@pytest.fixture
def loopback_is_public(monkeypatch: pytest.MonkeyPatch) -> None:
    """127.0.0.1 stands in for a public site; every other address is judged as in production."""
    real = url_module.is_public
    monkeypatch.setattr(url_module, "is_public", lambda a: a == ipaddress.ip_address("127.0.0.1") or real(a))


@pytest.fixture
def test_names(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """``*.test`` names resolve to the addresses listed here, one answer per lookup (the last one repeats)."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if isinstance(host, str) and host.endswith(".test"):
            queue = answers[host]
            ip = queue.pop(0) if len(queue) > 1 else queue[0]
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, int(port)))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


# --- the address test ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
    "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255", "192.0.2.1", "198.18.0.1",
    "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "2001:db8::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "2002:7f00:1::1", "2002:a00:1::1",
])
def test_local_private_and_special_addresses_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111",
                                     "::ffff:8.8.8.8", "2002:808:808::1"])
def test_public_addresses_are_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


# --- refusals before any request -------------------------------------------------------------------------------
@pytest.mark.parametrize("spelling", ["127.0.0.1", "localhost", "[::1]", "2130706433", "127.1", "0x7f.0.0.1",
                                      "0.0.0.0", "[::ffff:127.0.0.1]"])
def test_loopback_in_any_spelling_is_refused_without_a_request(server: Server, spelling: str) -> None:
    url = f"http://{spelling}:{server.port}/page"
    with pytest.raises(InputError) as caught:
        fetch(url, timeout_s=5, max_bytes=100_000, allow_private=False)
    assert caught.value.where == url
    assert caught.value.reason.startswith(PRIVATE + " (")
    assert server.seen == []


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/admin",
                                 "https://192.168.1.1/", "http://[fe80::1]/", "http://224.0.0.251:5353/"])
def test_lan_and_metadata_addresses_are_refused(url: str) -> None:
    # Without the check these would reach conftest's network guard and read "could not connect".
    (problem,) = list(read_inputs([url], timeout_s=2, allow_private_urls=False))
    assert problem.where == url and problem.reason.startswith(PRIVATE)


def test_loopback_is_fetched_when_private_addresses_are_allowed(server: Server) -> None:
    body, kind, final = fetch(server.base + "/page", timeout_s=5, max_bytes=100_000, allow_private=True)
    assert body == PAGE and kind.startswith("text/html") and final == server.base + "/page"
    (article,) = list(read_inputs([server.base + "/to-page"]))  # the default stays as before: allowed
    assert isinstance(article, Article) and article.title == "Harbour bridge repainted"


# --- redirects -------------------------------------------------------------------------------------------------
def test_redirect_handler_checks_the_hop() -> None:
    handler = url_module._SafeRedirects(allow_private=False)
    request = urllib.request.Request("http://news.example/story")
    with pytest.raises(InputError, match="redirected to http://169.254.169.254/latest/") as caught:
        handler.redirect_request(request, None, 302, "Found", {}, "http://169.254.169.254/latest/meta-data/")
    assert caught.value.where == "http://news.example/story" and caught.value.reason.startswith(PRIVATE)


@pytest.mark.usefixtures("loopback_is_public")
def test_a_public_site_may_redirect_to_public_pages_only(server: Server, test_names: dict) -> None:
    test_names["lan.test"] = [LAN]
    body, _, final = fetch(server.base + "/to-page", timeout_s=5, max_bytes=100_000, allow_private=False)
    assert body == PAGE and final == server.base + "/page"
    for path, reason in (("/to-metadata", "redirected to http://169.254.169.254/latest/meta-data/: 169.254.169.254"),
                         ("/to-lan", f"redirected to http://lan.test:{server.port}/page: lan.test resolves to {LAN}")):
        (problem,) = list(read_inputs([server.base + path], timeout_s=5, allow_private_urls=False))
        assert problem == Problem(server.base + path, f"{PRIVATE} ({reason})")
    assert server.seen == ["/to-page", "/page", "/to-metadata", "/to-lan"]


@pytest.mark.usefixtures("loopback_is_public")
def test_the_connection_checks_the_address_it_connects_to(server: Server, test_names: dict) -> None:
    # DNS rebinding: the name looks public when the redirect is checked, then resolves to the LAN; the connection
    # resolves once more and connects only to what it checked, so the second answer is what gets refused.
    test_names["flip.test"] = ["127.0.0.1", LAN]
    url = server.base + "/to-flip"
    with pytest.raises(InputError) as caught:
        fetch(url, timeout_s=5, max_bytes=100_000, allow_private=False)
    assert caught.value.where == url and caught.value.reason == f"{PRIVATE} (flip.test resolves to {LAN})"
    assert server.seen == ["/to-flip"]


# --- the settings, the index and the app -----------------------------------------------------------------------
def test_settings_and_ingest_carry_the_choice(server: Server, tmp_path: Path) -> None:
    index = NewsIndex.open(tmp_path / "index", create=True, embedder=HashEmbedder(256),
                           settings=Settings(allow_private_urls=False))
    try:
        report = index.ingest([server.base + "/page"])
        assert report.added == 0 and report.problems[0].reason == f"{PRIVATE} (127.0.0.1)"
        assert index.ingest([server.base + "/page"], allow_private_urls=True).added == 1
    finally:
        index.close()
    assert server.seen == ["/page"]


def test_the_app_refuses_private_urls_unless_the_environment_allows_them(server: Server, hash_index,  # noqa: ANN001
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSRAG_ALLOW_PRIVATE_URLS", raising=False)
    status, *_ = Handlers(hash_index).add(None, server.base + "/page")
    assert PRIVATE in status and "0 articles added" in status and server.seen == []
    monkeypatch.setenv("NEWSRAG_ALLOW_PRIVATE_URLS", "1")
    status, *_ = Handlers(hash_index).add(None, server.base + "/page")
    assert "1 article added" in status and server.seen == ["/page"]


def test_the_app_takes_no_server_paths_in_the_address_box(hash_index, tmp_path: Path) -> None:  # noqa: ANN001
    secret = tmp_path / "secret.txt"
    secret.write_text("Secret headline\n\nThe password is swordfish-4711.\n", encoding="utf-8")
    status, *_ = Handlers(hash_index).add(None, f"{secret} {tmp_path}")
    assert f"{secret}: only http:// and https:// addresses can be added here" in status
    assert "0 articles added" in status and hash_index.stats()["articles"] == 0
