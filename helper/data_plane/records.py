"""What the data plane's maps hold (bpf/netwarden.bpf.c), as Python values (pure).

`flow_key` packs a parsed packet the way the netfilter program keys `flows`;
`SocketOwner.unpack` reads a `flows` value; `exe_path` turns an `exes` value (the path's
components leaf first, as the program walked them) into a path.
"""

import ipaddress
import os
import struct
from dataclasses import dataclass

from netwarden_helper.packet_path.packet import ICMP, ICMPV6, Packet

_KEY = struct.Struct("=BBHHH16s16s")
_OWNER = struct.Struct("=QQQQIIIIII16sII")
_EXE_KEY = struct.Struct("=IIQQ")
_CONFIG = struct.Struct("=QQ")
_EXE_HEADER = struct.Struct("=II")
EXE_LEN = 256
EXE_COMPLETE, EXE_DELETED = 1, 2
FLOW_OWNER_SIZE = _OWNER.size
EXE_SIZE = _EXE_HEADER.size + EXE_LEN
NS_PER_TICK = 1_000_000_000 // 100  # /proc/<pid>/stat counts start times in USER_HZ ticks


@dataclass(frozen=True, slots=True)
class SocketOwner:
    """Who created or last used a socket, as the kernel saw it at that moment."""

    tgid: int  # as the helper's pid namespace numbers it; 0: outside it
    pid: int  # the thread
    uid: int  # real uid and gid of the process
    gid: int
    comm: str
    cgroup_id: int
    start_ns: int  # since boot: tells a reused pid apart
    exec_id: int  # the process's exec count: tells its images apart
    root: tuple[int, int]  # (device, inode) of its root folder, as stat() reports them
    global_tgid: int  # as the kernel's first pid namespace numbers it
    socket_uid: int  # the socket's own uid, as sock_diag reports it

    @classmethod
    def unpack(cls, data: bytes) -> "SocketOwner":
        (cgroup_id, start_ns, exec_id, root_ino, root_dev, tgid, pid, uid, gid, global_tgid,
         comm, socket_uid, _pad) = _OWNER.unpack(data)  # fmt: skip
        return cls(tgid, pid, uid, gid, comm.split(b"\0", 1)[0].decode(errors="replace"),
                   cgroup_id, start_ns, exec_id, (_user_dev(root_dev), root_ino), global_tgid,
                   socket_uid)  # fmt: skip

    @property
    def start_ticks(self) -> int:
        """The start time as /proc/<pid>/stat counts it."""
        return self.start_ns // NS_PER_TICK

    @property
    def exe_key(self) -> bytes:
        """This process image's key in the `exes` map."""
        return _EXE_KEY.pack(self.global_tgid, 0, self.start_ns, self.exec_id)


def flow_key(packet: Packet) -> bytes:
    """`packet`'s key in the `flows` map."""
    if packet.protocol in (ICMP, ICMPV6):
        sport, dport = packet.icmp_id, max(packet.icmp_type, 0)
    else:
        sport, dport = packet.sport, packet.dport
    return _KEY.pack(packet.version, packet.protocol, sport, dport, 0,
                     _packed(packet.src), _packed(packet.dst))  # fmt: skip


def _packed(address: str) -> bytes:
    return ipaddress.ip_address(address).packed.ljust(16, b"\0")


def exe_path(data: bytes) -> tuple[str, bool] | None:
    """(path, deleted) from an `exes` value; None when the walk did not reach the root
    (too deep or too long): a partial path names nothing."""
    length, flags = _EXE_HEADER.unpack_from(data)
    if not flags & EXE_COMPLETE or not length:
        return None
    names = data[_EXE_HEADER.size : _EXE_HEADER.size + length].split(b"\0")[:-1]
    path = "/" + "/".join(name.decode(errors="surrogateescape") for name in reversed(names))
    return path, bool(flags & EXE_DELETED)


def config(pid_namespace: os.stat_result) -> bytes:
    """The `settings` map's value: the helper's pid namespace, whose numbers it reads."""
    return _CONFIG.pack(pid_namespace.st_dev, pid_namespace.st_ino)


def _user_dev(kernel_dev: int) -> int:
    """A kernel dev_t (major << 20 | minor) as stat() encodes it (new_encode_dev)."""
    major, minor = kernel_dev >> 20, kernel_dev & 0xFFFFF
    return (minor & 0xFF) | (major << 8) | ((minor & ~0xFF) << 12)
