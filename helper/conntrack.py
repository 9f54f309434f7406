"""Byte counters of connections, from conntrack accounting over netlink.

Accounting is switched on for the helper's network namespace
(`net.netfilter.nf_conntrack_acct`); connections that existed before carry no counters.
`ConntrackReader` dumps the table and reads destroy events (which carry a connection's
final counters), turning each netlink message into a `CtEntry`. Only TCP and UDP entries
are kept: they are the flows whose bytes Netwarden accounts.
"""

import logging
import select
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyroute2.netlink.nfnetlink.nfctsocket import IPCTNL_MSG_CT_DELETE, NFCTSocket

log = logging.getLogger(__name__)

ACCT_SYSCTL = Path("/proc/sys/net/netfilter/nf_conntrack_acct")
_DESTROY_GROUP = 1 << (3 - 1)  # NFNLGRP_CONNTRACK_DESTROY as a group mask
_TCP_CLOSING = 7  # TCP_CONNTRACK_TIME_WAIT: states from here on are closed
_PROTOCOLS = {6: "tcp", 17: "udp"}

FlowKey = tuple[int, str, int, str, int]  # protocol number, source, sport, destination, dport


@dataclass(frozen=True)
class CtEntry:
    """One connection as conntrack counts it: the original direction's tuple, its id,
    bytes sent (out) and received (in), and whether it is still open."""

    key: FlowKey
    ct_id: int
    bytes_out: int
    bytes_in: int
    open: bool


def _nested(message: Any, *names: str) -> Any:
    for name in names:
        if message is None:
            return None
        message = message.get_attr(name)
    return message


def entry_from_message(message: Any) -> CtEntry | None:
    """The `CtEntry` of a ctnetlink message, or None for what is not an accounted
    TCP/UDP connection."""
    proto = _nested(message, "CTA_TUPLE_ORIG", "CTA_TUPLE_PROTO")
    addresses = _nested(message, "CTA_TUPLE_ORIG", "CTA_TUPLE_IP")
    counters_out = message.get_attr("CTA_COUNTERS_ORIG")
    counters_in = message.get_attr("CTA_COUNTERS_REPLY")
    if proto is None or addresses is None or counters_out is None or counters_in is None:
        return None
    number = proto.get_attr("CTA_PROTO_NUM")
    if number not in _PROTOCOLS:
        return None
    source = addresses.get_attr("CTA_IP_V4_SRC") or addresses.get_attr("CTA_IP_V6_SRC")
    destination = addresses.get_attr("CTA_IP_V4_DST") or addresses.get_attr("CTA_IP_V6_DST")
    if source is None or destination is None:
        return None
    state = _nested(message, "CTA_PROTOINFO", "CTA_PROTOINFO_TCP", "CTA_PROTOINFO_TCP_STATE")
    deleted = message["header"]["type"] & 0xFF == IPCTNL_MSG_CT_DELETE
    return CtEntry(
        key=(number, source, proto.get_attr("CTA_PROTO_SRC_PORT"), destination,
             proto.get_attr("CTA_PROTO_DST_PORT")),
        ct_id=message.get_attr("CTA_ID") or 0,
        bytes_out=counters_out.get_attr("CTA_COUNTERS_BYTES") or 0,
        bytes_in=counters_in.get_attr("CTA_COUNTERS_BYTES") or 0,
        open=not deleted and (state is None or state < _TCP_CLOSING),
    )  # fmt: skip


def enable_accounting() -> None:
    """Switch conntrack byte accounting on in this network namespace."""
    try:
        ACCT_SYSCTL.write_text("1\n")
    except OSError as exc:
        log.warning("cannot enable conntrack accounting (%s): traffic will show 0 bytes", exc)


class ConntrackReader:
    """A dump socket and a destroy-event socket in the current network namespace."""

    def __init__(self) -> None:
        self._dump = NFCTSocket(nfgen_family=socket.AF_UNSPEC)
        self._events = NFCTSocket(nfgen_family=socket.AF_UNSPEC)
        self._events.bind(groups=_DESTROY_GROUP)

    def dump(self) -> list[CtEntry]:
        """Every accounted TCP/UDP connection in the table now."""
        return [e for m in self._dump.dump() if (e := entry_from_message(m)) is not None]

    def wait_for_destroyed(self, timeout: float) -> list[CtEntry]:
        """Connections destroyed since the last call, waiting up to `timeout` for one."""
        readable, _, _ = select.select([self._events.fileno()], [], [], timeout)
        if not readable:
            return []
        try:
            messages = self._events.get()
        except OSError as exc:  # ENOBUFS after a burst: those final counts are lost
            log.debug("conntrack events lost: %s", exc)
            return []
        return [e for m in messages if (e := entry_from_message(m)) is not None]

    def close(self) -> None:
        self._dump.close()
        self._events.close()
