"""http(s) URLs of pages or feeds, fetched with a timeout and a size cap; no other scheme is followed.

With ``allow_private=False`` (what the app uses) a host that resolves to a loopback, private, link-local,
reserved or multicast address is refused, at the first request and at every redirect, so that a stranger cannot
make the server fetch 127.0.0.1, 169.254.169.254 (cloud metadata) or the LAN.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urlparse

from rag import __version__
from rag.errors import InputError

ALLOWED = ("http", "https")
PRIVATE = "refusing to fetch a private or local address"


class PrivateAddressError(OSError):
    """A host resolved to an address that ``allow_private=False`` forbids; the message names host and address."""


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for a globally routable unicast address; an IPv6 address that embeds an IPv4 one (``::ffff:a.b.c.d``,
    6to4) is judged by the IPv4 address it reaches."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return is_public(embedded)
    # is_global alone lets multicast (224.0.0.0/4, ff00::/8) and some reserved ranges through.
    return address.is_global and not (address.is_multicast or address.is_reserved)


def public_addresses(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to, in resolver order; raises PrivateAddressError when any is not public
    (a name with one public and one private address would let the attacker pick) and socket.gaierror when the
    name does not resolve."""
    found = [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
    for text in found:
        if not is_public(ipaddress.ip_address(text.split("%")[0])):
            raise PrivateAddressError(text if text == host.strip("[]") else f"{host} resolves to {text}")
    return list(dict.fromkeys(found))


def _connect_public(address: tuple[str, int], *args, **kwargs) -> socket.socket:  # noqa: ANN002, ANN003
    """socket.create_connection, to an address checked here: resolving once and connecting to what was checked
    leaves no gap for a DNS answer that changes between the check and the connection."""
    host, port = address
    error: OSError | None = None
    for ip in public_addresses(host, port):
        try:
            return socket.create_connection((ip, port), *args, **kwargs)
        except OSError as err:
            error = err
    raise error or OSError(f"{host} has no address")


class _PublicHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self._create_connection = _connect_public


class _PublicHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self._create_connection = _connect_public  # TLS still checks the certificate against the host name


class _PublicHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):  # noqa: ANN001, ANN201 - urllib's signature
        return self.do_open(_PublicHTTPConnection, req)


class _PublicHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):  # noqa: ANN001, ANN201 - urllib's signature
        return self.do_open(_PublicHTTPSConnection, req, context=self._context)


class _SafeRedirects(urllib.request.HTTPRedirectHandler):
    def __init__(self, allow_private: bool = True) -> None:
        self.allow_private = allow_private

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001 - urllib's signature
        target = urlparse(newurl)
        if target.scheme not in ALLOWED:
            raise InputError(req.full_url, f"redirects to a non-http(s) address: {newurl}")
        if not self.allow_private and target.hostname:
            # Checked here for a message that names the hop; the connection checks the address it uses again.
            try:
                public_addresses(target.hostname, target.port or (443 if target.scheme == "https" else 80))
            except PrivateAddressError as err:
                raise InputError(req.full_url, f"{PRIVATE} (redirected to {newurl}: {err})") from err
            except (OSError, ValueError):
                pass  # an unresolvable hop fails when it connects, with urllib's own message
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_SafeRedirects())
# No proxies from the environment: a proxy resolves the host itself, out of reach of the check.
_PUBLIC_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _PublicHTTPHandler,
                                             _PublicHTTPSHandler, _SafeRedirects(allow_private=False))


def is_url(value: str) -> bool:
    return urlparse(value).scheme in ALLOWED and bool(urlparse(value).netloc)


@dataclass(frozen=True)
class Response:
    """One HTTP answer: ``status`` (200, 304, 503, ...), the body (empty unless 2xx), its headers."""

    status: int
    reason: str
    body: bytes
    headers: Message
    final_url: str


def fetch(url: str, timeout_s: float, max_bytes: int, allow_private: bool = True) -> tuple[bytes, str, str]:
    """``(body, content_type, final_url)``; raises InputError with the reason on any failure.

    ``allow_private=False`` refuses hosts that resolve to loopback, private, link-local, reserved or multicast
    addresses, at every redirect too (for a server that strangers can reach).
    """
    response = fetch_response(url, timeout_s, max_bytes, allow_private)
    if not 200 <= response.status < 300:
        raise InputError(url, f"server answered HTTP {response.status} {response.reason}")
    return response.body, response.headers.get("Content-Type", ""), response.final_url


def fetch_response(url: str, timeout_s: float, max_bytes: int, allow_private: bool = True,
                   headers: dict[str, str] | None = None) -> Response:
    """The answer to a GET of ``url`` with extra request ``headers``, whatever its status (redirects followed,
    under the same checks as ``fetch``); raises InputError when there is no answer (refused address, no
    connection, timeout, body over ``max_bytes``)."""
    if urlparse(url).scheme not in ALLOWED:
        raise InputError(url, "only http:// and https:// addresses can be fetched")
    request = urllib.request.Request(url, headers={"User-Agent": f"newsrag/{__version__}", **(headers or {})})
    opener = _OPENER if allow_private else _PUBLIC_OPENER
    deadline = time.monotonic() + timeout_s
    try:
        with opener.open(request, timeout=timeout_s) as response:
            body = _read_capped(response, url, max_bytes, deadline, timeout_s)
            return Response(response.status, response.reason, body, response.headers, response.geturl())
    except urllib.error.HTTPError as err:
        err.close()
        return Response(err.code, str(err.reason), b"", err.headers, err.geturl() or url)
    except urllib.error.URLError as err:
        if isinstance(err.reason, PrivateAddressError):
            raise InputError(url, f"{PRIVATE} ({err.reason})") from err
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
