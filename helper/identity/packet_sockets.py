"""Who holds packet sockets (AF_PACKET): a sock_diag dump of this network namespace.

A packet socket sends whole frames below the IP stack, so netfilter never sees them:
the firewall can only notice that one is open. The kernel's packet_diag lists every one
with its inode (the owner's pid comes from `SocketOwners`, as for other sockets), the
uid that created it and the interface it is bound to (0: every interface).
"""

import os
import socket
import struct
from dataclasses import dataclass

from netwarden_helper.identity.attribution import NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY

_NLM_F_REQUEST, _NLM_F_DUMP = 0x1, 0x300
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_PACKET_SHOW_INFO = 0x1
_PACKET_DIAG_INFO, _PACKET_DIAG_UID = 0, 5
_HEADER = struct.Struct("=IHHII")
_REQUEST = struct.Struct("=BBHII2I")  # family, protocol, pad, inode, show, cookie
_MESSAGE = struct.Struct("=BBHI2I")  # family, type, protocol, inode, cookie
_NO_COOKIE = 0xFFFFFFFF


class PacketDiagError(OSError):
    """The kernel refused the dump (no packet_diag support, or no permission)."""


@dataclass(frozen=True)
class PacketSocket:
    """One open packet socket."""

    inode: int
    uid: int
    interface: int  # ifindex it is bound to; 0 for every interface
    kind: str  # "raw" (whole frames) or "dgram" (frames without the link header)


def packet_sockets() -> list[PacketSocket]:
    """Every packet socket open in this network namespace."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC,
                       NETLINK_SOCK_DIAG) as channel:  # fmt: skip
        channel.settimeout(1.0)
        body = _REQUEST.pack(socket.AF_PACKET, 0, 0, 0, _PACKET_SHOW_INFO, _NO_COOKIE,
                             _NO_COOKIE)  # fmt: skip
        flags = _NLM_F_REQUEST | _NLM_F_DUMP
        channel.send(_HEADER.pack(_HEADER.size + len(body), SOCK_DIAG_BY_FAMILY, flags, 1, 0)
                     + body)  # fmt: skip
        found: list[PacketSocket] = []
        while True:
            data = channel.recv(65536)
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, kind = _HEADER.unpack_from(data, offset)[:2]
                if length < _HEADER.size:
                    return found
                if kind == _NLMSG_DONE:
                    return found
                if kind == _NLMSG_ERROR:
                    error = -struct.unpack_from("=i", data, offset + _HEADER.size)[0]
                    raise PacketDiagError(error, f"packet_diag: {os.strerror(error)}")
                message = data[offset + _HEADER.size : offset + length]
                if len(message) >= _MESSAGE.size:
                    found.append(_parse(message))
                offset += (length + 3) & ~3


def _parse(message: bytes) -> PacketSocket:
    _family, kind, _protocol, inode = _MESSAGE.unpack_from(message)[:4]
    uid, interface = -1, 0
    offset = _MESSAGE.size
    while offset + 4 <= len(message):
        length, attribute = struct.unpack_from("=HH", message, offset)
        if length < 4:
            break
        value = message[offset + 4 : offset + length]
        if attribute == _PACKET_DIAG_UID and len(value) >= 4:
            uid = struct.unpack_from("=I", value)[0]
        elif attribute == _PACKET_DIAG_INFO and len(value) >= 4:
            interface = struct.unpack_from("=I", value)[0]
        offset += (length + 3) & ~3
    return PacketSocket(inode, uid, interface, "raw" if kind == socket.SOCK_RAW else "dgram")
