"""Who sends a packet that no TCP or UDP socket made: a ping socket (ICMP echo from an
unprivileged `ping`) or a raw socket (a privileged ping, any other IP protocol).

The kernel lists both per network namespace, with uid and inode: ping sockets in
/proc/net/icmp and icmp6, raw sockets in /proc/net/raw and raw6 (sock_diag has no ping
sockets at all, and raw_diag is an optional module some kernels lack; these listings are
always there, and short). A ping socket's "port" is the echo identifier the kernel
writes into every request it sends, so a queued echo request names its socket exactly.
A raw socket's "port" is its protocol: the candidates are those of the packet's protocol,
or of IPPROTO_RAW (they write any protocol's header themselves), whose bound and
connected addresses admit the packet. Several candidates cannot be told apart by the
packet: then nobody is named, never a guess.
"""

import ipaddress
import struct
from pathlib import Path
from typing import NamedTuple

from netwarden_helper.packet_path.packet import ICMP, ICMPV6, Packet

IPPROTO_RAW = 255
ECHO_REQUEST = {ICMP: 8, ICMPV6: 128}
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Listed(NamedTuple):
    """One socket of a /proc/net listing."""

    local: Address
    port: int  # a ping socket's echo identifier; a raw socket's protocol
    remote: Address
    uid: int
    inode: int


def owner(packet: Packet, proc_net: Path = Path("/proc/thread-self/net")) -> tuple[int, int] | None:
    """`(inode, uid)` of the ping or raw socket that sent `packet`, or None (none, or
    several that cannot be told apart)."""
    suffix = "" if packet.version == 4 else "6"
    if packet.icmp_type == ECHO_REQUEST.get(packet.protocol):
        pings = [listed for listed in listing(proc_net / f"icmp{suffix}", packet.version)
                 if listed.port == packet.icmp_id and _admits(listed, packet)]  # fmt: skip
        if pings:
            return _one(pings)
    protocols = (packet.protocol, IPPROTO_RAW)
    raws = [listed for listed in listing(proc_net / f"raw{suffix}", packet.version)
            if listed.port in protocols and _admits(listed, packet)]  # fmt: skip
    return _one(raws)


def listing(path: Path, version: int) -> list[Listed]:
    """The sockets of a /proc/net/{icmp,raw}{,6} listing (one header line, then one line
    a socket: "sl local:port remote:port st queues timers retransmits uid timeout inode
    ...")."""
    sockets = []
    for line in path.read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        local, port = fields[1].split(":")
        sockets.append(Listed(_address(local, version), int(port, 16),
                              _address(fields[2].split(":")[0], version), int(fields[7]),
                              int(fields[9])))  # fmt: skip
    return sockets


def _address(hex_text: str, version: int) -> Address:
    """An address as /proc/net prints it: 32-bit words in host byte order, in hex."""
    raw = bytes.fromhex(hex_text)
    packed = b"".join(struct.pack("=I", int.from_bytes(raw[i : i + 4], "big"))
                      for i in range(0, len(raw), 4))  # fmt: skip
    return ipaddress.IPv4Address(packed) if version == 4 else ipaddress.IPv6Address(packed)


def _admits(listed: Listed, packet: Packet) -> bool:
    """Whether a socket bound and connected as `listed` (unspecified: any) sends as
    `packet.src` to `packet.dst`."""
    pairs = ((listed.local, packet.src), (listed.remote, packet.dst))
    return all(bound.is_unspecified or bound == ipaddress.ip_address(address)
               for bound, address in pairs)  # fmt: skip


def _one(candidates: list[Listed]) -> tuple[int, int] | None:
    return (candidates[0].inode, candidates[0].uid) if len(candidates) == 1 else None
