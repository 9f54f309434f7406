"""A process's identity from /proc: executable, command line, user, parents, unit, app id.

Read with psutil where it has the field (command line, uids, parents); by hand where it
does not (the executable and working folder as the process itself sees them, its cgroup)
or where the packet path needs the speed (`start_time`, checked for every packet of a
known process: 17 µs by hand, see docs/benchmarks.md). `read_process` opens files inside
the process's own root (its script, a Flatpak's `.flatpak-info`) only through
`user_files.read_as`, as that process's user could: call it off the loop.

The executable is what /proc/<pid>/exe names, as seen from the process's own root: a
process in another mount namespace (a container, a Flatpak) is reported with the path
inside it and `foreign_root` set. A binary deleted or replaced on disk since the process
started is reported as `exe_deleted` (hashing reads /proc/<pid>/exe, so the hash is the
running binary's).
"""

import hashlib
import os
import re
from dataclasses import dataclass

import psutil

from netwarden_common.interpreters import interpreter_kind, script_of
from netwarden_common.users import user_name
from netwarden_helper.identity.user_files import Credentials, read_as

_DELETED = " (deleted)"
_FLATPAK_SCOPE = re.compile(r"app-flatpak-(?P<app>[A-Za-z0-9_.-]+?)-\d+\.scope$")
_USER_MANAGER = re.compile(r"user@(?P<uid>\d+)\.service")
_MAX_PARENTS = 64
MAX_SCRIPT = 4 << 20
MAX_FLATPAK_INFO = 64 << 10


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
    unit: str  # system unit ("cups.service"), a user's ("user@1000:app-...scope"), or ""
    flatpak: str  # Flatpak application id, "" if none
    foreign_root: bool  # runs in another mount namespace (container, Flatpak)
    script: str = ""  # the script an interpreter runs, as the process sees its path
    script_sha256: str = ""  # its hash ("" when unknown, unreadable or too large)
    # gone (or running another program) when its flow was attributed: only what the
    # kernel recorded at the socket's use is known (identify.py, docs/packet-path.md)
    exited: bool = False
    comm: str = ""  # the kernel's command name, for a process known only by that record


def read_process(pid: int) -> ProcessInfo | None:
    """The identity of `pid`, or None if it is gone (slow: off the loop)."""
    try:
        process = psutil.Process(pid)
        with process.oneshot():
            uid = process.uids().real
            cmdline = tuple(process.cmdline())
            parents = tuple((parent.pid, executable(parent.pid)[0])
                            for parent in process.parents()[:_MAX_PARENTS])  # fmt: skip
    except psutil.Error:
        return None
    started = start_time(pid)
    credentials = Credentials.of_process(pid)
    if started is None or credentials is None:
        return None
    exe, deleted = executable(pid)
    unit, flatpak = _cgroup_identity(pid)
    script = script_of(exe, cmdline, _own_path(pid, "cwd")) if interpreter_kind(exe) else ""
    return ProcessInfo(
        pid=pid,
        exe=exe,
        exe_deleted=deleted,
        cmdline=cmdline,
        uid=uid,
        user=user_name(uid),
        start_time=started,
        parents=parents,
        unit=unit,
        flatpak=flatpak or _flatpak_info(pid, credentials),
        foreign_root=_foreign_root(pid),
        script=script,
        script_sha256=_script_sha256(pid, script, credentials),
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


def executable(pid: int) -> tuple[str, bool]:
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


def _stat_fields(stat: str) -> list[str]:
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    return stat[stat.rindex(")") + 2 :].split()


def _start_time(stat: str) -> int:
    return int(_stat_fields(stat)[19])


def _cgroup_identity(pid: int) -> tuple[str, str]:
    try:
        lines = _read(f"/proc/{pid}/cgroup").splitlines()
    except OSError:
        return "", ""
    return unit_of_cgroup(next((line[3:] for line in lines if line.startswith("0::")), ""))


def unit_of_cgroup(path: str) -> tuple[str, str]:
    """(systemd unit, Flatpak app id) from a cgroup v2 path.

    Only the system manager makes cgroups in the system slice, so a unit there is a
    system unit ("cups.service"). Any user can make units of their own, named as they
    like (`systemd-run --user --unit=cups.service`): a unit under `user@UID.service` is
    that user's, and says so ("user@1000:cups.service"), so a rule for the system's cups
    never matches it. Anywhere else (a login session's scope) there is no unit.
    """
    parts = [part for part in path.split("/") if part]
    units = [part for part in parts if part.endswith((".service", ".scope"))]
    if not units:
        return "", ""
    unit = units[-1]
    match = _FLATPAK_SCOPE.search(unit)
    flatpak = match.group("app") if match else ""
    if parts[0] == "system.slice" or parts == ["init.scope"]:
        return unit, flatpak
    managers = [match for part in parts if (match := _USER_MANAGER.fullmatch(part))]
    if not managers:
        return "", flatpak
    if unit == managers[0].group(0):  # the user's manager itself, made by the system's
        return unit, flatpak
    return f"user@{managers[0].group('uid')}:{unit}", flatpak


def _foreign_root(pid: int) -> bool:
    try:
        theirs, ours = os.stat(f"/proc/{pid}/root"), os.stat("/proc/self/root")
    except OSError:
        return False
    return (theirs.st_dev, theirs.st_ino) != (ours.st_dev, ours.st_ino)


def _script_sha256(pid: int, script: str, credentials: Credentials) -> str:
    """The sha256 of the script file, as its process's user may read it (scripts are
    small; one larger than `MAX_SCRIPT` is not hashed)."""
    content = read_as(pid, script, credentials, MAX_SCRIPT) if script else None
    return hashlib.sha256(content).hexdigest() if content is not None else ""


def _flatpak_info(pid: int, credentials: Credentials) -> str:
    info = read_as(pid, "/.flatpak-info", credentials, MAX_FLATPAK_INFO)
    match = re.search(rb"^name=(\S+)$", info or b"", re.MULTILINE)
    return match.group(1).decode("ascii", "replace") if match else ""
