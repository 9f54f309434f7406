"""Where blocklists come from: checking a source, downloading, reading, keeping a copy.

A source is an http(s) URL or a local file in one of the folders the administrator keeps
lists in (`--blocklists-dir`, default /etc/netwarden/blocklists, and
/usr/share/netwarden/blocklists for packaged lists). The helper never reads a path a
caller names elsewhere: that would let anyone with the right to add a list make root read
any file. Downloads are conditional (If-None-Match, If-Modified-Since), bounded in size
and time, and made from sockets carrying the helper's own mark, so they never wait in its
own queue. Copies are written atomically (temporary file, fsync, rename), mode 0600.
"""

import http.client
import os
import socket
import stat
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from netwarden_helper.netfilter import OWN_MARK

ADMIN_DIR = Path("/etc/netwarden/blocklists")
PACKAGED_DIR = Path("/usr/share/netwarden/blocklists")
MAX_BYTES = 64 << 20
MAX_SOURCE = 2048
TIMEOUT_S = 30.0  # for the whole download
CHUNK = 1 << 16


class SourceError(ValueError):
    """A source is refused, or could not be read; the message says why."""


def checked_source(source: str, local_dirs: tuple[Path, ...]) -> str:
    """`source` if it is an http(s) URL or a readable regular file in `local_dirs`."""
    if not source or len(source) > MAX_SOURCE or not source.isprintable() or " " in source:
        raise SourceError("source: must be an http(s) URL or an absolute path, "
                          f"at most {MAX_SOURCE} characters, without spaces")  # fmt: skip
    if source.startswith("/"):
        return _checked_path(source, local_dirs)
    if not source.isascii():
        raise SourceError("source: a URL must be ASCII (percent-encode other characters, "
                          "write an international host name in its xn-- form)")  # fmt: skip
    try:
        parts = urllib.parse.urlsplit(source)
        hostname, _port = parts.hostname, parts.port
    except ValueError as exc:
        raise SourceError(f"source: not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise SourceError("source: must be an http:// or https:// URL, or an absolute path")
    return source


def _checked_path(source: str, local_dirs: tuple[Path, ...]) -> str:
    folders = " or ".join(f"{folder}/" for folder in local_dirs)
    real = os.path.realpath(source)
    if os.path.normpath(source) != source or not any(
        Path(real).is_relative_to(os.path.realpath(folder)) for folder in local_dirs
    ):
        raise SourceError(f"source: local blocklists are read only from {folders} "
                          "(the helper reads no other file it is given)")  # fmt: skip
    try:
        mode = os.stat(real).st_mode
    except OSError as exc:
        raise SourceError(f"source: {source}: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        raise SourceError(f"source: {source} is not a regular file")
    return source


def is_url(source: str) -> bool:
    return not source.startswith("/")


def read_local(source: str, local_dirs: tuple[Path, ...]) -> bytes:
    """The content of a local list (checked again: the file may have been swapped)."""
    checked_source(source, local_dirs)
    with open(source, "rb") as file:
        data = file.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise SourceError(f"larger than {MAX_BYTES >> 20} MiB")
    return data


@dataclass(frozen=True)
class Download:
    """A conditional GET's outcome: `data` None means unchanged (304)."""

    data: bytes | None
    etag: str
    last_modified: str


def download(url: str, etag: str, last_modified: str) -> Download:
    """GET `url`, unless unchanged since `etag` / `last_modified`; `SourceError` on failure."""
    request = urllib.request.Request(url, headers={"User-Agent": "netwarden-helper"})
    if etag:
        request.add_header("If-None-Match", etag)
    if last_modified:
        request.add_header("If-Modified-Since", last_modified)
    try:
        with _OPENER.open(request, timeout=TIMEOUT_S) as response:
            data = _read_bounded(response, time.monotonic() + TIMEOUT_S)
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


def _read_bounded(response: http.client.HTTPResponse, deadline: float) -> bytes:
    """The body, refused when it is larger than `MAX_BYTES` or still arriving at
    `deadline` (the socket's timeout only bounds each read: a server sending one byte
    every few seconds would otherwise hold the worker for days)."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_BYTES:
        raise SourceError(f"larger than {MAX_BYTES >> 20} MiB")
    chunks, size = [], 0
    while chunk := response.read1(CHUNK):  # one recv at a time, so the deadline holds
        size += len(chunk)
        if size > MAX_BYTES:
            raise SourceError(f"larger than {MAX_BYTES >> 20} MiB")
        if time.monotonic() > deadline:
            raise SourceError(f"download took longer than {TIMEOUT_S:.0f} s")
        chunks.append(chunk)
    return b"".join(chunks)


def _marked_connection(
    address: tuple[str, int], timeout: float | None = None, source_address: object = None
) -> socket.socket:
    """`socket.create_connection`, with the helper's mark set before connecting."""
    host, port = address
    error: OSError = OSError(f"no address for {host}")
    for family, kind, protocol, _name, target in socket.getaddrinfo(
        host, port, 0, socket.SOCK_STREAM
    ):
        sock = socket.socket(family, kind, protocol)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, OWN_MARK)
            sock.settimeout(timeout)
            sock.connect(target)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error


class _HTTPConnection(http.client.HTTPConnection):
    _create_connection = staticmethod(_marked_connection)


class _HTTPSConnection(http.client.HTTPSConnection):
    _create_connection = staticmethod(_marked_connection)


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, request: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_HTTPConnection, request)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, request: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_HTTPSConnection, request, context=self._context)


def _opener() -> urllib.request.OpenerDirector:
    """http and https only (a redirect to file: or ftp: fails), no proxy from the
    environment, marked sockets."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        _HTTPHandler(),
        _HTTPSHandler(),
        urllib.request.HTTPRedirectHandler(),
        urllib.request.HTTPErrorProcessor(),
        urllib.request.HTTPDefaultErrorHandler(),
    ):
        opener.add_handler(handler)
    return opener


_OPENER = _opener()
