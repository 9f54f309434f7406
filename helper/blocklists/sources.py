"""Downloading blocklists (checking where they may come from is `locations.py`'s).

Downloads are conditional (If-None-Match, If-Modified-Since), bounded in size
and time, and made from sockets carrying the helper's own mark, so they never wait in its
own queue. Copies are written atomically (temporary file, fsync, rename), mode 0600.
"""

import functools
import http.client
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from netwarden_helper.blocklists.locations import MAX_BYTES, SourceError

TIMEOUT_S = 30.0  # for connecting, each read, and a whole blocklist
CHUNK = 1 << 16


@dataclass(frozen=True)
class Download:
    """A conditional GET's outcome: `data` None means unchanged (304); with `into`, the
    body went there and `data` is empty."""

    data: bytes | None
    etag: str
    last_modified: str


def download(
    url: str,
    etag: str,
    last_modified: str,
    mark: int,
    max_bytes: int = MAX_BYTES,
    deadline_s: float = TIMEOUT_S,
    into: BinaryIO | None = None,
) -> Download:
    """GET `url` (at most `max_bytes`, all of it within `deadline_s`), unless unchanged
    since `etag` / `last_modified`, from sockets carrying `mark` (the helper's own: never
    queued), into memory or written to `into` as it comes; `SourceError` on failure."""
    request = urllib.request.Request(url, headers={"User-Agent": "netwarden-helper"})
    if etag:
        request.add_header("If-None-Match", etag)
    if last_modified:
        request.add_header("If-Modified-Since", last_modified)
    try:
        with _opener(mark).open(request, timeout=TIMEOUT_S) as response:
            chunks: list[bytes] = []
            _read_bounded(response, deadline_s, max_bytes, into.write if into else chunks.append)
            data = b"".join(chunks)
            headers = response.headers
    except urllib.error.HTTPError as exc:
        if exc.code == 304:
            return Download(None, etag, last_modified)
        raise SourceError(f"HTTP {exc.code} {exc.reason}") from None
    except SourceError:
        raise
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        raise SourceError(f"download failed: {getattr(exc, 'reason', exc)}") from None
    return Download(data, headers.get("ETag", ""), headers.get("Last-Modified", ""))


def _read_bounded(
    response: http.client.HTTPResponse,
    seconds: float,
    max_bytes: int,
    take: Callable[[bytes], object],
) -> None:
    """Give the body to `take` a piece at a time, refused when it is larger than
    `max_bytes` or still arriving after `seconds` (the socket's timeout only bounds each
    read: a server sending one byte every few seconds would otherwise hold the worker
    for days)."""
    deadline = time.monotonic() + seconds
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise SourceError(f"larger than {max_bytes >> 20} MiB")
    size = 0
    while chunk := response.read1(CHUNK):  # one recv at a time, so the deadline holds
        size += len(chunk)
        if size > max_bytes:
            raise SourceError(f"larger than {max_bytes >> 20} MiB")
        if time.monotonic() > deadline:
            raise SourceError(f"download took longer than {seconds:.0f} s")
        take(chunk)


def _marked_connection(
    mark: int,
    address: tuple[str, int],
    timeout: float | None = None,
    source_address: object = None,
) -> socket.socket:
    """`socket.create_connection`, with `mark` set before connecting."""
    host, port = address
    error: OSError = OSError(f"no address for {host}")
    for family, kind, protocol, _name, target in socket.getaddrinfo(
        host, port, 0, socket.SOCK_STREAM
    ):
        sock = socket.socket(family, kind, protocol)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, mark)
            sock.settimeout(timeout)
            sock.connect(target)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error


def _marked(base: type[http.client.HTTPConnection], mark: int) -> type[http.client.HTTPConnection]:
    """`base` connecting from sockets marked `mark`."""

    class Marked(base):  # type: ignore[valid-type,misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # http.client sets _create_connection on each instance: a method is shadowed.
            self._create_connection = functools.partial(_marked_connection, mark)

    return Marked


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, mark: int) -> None:
        super().__init__()
        self._connection = _marked(http.client.HTTPConnection, mark)

    def http_open(self, request: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connection, request)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, mark: int) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(context=self._tls)
        self._connection = _marked(http.client.HTTPSConnection, mark)

    def https_open(self, request: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connection, request, context=self._tls)


def _opener(mark: int) -> urllib.request.OpenerDirector:
    """http and https only (a redirect to file: or ftp: fails), no proxy from the
    environment, sockets marked `mark`."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        _HTTPHandler(mark),
        _HTTPSHandler(mark),
        urllib.request.HTTPRedirectHandler(),
        urllib.request.HTTPErrorProcessor(),
        urllib.request.HTTPDefaultErrorHandler(),
    ):
        opener.add_handler(handler)
    return opener
