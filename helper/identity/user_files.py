"""Reading, as root, a file whose path an unprivileged process chose.

The script an interpreter runs and a Flatpak's `.flatpak-info` are named by the process
itself, and the process's user controls the folders on the way. Opened naively as root,
such a path can hang the reader (a FIFO), read a device, or leak what that user may not
read (a symlink to a root-only file). So the path is walked here one component at a time
from the process's own root (`/proc/PID/root`), symlinks resolved by hand and never out of
that root; every folder on the way must be searchable, and the file readable, by the
process's own credentials (fsuid, fsgid, groups) by the mode bits; the file must be a
regular file no larger than the bound, opened with O_NOFOLLOW | O_NONBLOCK and checked
again on the open descriptor. Anything else is refused (None). It opens files: call it
off the loop.
"""

import os
import stat
from collections import deque
from dataclasses import dataclass

MAX_LINKS = 40  # like the kernel's limit on symlinks followed in one lookup
_DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_READ, _SEARCH = 4, 1


@dataclass(frozen=True)
class Credentials:
    """What the kernel checks file access against for one process."""

    uid: int
    gid: int
    groups: frozenset[int]

    @classmethod
    def of_process(cls, pid: int) -> "Credentials | None":
        """The file-system credentials of `pid` (None if it is gone)."""
        try:
            with open(f"/proc/{pid}/status", encoding="utf-8", errors="replace") as status:
                fields = dict(line.split(":", 1) for line in status if ":" in line)
            uid = int(fields["Uid"].split()[3])  # real, effective, saved, file system
            gid = int(fields["Gid"].split()[3])
            groups = frozenset(int(group) for group in fields.get("Groups", "").split())
        except (OSError, KeyError, ValueError, IndexError):
            return None
        return cls(uid, gid, groups)

    def may(self, status: os.stat_result, wanted: int) -> bool:
        """Whether these credentials get `wanted` (4 read, 1 search) by the mode bits."""
        if self.uid == 0:
            return True
        mode = status.st_mode
        if status.st_uid == self.uid:
            bits = mode >> 6
        elif status.st_gid == self.gid or status.st_gid in self.groups:
            bits = mode >> 3
        else:
            bits = mode
        return bits & wanted == wanted


def read_as(pid: int, path: str, credentials: Credentials, max_bytes: int) -> bytes | None:
    """The content of `path` as process `pid` sees it, if its credentials may read it and
    it is a regular file of at most `max_bytes`; None otherwise."""
    if not path.startswith("/") or "\0" in path:
        return None
    try:
        root = os.open(f"/proc/{pid}/root", _DIR_FLAGS & ~os.O_NOFOLLOW)
    except OSError:
        return None
    folders = [root]  # the folders walked, root first: ".." goes back, never above root
    try:
        return _walk(folders, path, credentials, max_bytes)
    except OSError:
        return None
    finally:
        for fd in folders:
            os.close(fd)


def _walk(folders: list[int], path: str, credentials: Credentials, max_bytes: int) -> bytes | None:
    parts = deque(part for part in path.split("/") if part not in ("", "."))
    links = 0
    while parts:
        name = parts.popleft()
        here = folders[-1]
        if not credentials.may(os.fstat(here), _SEARCH):
            return None
        if name == "..":
            if len(folders) > 1:
                os.close(folders.pop())
            continue
        status = os.stat(name, dir_fd=here, follow_symlinks=False)
        if stat.S_ISLNK(status.st_mode):
            links += 1
            if links > MAX_LINKS:
                return None
            target = os.readlink(name, dir_fd=here)
            if target.startswith("/"):  # absolute: from the process's root, not ours
                while len(folders) > 1:
                    os.close(folders.pop())
            parts.extendleft(reversed([p for p in target.split("/") if p not in ("", ".")]))
            continue
        if parts:  # a folder on the way
            if not stat.S_ISDIR(status.st_mode):
                return None
            folders.append(os.open(name, _DIR_FLAGS, dir_fd=here))
            continue
        return _read_file(here, name, status, credentials, max_bytes)
    return None


def _read_file(
    folder: int, name: str, seen: os.stat_result, credentials: Credentials, max_bytes: int
) -> bytes | None:
    # Checked before the open (a FIFO or a device is never opened) and after it (the name
    # may have been swapped in between): the same regular file, readable, small enough.
    if not stat.S_ISREG(seen.st_mode) or seen.st_size > max_bytes:
        return None
    fd = os.open(name, _FILE_FLAGS, dir_fd=folder)
    try:
        opened = os.fstat(fd)
        same = (opened.st_dev, opened.st_ino) == (seen.st_dev, seen.st_ino)
        if not (same and stat.S_ISREG(opened.st_mode) and credentials.may(opened, _READ)):
            return None
        data = os.read(fd, max_bytes + 1)
    finally:
        os.close(fd)
    return data if len(data) <= max_bytes else None
