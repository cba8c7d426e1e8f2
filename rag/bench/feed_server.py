"""A local HTTP server of RSS / Atom feeds that change while it runs, for the follow tests and load benchmark.

Each route answers with its current body, an ETag and a Last-Modified, 304 to a matching conditional request,
and can be set to fail (a status with Retry-After) or to stall; every request's headers are recorded.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Item:
    link: str
    title: str
    text: str
    published: str = "Mon, 05 Dec 2022 10:00:00 GMT"


@dataclass
class Route:
    body: bytes = b""
    content_type: str = "application/rss+xml"
    status: int = 200
    retry_after: str = ""
    delay_s: float = 0.0
    validators: bool = True
    etag: str = ""
    last_modified: str = ""
    requests: list[dict[str, str]] = field(default_factory=list)


def rss(items: list[Item], title: str = "Test Wire") -> bytes:
    entries = "".join(f"<item><title>{escape(i.title)}</title><link>{escape(i.link)}</link><guid>{escape(i.link)}"
                      f"</guid><pubDate>{i.published}</pubDate><description>{escape(i.text)}</description></item>\n"
                      for i in items)
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>{escape(title)}</title>'
            f"<link>http://example.org/</link><description>news</description>\n{entries}</channel></rss>\n").encode()


def atom(items: list[Item], title: str = "Test Atom") -> bytes:
    entries = "".join(f'<entry><title>{escape(i.title)}</title><link href="{escape(i.link)}"/><id>{escape(i.link)}'
                      f"</id><updated>2022-12-05T10:00:00Z</updated><content type=\"html\">{escape(i.text)}</content>"
                      "</entry>\n" for i in items)
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom"><title>'
            f"{escape(title)}</title><id>urn:test</id><updated>2022-12-05T10:00:00Z</updated>\n{entries}</feed>\n"
            ).encode()


class FeedServer:
    """``with FeedServer() as server: server.set("/a.xml", rss(items)); url = server.url("/a.xml")``."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                owner._answer(self)

            def log_message(self, *args) -> None:  # noqa: ANN002 - quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True, name="feed-server")

    def __enter__(self) -> FeedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def set(self, path: str, body: bytes | None = None, **options) -> Route:  # noqa: ANN003 - Route fields
        """Publish ``body`` at ``path`` (a new ETag and Last-Modified when it changed) and/or change its options."""
        with self.lock:
            route = self.routes.setdefault(path, Route())
            if body is not None and body != route.body:
                route.body = body
                route.etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
                route.last_modified = formatdate(time.time(), usegmt=True)
            for name, value in options.items():
                setattr(route, name, value)
            return route

    def requests(self, path: str) -> list[dict[str, str]]:
        with self.lock:
            return list(self.routes[path].requests)

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?")[0]
        with self.lock:
            route = self.routes.get(path)
            if route is not None:
                route.requests.append({k.lower(): v for k, v in handler.headers.items()})
                body, status, retry, delay, etag, modified = (route.body, route.status, route.retry_after,
                                                              route.delay_s, route.etag, route.last_modified)
                validators, kind = route.validators, route.content_type
        if route is None:
            handler.send_error(404)
            return
        if delay:
            time.sleep(delay)
        if status != 200:
            handler.send_response(status)
            if retry:
                handler.send_header("Retry-After", retry)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        if validators and (handler.headers.get("If-None-Match") == etag or
                           (not handler.headers.get("If-None-Match") and handler.headers.get("If-Modified-Since") == modified)):
            handler.send_response(304)
            handler.send_header("ETag", etag)
            handler.end_headers()
            return
        handler.send_response(200)
        handler.send_header("Content-Type", kind)
        handler.send_header("Content-Length", str(len(body)))
        if validators:
            handler.send_header("ETag", etag)
            handler.send_header("Last-Modified", modified)
        handler.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            handler.wfile.write(body)
