"""http(s) URLs of pages or feeds, fetched with a timeout and a size cap; no other scheme is followed."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from urllib.parse import urlparse

from rag import __version__
from rag.errors import InputError

ALLOWED = ("http", "https")


class _SafeRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001 - urllib's signature
        if urlparse(newurl).scheme not in ALLOWED:
            raise InputError(req.full_url, f"redirects to a non-http(s) address: {newurl}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_SafeRedirects())


def is_url(value: str) -> bool:
    return urlparse(value).scheme in ALLOWED and bool(urlparse(value).netloc)


def fetch(url: str, timeout_s: float, max_bytes: int) -> tuple[bytes, str, str]:
    """``(body, content_type, final_url)``; raises InputError with the reason on any failure."""
    if urlparse(url).scheme not in ALLOWED:
        raise InputError(url, "only http:// and https:// addresses can be fetched")
    request = urllib.request.Request(url, headers={"User-Agent": f"newsrag/{__version__}"})
    deadline = time.monotonic() + timeout_s
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            body = _read_capped(response, url, max_bytes, deadline, timeout_s)
            return body, response.headers.get("Content-Type", ""), response.geturl()
    except urllib.error.HTTPError as err:
        raise InputError(url, f"server answered HTTP {err.code} {err.reason}") from err
    except urllib.error.URLError as err:
        if isinstance(err.reason, TimeoutError):
            raise InputError(url, f"no answer within {timeout_s:g} s") from err
        raise InputError(url, f"could not connect ({err.reason})") from err
    except TimeoutError as err:
        raise InputError(url, f"no answer within {timeout_s:g} s") from err
    except OSError as err:
        raise InputError(url, f"could not fetch ({err})") from err


def _read_capped(response, url: str, max_bytes: int, deadline: float, timeout_s: float) -> bytes:  # noqa: ANN001
    """The body, refused once it passes ``max_bytes`` or the whole download passes ``timeout_s`` (the socket
    timeout alone bounds each read, so a server trickling bytes could otherwise hold on for ever)."""
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise InputError(url, f"response is {int(length):,} bytes, over the limit of {max_bytes:,} bytes")
    parts: list[bytes] = []
    size = 0
    read = getattr(response, "read1", response.read)
    while chunk := read(65536):
        parts.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise InputError(url, f"response is larger than the limit of {max_bytes:,} bytes")
        if time.monotonic() > deadline:
            raise InputError(url, f"download took longer than {timeout_s:g} s")
    return b"".join(parts)
