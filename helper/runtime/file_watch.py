"""Watching folders for changed files with inotify, on the helper's loop.

Folders, not files, are watched: a package upgrade or an editor replaces a binary by
renaming a new file over it, which a watch on the old file would never see. A change is
reported once things settle (`SETTLE_S` after the last event for that file), so a file
written in many chunks is looked at once, whole.
"""

import ctypes
import ctypes.util
import logging
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from netwarden_helper.runtime.loop import Loop

log = logging.getLogger(__name__)

SETTLE_S = 0.3
IN_ATTRIB, IN_CLOSE_WRITE, IN_MOVED_FROM, IN_MOVED_TO = 0x4, 0x8, 0x40, 0x80
IN_CREATE, IN_DELETE = 0x100, 0x200
IN_NONBLOCK, IN_CLOEXEC = 0o4000, 0o2000000
CHANGED = IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE
CHANGED_OR_GONE = CHANGED | IN_MOVED_FROM | IN_DELETE
_EVENT = struct.Struct("iIII")

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


class FolderWatch:
    """Calls `on_changed(path)` on the loop when a file in a watched folder changed (or,
    with `events=CHANGED_OR_GONE`, was removed or renamed away)."""

    def __init__(
        self, loop: Loop, on_changed: Callable[[str], None], events: int = CHANGED
    ) -> None:
        self._loop = loop
        self._on_changed = on_changed
        self._events = events
        self._fd = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self._folders: dict[int, str] = {}
        self._watches: dict[str, int] = {}
        self._settling: dict[str, Any] = {}
        self._source = loop.watch_fd(self._fd, self._read)

    def watch(self, folders: set[str]) -> None:
        """Watch exactly these folders from now on."""
        for folder in set(self._watches) - folders:
            wd = self._watches.pop(folder)
            self._folders.pop(wd, None)
            _libc.inotify_rm_watch(self._fd, wd)
        for folder in folders - set(self._watches):
            wd = _libc.inotify_add_watch(self._fd, os.fsencode(folder), self._events)
            if wd < 0:
                log.info("cannot watch %s: %s", folder, os.strerror(ctypes.get_errno()))
                continue
            self._watches[folder] = wd
            self._folders[wd] = folder

    def _read(self) -> None:
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        offset = 0
        while offset + _EVENT.size <= len(data):
            wd, _mask, _cookie, length = _EVENT.unpack_from(data, offset)
            name = data[offset + _EVENT.size : offset + _EVENT.size + length].rstrip(b"\0")
            offset += _EVENT.size + length
            folder = self._folders.get(wd)
            if folder is not None and name:
                self._settle(str(Path(folder) / os.fsdecode(name)))

    def _settle(self, path: str) -> None:
        pending = self._settling.pop(path, None)
        if pending is not None:
            Loop.cancel(pending)

        def report() -> None:
            del self._settling[path]
            self._on_changed(path)

        self._settling[path] = self._loop.call_later(SETTLE_S, report)

    def close(self) -> None:
        Loop.cancel(self._source)
        for pending in self._settling.values():
            Loop.cancel(pending)
        os.close(self._fd)
