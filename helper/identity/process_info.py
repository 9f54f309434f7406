"""A process's identity from /proc: executable, command line, user, parents, unit, app id.

The executable is what /proc/<pid>/exe names, as seen from the process's own root: a
process in another mount namespace (a container, a Flatpak) is reported with the path
inside it and `foreign_root` set; its file is reached through /proc/<pid>/root. A binary
deleted or replaced on disk since the process started is reported as `exe_deleted`
(hashing reads /proc/<pid>/exe, so the hash is the running binary's).
"""

import hashlib
import os
import re
from dataclasses import dataclass

from netwarden_common.interpreters import interpreter_kind, script_of
from netwarden_common.users import user_name

_DELETED = " (deleted)"
_FLATPAK_SCOPE = re.compile(r"app-flatpak-(?P<app>[A-Za-z0-9_.-]+?)-\d+\.scope$")
_MAX_PARENTS = 64
MAX_SCRIPT = 4 << 20


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    pid: int
    exe: str  # path as the process sees it; "" if unreadable (a kernel thread)
    exe_deleted: bool
    cmdline: tuple[str, ...]
    uid: int
    user: str
    start_time: int  # clock ticks since boot: tells a reused pid apart
    parents: tuple[tuple[int, str], ...]  # (pid, exe) from the parent up to pid 1
    unit: str  # systemd unit ("cups.service", "app-...scope"), "" if none
    flatpak: str  # Flatpak application id, "" if none
    foreign_root: bool  # runs in another mount namespace (container, Flatpak)
    script: str = ""  # the script an interpreter runs, as the process sees its path
    script_sha256: str = ""  # its hash ("" when unknown, unreadable or too large)


def read_process(pid: int) -> ProcessInfo | None:
    """The identity of `pid`, or None if it is gone."""
    base = f"/proc/{pid}"
    try:
        stat = _read(f"{base}/stat")
        status = _read(f"{base}/status")
    except OSError:
        return None
    exe, deleted = _exe(pid)
    uid = _status_uid(status)
    unit, flatpak = _cgroup_identity(pid)
    cmdline = _cmdline(pid)
    script = script_of(exe, cmdline, _own_path(pid, "cwd")) if interpreter_kind(exe) else ""
    return ProcessInfo(
        pid=pid,
        exe=exe,
        exe_deleted=deleted,
        cmdline=cmdline,
        uid=uid,
        user=user_name(uid),
        start_time=_start_time(stat),
        parents=_parents(stat),
        unit=unit,
        flatpak=flatpak or _flatpak_info(pid),
        foreign_root=_foreign_root(pid),
        script=script,
        script_sha256=_script_sha256(pid, script),
    )


def start_time(pid: int) -> int | None:
    """The start time of `pid` (clock ticks since boot), or None if it is gone."""
    try:
        return _start_time(_read(f"/proc/{pid}/stat"))
    except (OSError, ValueError, IndexError):
        return None


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as file:
        return file.read()


def _exe(pid: int) -> tuple[str, bool]:
    """The executable's path as `pid` itself sees it, and whether it was deleted."""
    target = _own_path(pid, "exe")
    deleted = target.endswith(_DELETED)
    return (target[: -len(_DELETED)] if deleted else target), deleted


def _own_path(pid: int, link: str) -> str:
    """Where /proc/<pid>/<link> (exe, cwd) points, as `pid` itself sees it; "" if gone.

    The kernel writes the link relative to the reader's root; for a process in another
    mount namespace or chroot the path starts with where its root lies as seen from here
    (/proc/<pid>/root), which is cut off.
    """
    try:
        target = os.readlink(f"/proc/{pid}/{link}")
        root = os.readlink(f"/proc/{pid}/root")
    except OSError:
        return ""
    if root != "/" and target.startswith(root + "/"):
        target = target[len(root) :]
    return target


def _script_sha256(pid: int, script: str) -> str:
    """The sha256 of the script file, read through the process's own root (scripts are
    small; one larger than `MAX_SCRIPT` is not hashed)."""
    if not script:
        return ""
    try:
        with open(f"/proc/{pid}/root{script}", "rb") as file:
            content = file.read(MAX_SCRIPT + 1)
    except OSError:
        return ""
    return hashlib.sha256(content).hexdigest() if len(content) <= MAX_SCRIPT else ""


def _cmdline(pid: int) -> tuple[str, ...]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            raw = file.read(65536)
    except OSError:
        return ()
    return tuple(part.decode("utf-8", "replace") for part in raw.split(b"\0") if part)


def _status_uid(status: str) -> int:
    for line in status.splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    return -1


def _stat_fields(stat: str) -> list[str]:
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    return stat[stat.rindex(")") + 2 :].split()


def _start_time(stat: str) -> int:
    return int(_stat_fields(stat)[19])


def _parents(stat: str) -> tuple[tuple[int, str], ...]:
    chain: list[tuple[int, str]] = []
    ppid = int(_stat_fields(stat)[1])
    while ppid > 0 and len(chain) < _MAX_PARENTS:
        chain.append((ppid, _exe(ppid)[0]))
        try:
            ppid = int(_stat_fields(_read(f"/proc/{ppid}/stat"))[1])
        except (OSError, ValueError, IndexError):
            break
    return tuple(chain)


def _cgroup_identity(pid: int) -> tuple[str, str]:
    """(systemd unit, Flatpak app id) from the process's cgroup v2 path."""
    try:
        lines = _read(f"/proc/{pid}/cgroup").splitlines()
    except OSError:
        return "", ""
    path = next((line[3:] for line in lines if line.startswith("0::")), "")
    unit = next(
        (part for part in reversed(path.split("/")) if part.endswith((".service", ".scope"))), ""
    )
    match = _FLATPAK_SCOPE.search(unit)
    return unit, match.group("app") if match else ""


def _flatpak_info(pid: int) -> str:
    try:
        info = _read(f"/proc/{pid}/root/.flatpak-info")
    except OSError:
        return ""
    match = re.search(r"^name=(\S+)$", info, re.MULTILINE)
    return match.group(1) if match else ""


def _foreign_root(pid: int) -> bool:
    try:
        theirs, ours = os.stat(f"/proc/{pid}/root"), os.stat("/proc/self/root")
    except OSError:
        return False
    return (theirs.st_dev, theirs.st_ino) != (ours.st_dev, ours.st_ino)
