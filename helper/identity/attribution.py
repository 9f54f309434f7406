"""Who owns a packet's socket: 5-tuple -> (socket inode, uid) -> pid.

A TCP or UDP socket comes from one exact-tuple netlink sock_diag request (no dump: a
dump per packet costs milliseconds); a ping or raw socket (ICMP, other protocols) from
`raw_sockets`. The pid comes from a map of socket inodes to pids built from
/proc/<pid>/fd, refreshed from recently seen processes first and, only when they do not
have it, by a full scan bounded in time. A socket whose owner cannot be found is
attributed to nobody: never to a guess.
"""

import errno
import ipaddress
import os
import socket
import struct
import time
from collections import OrderedDict
from pathlib import Path

from netwarden_helper.identity import raw_sockets
from netwarden_helper.packet_path.packet import TCP, UDP, UDPLITE, Packet

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x1
NLMSG_ERROR = 2
_NO_COOKIE = 0xFFFFFFFF
_ALL_STATES = 0xFFFFFFFF
_HEADER = struct.Struct("=IHHII")
_REQUEST = struct.Struct("=BBBxI")
_DIAG_PROTOCOLS = frozenset({TCP, UDP, UDPLITE})


class SocketTable:
    """Exact-tuple lookups in the kernel's socket tables of this network namespace."""

    def __init__(self) -> None:
        self._socket = socket.socket(
            socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, NETLINK_SOCK_DIAG
        )
        self._socket.settimeout(1.0)
        self._sequence = 0

    def close(self) -> None:
        self._socket.close()

    def owner(self, packet: Packet) -> tuple[int, int] | None:
        """`(inode, uid)` of the local socket that sent `packet`, or None."""
        try:
            if packet.protocol not in _DIAG_PROTOCOLS:
                return raw_sockets.owner(packet)
            return self._lookup(packet) if packet.sport else None
        except (OSError, ValueError):
            return None

    def is_open(self, packet: Packet) -> bool | None:
        """Whether a local socket still owns `packet`'s flow; None when that cannot be
        told (a protocol sock_diag does not cover, or the lookup itself failed)."""
        if packet.protocol not in _DIAG_PROTOCOLS or not packet.sport:
            return None
        try:
            return self._lookup(packet) is not None
        except OSError:
            return None

    def _lookup(self, packet: Packet) -> tuple[int, int] | None:
        local, remote = (packet.src, packet.sport), (packet.dst, packet.dport)
        # The kernel's UDP lookup reads the tuple from the receiving side ("src and dst
        # are swapped for historical reasons" in udp_diag.c); TCP's reads it as sent.
        if packet.protocol == TCP:
            return self._query(packet.version, packet.protocol, local, remote)
        return self._query(packet.version, packet.protocol, remote, local)

    def _query(
        self, version: int, protocol: int, src: tuple[str, int], dst: tuple[str, int]
    ) -> tuple[int, int] | None:
        """The socket's (inode, uid); None when the kernel has no such socket; OSError
        when the lookup failed (no answer, or not the answer to this question)."""
        family = socket.AF_INET if version == 4 else socket.AF_INET6
        self._sequence = (self._sequence + 1) & 0xFFFFFFFF
        body = (
            _REQUEST.pack(family, protocol, 0, _ALL_STATES)
            + struct.pack("!HH", src[1], dst[1])
            + _address(src[0])
            + _address(dst[0])
            + struct.pack("=III", 0, _NO_COOKIE, _NO_COOKIE)
        )
        header = _HEADER.pack(
            _HEADER.size + len(body), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, self._sequence, 0
        )
        self._socket.send(header + body)
        reply = self._socket.recv(8192)
        if len(reply) < _HEADER.size + 4:
            raise OSError("sock_diag: a short answer")
        _length, kind, _flags, sequence, _pid = _HEADER.unpack_from(reply)
        if sequence != self._sequence:
            raise OSError("sock_diag: the answer to another question")
        if kind == NLMSG_ERROR:
            error = -struct.unpack_from("=i", reply, _HEADER.size)[0]
            if error == errno.ENOENT:
                return None
            raise OSError(error, os.strerror(error))
        if kind != SOCK_DIAG_BY_FAMILY or len(reply) < 88:
            raise OSError("sock_diag: an answer of an unknown kind")
        uid, inode = struct.unpack_from("=II", reply, 80)
        return (inode, uid) if inode else None


def _address(text: str) -> bytes:
    return ipaddress.ip_address(text).packed.ljust(16, b"\0")


class SocketOwners:
    """Socket inode -> pid, from /proc/<pid>/fd, recently active processes first."""

    def __init__(
        self, proc: Path = Path("/proc"), recent_size: int = 128, scan_budget_s: float = 0.5
    ) -> None:
        self._proc = proc
        self._by_inode: dict[int, int] = {}
        self._recent: OrderedDict[int, None] = OrderedDict()
        self._recent_size = recent_size
        self._scan_budget_s = scan_budget_s

    def pid_of(self, inode: int) -> int | None:
        """The process holding socket `inode`, or None if none can be found."""
        pid = self._by_inode.get(inode)
        if pid is not None and os.path.exists(f"{self._proc}/{pid}"):
            self._seen(pid)
            return pid
        for pid in reversed(list(self._recent)):  # _scan drops the pids that are gone
            if self._scan(pid, inode):
                self._seen(pid)
                return pid
        return self._full_scan(inode)

    def _seen(self, pid: int) -> None:
        self._recent[pid] = None
        self._recent.move_to_end(pid)
        while len(self._recent) > self._recent_size:
            self._recent.popitem(last=False)

    def _scan(self, pid: int, wanted: int) -> bool:
        """Record the sockets of `pid` until `wanted` is found; whether it was.

        Highest descriptors first: a new socket gets the lowest free descriptor, which
        in a program that opened its files one after another is the highest one, so a
        program with hundreds of open files is usually answered after one readlink.
        """
        fd_dir = f"{self._proc}/{pid}/fd"
        try:
            names = os.listdir(fd_dir)
        except OSError:
            self._recent.pop(pid, None)
            return False
        for name in sorted(names, key=int, reverse=True):
            try:
                target = os.readlink(f"{fd_dir}/{name}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inode = int(target[8:-1])
                self._by_inode[inode] = pid
                if inode == wanted:
                    return True
        return False

    def _full_scan(self, inode: int) -> int | None:
        self._by_inode.clear()
        deadline = time.monotonic() + self._scan_budget_s
        owner = None
        for entry in os.scandir(self._proc):
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            if self._scan(pid, inode) and owner is None:
                owner = pid
            if time.monotonic() > deadline:
                break
        if owner is not None:
            self._seen(owner)
        return owner
