"""sha256 of running executables, off the loop thread, cached by file identity.

The file is read through /proc/<pid>/exe, so the hash is that of the binary the process
runs even when the path now holds another file or none. The cache key is the file's
(device, inode, size, mtime_ns, ctime_ns): a binary changed in place gets a new key and
is hashed again; an unchanged one is hashed once however many processes run it.
"""

import hashlib
import logging
import os
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from netwarden_helper.runtime.loop import Loop

log = logging.getLogger(__name__)

FileKey = tuple[int, int, int, int, int]


def stat_key(st: os.stat_result) -> FileKey:
    """A file's identity from its stat: changes whenever its content may have."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def file_key(pid: int) -> FileKey | None:
    """The identity of the executable `pid` runs, or None if it is gone."""
    try:
        return stat_key(os.stat(f"/proc/{pid}/exe"))
    except OSError:
        return None


def sha256_of(path: str) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


class BinaryHasher:
    """Hashes executables in a worker pool; results come back on the loop."""

    def __init__(self, loop: Loop, workers: int = 1, cache_size: int = 4096) -> None:
        self._loop = loop
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hash")
        self._cache: OrderedDict[FileKey, str] = OrderedDict()
        self._cache_size = cache_size
        self._waiting: dict[FileKey, list[Callable[[str | None], None]]] = {}

    def cached(self, key: FileKey) -> str | None:
        """The hash of file `key` if it is known already (cheap: call it per packet)."""
        digest = self._cache.get(key)
        if digest is not None:
            self._cache.move_to_end(key)
        return digest

    def request(self, pid: int, key: FileKey, on_done: Callable[[str | None], None]) -> None:
        """Hash `pid`'s executable (file `key`); `on_done(hash or None)` runs on the loop."""
        if key in self._waiting:
            self._waiting[key].append(on_done)
            return
        self._waiting[key] = [on_done]
        self._pool.submit(self._hash, pid, key)

    def _hash(self, pid: int, key: FileKey) -> None:
        try:
            digest: str | None = sha256_of(f"/proc/{pid}/exe")
        except OSError as exc:
            log.info("cannot hash the executable of pid %d: %s", pid, exc)
            digest = None
        self._loop.call_soon(lambda: self._deliver(key, digest))

    def remember(self, key: FileKey, digest: str) -> None:
        """Cache the hash of file `key` (hashed elsewhere)."""
        self._cache[key] = digest
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _deliver(self, key: FileKey, digest: str | None) -> None:
        if digest is not None:
            self.remember(key, digest)
        for on_done in self._waiting.pop(key, []):
            on_done(digest)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
