"""Byte counters of connections, from conntrack accounting over netlink.

Accounting is switched on for the helper's network namespace
(`net.netfilter.nf_conntrack_acct`); connections that existed before carry no counters.
`ConntrackReader` dumps the table and reads destroy events (which carry a connection's
final counters) on plain netlink sockets, and `parse_messages` reads the ctnetlink
messages with `struct` into small `CtEntry`s, keeping only TCP and UDP. (pyroute2's
generic message objects cost about 10 KB each: a dump of a busy table every second
made the helper's memory and CPU grow with the table.)
"""

import errno
import logging
import os
import select
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

ACCT_SYSCTL = Path("/proc/sys/net/netfilter/nf_conntrack_acct")
NETLINK_NETFILTER = 12
_DESTROY_GROUP = 1 << (3 - 1)  # NFNLGRP_CONNTRACK_DESTROY as a group mask
_CT_NEW, _CT_GET, _CT_DELETE = 0x0100, 0x0101, 0x0102  # (NFNL_SUBSYS_CTNETLINK << 8) | msg
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_REQUEST_DUMP = 0x1 | 0x300  # NLM_F_REQUEST | NLM_F_DUMP
_HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port
_NFGEN = 4  # nfgenmsg: family, version, resource id
_ATTR = struct.Struct("=HH")
# Attribute numbers of <linux/netfilter/nfnetlink_conntrack.h>.
_TUPLE_ORIG, _PROTOINFO, _COUNTERS_ORIG, _COUNTERS_REPLY, _ID = 1, 4, 9, 10, 12
_TUPLE_IP, _TUPLE_PROTO = 1, 2
_IP_V4_SRC, _IP_V4_DST, _IP_V6_SRC, _IP_V6_DST = 1, 2, 3, 4
_PROTO_NUM, _PROTO_SRC_PORT, _PROTO_DST_PORT = 1, 2, 3
_PROTOINFO_TCP, _TCP_STATE = 1, 1
_COUNTER_BYTES = 2
_TCP_CLOSING = 7  # TCP_CONNTRACK_TIME_WAIT: states from here on are closed
_PROTOCOLS = (6, 17)

FlowKey = tuple[int, str, int, str, int]  # protocol number, source, sport, destination, dport


@dataclass(frozen=True, slots=True)
class CtEntry:
    """One connection as conntrack counts it: the original direction's tuple, its id,
    bytes sent (out) and received (in), and whether it is still open."""

    key: FlowKey
    ct_id: int
    bytes_out: int
    bytes_in: int
    open: bool


def _attributes(data: bytes, start: int, end: int) -> dict[int, tuple[int, int]]:
    """{attribute type: (payload start, payload end)} of the attributes in data[start:end]."""
    found = {}
    while start + 4 <= end:
        length, kind = _ATTR.unpack_from(data, start)
        if length < 4 or start + length > end:
            break
        found[kind & 0x3FFF] = (start + 4, start + length)
        start += (length + 3) & ~3
    return found


def _nested(data: bytes, span: tuple[int, int] | None, kind: int) -> tuple[int, int] | None:
    return None if span is None else _attributes(data, *span).get(kind)


def _address(data: bytes, ips: dict, v4: int, v6: int) -> str | None:
    if v4 in ips:
        start, end = ips[v4]
        return socket.inet_ntop(socket.AF_INET, data[start:end]) if end - start == 4 else None
    if v6 in ips:
        start, end = ips[v6]
        return socket.inet_ntop(socket.AF_INET6, data[start:end]) if end - start == 16 else None
    return None


def _bytes(data: bytes, span: tuple[int, int] | None) -> int | None:
    counter = _nested(data, span, _COUNTER_BYTES)
    if counter is None or counter[1] - counter[0] != 8:
        return None
    return int.from_bytes(data[counter[0] : counter[1]], "big")


def _entry(data: bytes, start: int, end: int, deleted: bool) -> CtEntry | None:
    top = _attributes(data, start, end)
    tuple_span = top.get(_TUPLE_ORIG)
    proto_span, ip_span = (
        _nested(data, tuple_span, _TUPLE_PROTO),
        _nested(data, tuple_span, _TUPLE_IP),
    )
    if proto_span is None or ip_span is None:
        return None
    proto = _attributes(data, *proto_span)
    number = data[proto[_PROTO_NUM][0]] if _PROTO_NUM in proto else None
    if number not in _PROTOCOLS or _PROTO_SRC_PORT not in proto or _PROTO_DST_PORT not in proto:
        return None
    ips = _attributes(data, *ip_span)
    source = _address(data, ips, _IP_V4_SRC, _IP_V6_SRC)
    destination = _address(data, ips, _IP_V4_DST, _IP_V6_DST)
    bytes_out, bytes_in = (
        _bytes(data, top.get(_COUNTERS_ORIG)),
        _bytes(data, top.get(_COUNTERS_REPLY)),
    )
    if source is None or destination is None or bytes_out is None or bytes_in is None:
        return None
    sport = int.from_bytes(data[slice(*proto[_PROTO_SRC_PORT])], "big")
    dport = int.from_bytes(data[slice(*proto[_PROTO_DST_PORT])], "big")
    state = _nested(data, _nested(data, top.get(_PROTOINFO), _PROTOINFO_TCP), _TCP_STATE)
    closing = state is not None and data[state[0]] >= _TCP_CLOSING
    ct_id = int.from_bytes(data[slice(*top[_ID])], "big") if _ID in top else 0
    return CtEntry((number, source, sport, destination, dport), ct_id, bytes_out, bytes_in,
                   open=not deleted and not closing)  # fmt: skip


def parse_messages(data: bytes) -> tuple[list[CtEntry], bool]:
    """The TCP/UDP entries in a buffer of netlink messages, and whether it held the end of
    a dump (NLMSG_DONE or an error). Never raises on malformed input."""
    entries, done, offset = [], False, 0
    while offset + _HEADER.size <= len(data):
        length, kind, _flags, _sequence, _port = _HEADER.unpack_from(data, offset)
        if length < _HEADER.size or offset + length > len(data):
            break
        if kind in (_NLMSG_DONE, _NLMSG_ERROR):
            done = True
        elif kind in (_CT_NEW, _CT_DELETE) and length >= _HEADER.size + _NFGEN:
            entry = _entry(data, offset + _HEADER.size + _NFGEN, offset + length,
                           deleted=kind == _CT_DELETE)  # fmt: skip
            if entry is not None:
                entries.append(entry)
        offset += (length + 3) & ~3
    return entries, done


def enable_accounting() -> None:
    """Switch conntrack byte accounting on in this network namespace."""
    try:
        ACCT_SYSCTL.write_text("1\n")
    except OSError as exc:
        log.warning("cannot enable conntrack accounting (%s): traffic will show 0 bytes", exc)


class ConntrackReader:
    """A dump socket and a destroy-event socket in the current network namespace."""

    def __init__(self) -> None:
        self._dump = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self._events = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self._events.bind((0, _DESTROY_GROUP))
        for sock in (self._dump, self._events):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self._sequence = 0

    def dump(self) -> list[CtEntry]:
        """Every accounted TCP/UDP connection in the table now."""
        self._sequence += 1
        request = _HEADER.pack(_HEADER.size + _NFGEN, _CT_GET, _REQUEST_DUMP, self._sequence, 0)
        self._dump.send(request + bytes([socket.AF_UNSPEC, 0, 0, 0]))
        entries: list[CtEntry] = []
        while True:
            batch, done = parse_messages(self._dump.recv(1 << 16))
            entries += batch
            if done:
                return entries

    def wait_for_destroyed(self, timeout: float) -> list[CtEntry]:
        """Connections destroyed since the last call, waiting up to `timeout` for one."""
        readable, _, _ = select.select([self._events], [], [], timeout)
        if not readable:
            return []
        destroyed: list[CtEntry] = []
        while True:
            try:
                destroyed += parse_messages(self._events.recv(1 << 16, socket.MSG_DONTWAIT))[0]
            except BlockingIOError:
                return destroyed
            except OSError as exc:  # ENOBUFS after a burst: those final counts are lost
                if exc.errno != errno.ENOBUFS:
                    raise
                log.debug("conntrack events lost: %s", os.strerror(exc.errno))
                return destroyed

    def close(self) -> None:
        self._dump.close()
        self._events.close()
