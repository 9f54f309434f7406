"""`PacketSocketWatch`: notices programs that hold packet sockets, within half a second.

Frames sent on a packet socket (AF_PACKET) pass below netfilter: no rule, prompt or
verdict ever sees them. What the helper can do is notice: every `INTERVAL_S` a thread of
its own lists the packet sockets of the namespace (`packet_sockets`), finds the process
of each new one (`SocketOwners`), reads its binary (the path as the process sees it; the
hash and the file's facts from /proc/<pid>/exe, which work even after the file was
deleted) and
hands it to the pin guard on the loop, which raises one alert per binary. Blocking that
alert denies every further connection of the binary (see `pinning/alerts.py`).
"""

import logging
import os
import threading

from netwarden_helper.identity.attribution import SocketOwners
from netwarden_helper.identity.hashing import sha256_of
from netwarden_helper.identity.packet_sockets import packet_sockets
from netwarden_helper.identity.process_info import executable
from netwarden_helper.pinning import packages
from netwarden_helper.pinning.alerts import FileFacts
from netwarden_helper.pinning.pins import PinGuard
from netwarden_helper.runtime.loop import Loop

log = logging.getLogger(__name__)

INTERVAL_S = 0.5


def binary_facts(pid: int, exe: str) -> FileFacts:
    """What the binary `pid` runs is: its file's times, size, owner and package."""
    status = os.stat(f"/proc/{pid}/exe")
    verification = packages.verify(exe)
    same_file = False
    try:
        on_disk = os.stat(exe)
        same_file = (on_disk.st_dev, on_disk.st_ino) == (status.st_dev, status.st_ino)
    except OSError:
        pass  # deleted or replaced since it started: the package cannot vouch for it
    return FileFacts(status.st_ctime, status.st_mtime, status.st_size, status.st_uid,
                     verification.package, verification.verified and same_file)  # fmt: skip


class PacketSocketWatch:
    def __init__(self, loop: Loop, pins: PinGuard, interval_s: float = INTERVAL_S) -> None:
        self._loop = loop
        self._pins = pins
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="packet-sockets", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        owners = SocketOwners()
        seen: set[int] = set()
        failing = False
        while not self._stop.wait(self._interval_s):
            try:
                sockets = packet_sockets()
            except OSError as exc:
                if not failing:  # once, not twice a second
                    log.warning("cannot list packet sockets (%s): they are not noticed", exc)
                failing = True
                continue
            failing = False
            for held in sockets:
                if held.inode not in seen:
                    self._look(owners, held.inode, held.uid)
            seen = {held.inode for held in sockets}

    def _look(self, owners: SocketOwners, inode: int, uid: int) -> None:
        pid = owners.pid_of(inode)
        if pid is None or pid == os.getpid():
            return
        exe, _deleted = executable(pid)
        try:
            sha256 = sha256_of(f"/proc/{pid}/exe")
            facts = binary_facts(pid, exe)
        except OSError as exc:  # gone already: nothing left to stop
            log.info("packet socket of pid %d: its process is gone (%s)", pid, exc)
            return
        self._loop.call_soon(lambda: self._pins.packet_socket(exe, sha256, pid, uid, facts))
