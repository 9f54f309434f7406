"""What the data plane's maps hold (bpf/netwarden.bpf.c), as Python values (pure).

`flow_key` packs a parsed packet the way the netfilter program keys `flows`;
`SocketOwner.unpack` reads a `flows` value (a process, or a socket of the kernel's own);
`exe_path` turns an `exes` value (the path's components leaf first, as the program walked
them) into a path. `verdict_key`, `verdict_value` and `KernelDecision` are the kernel
verdict cache's key, value and the ring buffer's record of a flow it decided.
"""

import ipaddress
import os
import struct
from dataclasses import dataclass

from netwarden_helper.packet_path.packet import ICMP, ICMPV6, Packet

_KEY = struct.Struct("=BBHHH16s16s")
# ino, size, mtime s, ctime s, their ns, dev, pad, dentry, mount root, mountpoint
_EXE_ID = "QQqqIIIIQQQ"
_OWNER = struct.Struct("=QQQQIIIIII16sII" + _EXE_ID + "II")
_EXE_KEY = struct.Struct("=IIQQ")
_CONFIG = struct.Struct("=QQQII")
_VERDICT_KEY = struct.Struct("=" + _EXE_ID + "QQIIBBHI16s")
_VERDICT = struct.Struct("=QQQB7x")
_DECISION = struct.Struct(f"={_VERDICT_KEY.size}s16sQIHBx")
_TRAFFIC = struct.Struct("=QQQII")
ALLOW, DENY = 1, 2
ACTIONS = {ALLOW: "allow", DENY: "deny"}
NO_UID = 0xFFFFFFFF
_EXE_HEADER = struct.Struct("=II")
EXE_LEN = 256
EXE_COMPLETE, EXE_DELETED = 1, 2
FLOW_OWNER_SIZE = _OWNER.size
# each C struct's size as packed here (tests compare them with the object's BTF)
LAYOUT = {"flow_key": _KEY.size, "flow_owner": _OWNER.size, "config": _CONFIG.size,
          "verdict_key": _VERDICT_KEY.size, "verdict": _VERDICT.size,
          "traffic": _TRAFFIC.size}  # fmt: skip
FLOW_KEY_SIZE, TRAFFIC_SIZE = _KEY.size, _TRAFFIC.size
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
    recorded_uid: int  # the socket's uid as recorded at its creation (NO_UID: before us)
    exe_id: tuple  # the executable's file and path, as a kernel verdict names it (raw)
    root_raw: tuple[int, int]  # (kernel device, inode) of its root folder
    kernel: bool = False  # a socket the kernel made for itself: no process, the rest zero

    @classmethod
    def unpack(cls, data: bytes) -> "SocketOwner":
        (cgroup_id, start_ns, exec_id, root_ino, root_dev, tgid, pid, uid, gid, global_tgid,
         comm, recorded_uid, _pad, *exe_id, socket_uid, kernel) = _OWNER.unpack(data)  # fmt: skip
        return cls(tgid, pid, uid, gid, comm.split(b"\0", 1)[0].decode(errors="replace"),
                   cgroup_id, start_ns, exec_id, (_user_dev(root_dev), root_ino), global_tgid,
                   socket_uid, recorded_uid, tuple(exe_id), (root_dev, root_ino),
                   bool(kernel))  # fmt: skip

    @property
    def exe_file(self) -> tuple[int, int, int, int, int]:
        """The executable's identity as the hash cache keys it (`hashing.stat_key`):
        device, inode, size, mtime and ctime in ns."""
        ino, size, mtime_s, ctime_s, mtime_ns, ctime_ns, dev = self.exe_id[:7]
        return (_user_dev(dev), ino, size, mtime_s * 1_000_000_000 + mtime_ns,
                ctime_s * 1_000_000_000 + ctime_ns)  # fmt: skip

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


def verdict_key(owner: SocketOwner, version: int, protocol: int, dst: str, dport: int) -> bytes:
    """The kernel verdict cache's key for a connect by `owner`'s socket to (dst, dport):
    what connect4/6 and sendmsg4/6 build from the socket's record and the address."""
    root_dev, root_ino = owner.root_raw
    return _VERDICT_KEY.pack(*owner.exe_id, owner.cgroup_id, root_ino, root_dev,
                             owner.recorded_uid, version, protocol, dport, 0,
                             _packed(dst))  # fmt: skip


def verdict_value(generation: int, expires_ns: int, rule_id: int, action: str) -> bytes:
    """A cached verdict: current while the rule set's generation is `generation`, until
    `expires_ns` (CLOCK_MONOTONIC)."""
    return _VERDICT.pack(generation, expires_ns, rule_id, ALLOW if action == "allow" else DENY)


@dataclass(frozen=True, slots=True)
class KernelDecision:
    """A flow the kernel decided from the cache: its key, and where it came from."""

    key: bytes
    action: str
    rule_id: int
    tgid: int
    src: str  # "" for a refused system call (no packet was made)
    sport: int
    version: int
    protocol: int
    dst: str
    dport: int

    @classmethod
    def unpack(cls, data: bytes) -> "KernelDecision":
        key, src, rule_id, tgid, sport, action = _DECISION.unpack_from(data)
        *_exe, _cgroup, _root_ino, _root_dev, _uid, version, protocol, dport, _pad, dst = (
            _VERDICT_KEY.unpack(key))  # fmt: skip
        size = 4 if version == 4 else 16
        source = str(ipaddress.ip_address(src[:size])) if any(src) else ""
        return cls(key, ACTIONS.get(action, "deny"), rule_id, tgid, source, sport, version,
                   protocol, str(ipaddress.ip_address(dst[:size])), dport)  # fmt: skip


def tuple_key(five_tuple: tuple) -> bytes:
    """The `flows`/`traffic` key of a TCP or UDP flow's (protocol, source, port,
    destination, port)."""
    protocol, src, sport, dst, dport = five_tuple
    version = 6 if ":" in dst else 4
    return _KEY.pack(version, protocol, sport, dport, 0, _packed(src), _packed(dst))


def key_tuple(key: bytes) -> tuple[int, str, int, str, int]:
    """The (protocol, source, port, destination, port) of a `traffic` key."""
    version, protocol, sport, dport, _pad, src, dst = _KEY.unpack(key)
    size = 4 if version == 4 else 16
    return (protocol, str(ipaddress.ip_address(src[:size])), sport,
            str(ipaddress.ip_address(dst[:size])), dport)  # fmt: skip


def traffic_value(since_ns: int) -> bytes:
    """A flow to account from now: nothing counted yet."""
    return _TRAFFIC.pack(0, 0, since_ns, 0, 0)


def traffic_counts(value: bytes) -> tuple[int, int, int, bool]:
    """(bytes out, bytes in, since when it is counted, closed) of a `traffic` value."""
    bytes_out, bytes_in, since_ns, closed, _pad = _TRAFFIC.unpack(value)
    return bytes_out, bytes_in, since_ns, bool(closed)


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


def config(pid_namespace: os.stat_result, netns_cookie: int, decided_mark: int) -> bytes:
    """The `settings` map's value: the helper's pid namespace, whose numbers it reads; its
    network namespace, the one its verdicts are for; the run's "decided" mark."""
    return _CONFIG.pack(pid_namespace.st_dev, pid_namespace.st_ino, netns_cookie,
                        decided_mark, 0)  # fmt: skip


def _user_dev(kernel_dev: int) -> int:
    """A kernel dev_t (major << 20 | minor) as stat() encodes it (new_encode_dev)."""
    major, minor = kernel_dev >> 20, kernel_dev & 0xFFFFF
    return (minor & 0xFF) | (major << 8) | ((minor & ~0xFF) << 12)
