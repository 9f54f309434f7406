"""Parse the IP header and the ports of a queued packet. Never raises.

Handles IPv4 (options, fragments) and IPv6 (hop-by-hop, routing, fragment, destination
options and AH extension headers), with TCP, UDP, UDP-Lite, SCTP, ICMP and ICMPv6 above.
A packet that cannot be parsed gives `None`; a later fragment (whose ports are in the
first fragment) gives a `Packet` with ports 0.
"""

import ipaddress
import struct
from dataclasses import dataclass

TCP, UDP, ICMP, ICMPV6, SCTP, UDPLITE = 6, 17, 1, 58, 132, 136
PROTOCOL_NAMES = {TCP: "tcp", UDP: "udp", ICMP: "icmp", ICMPV6: "icmpv6", SCTP: "sctp",
                  UDPLITE: "udplite"}  # fmt: skip
_PORT_PROTOCOLS = frozenset({TCP, UDP, SCTP, UDPLITE})
# IPv6 extension headers whose length is (hdr_ext_len + 1) * 8 octets.
_V6_OPTION_HEADERS = frozenset({0, 43, 60})
_V6_FRAGMENT, _V6_AH, _V6_NO_NEXT = 44, 51, 59


@dataclass(frozen=True, slots=True)
class Packet:
    """What the firewall needs from one packet's headers."""

    version: int  # 4 or 6
    protocol: int  # IANA protocol number of the transport
    src: str
    dst: str
    sport: int = 0  # ports are 0 where the protocol has none
    dport: int = 0
    tcp_flags: int = 0
    icmp_type: int = -1  # -1 when not ICMP
    icmp_id: int = 0
    payload_offset: int = 0  # where the transport payload starts (0: not known)

    @property
    def protocol_name(self) -> str:
        return PROTOCOL_NAMES.get(self.protocol, str(self.protocol))


def parse(data: bytes) -> Packet | None:
    """The headers of an IPv4 or IPv6 packet, or `None` if they are malformed."""
    try:
        if len(data) < 1:
            return None
        version = data[0] >> 4
        if version == 4:
            return _parse_v4(data)
        if version == 6:
            return _parse_v6(data)
        return None
    except (struct.error, IndexError, ValueError):  # a bug here must not stop the queue
        return None


def _parse_v4(data: bytes) -> Packet | None:
    if len(data) < 20:
        return None
    header_len = (data[0] & 0x0F) * 4
    total_len = struct.unpack_from("!H", data, 2)[0]
    if header_len < 20 or total_len < header_len or len(data) < header_len:
        return None
    fragment_offset = struct.unpack_from("!H", data, 6)[0] & 0x1FFF
    protocol = data[9]
    src = str(ipaddress.IPv4Address(data[12:16]))
    dst = str(ipaddress.IPv4Address(data[16:20]))
    if fragment_offset:
        return Packet(4, protocol, src, dst)
    return _transport(4, protocol, src, dst, data, header_len)


def _parse_v6(data: bytes) -> Packet | None:
    if len(data) < 40:
        return None
    src = str(ipaddress.IPv6Address(data[8:24]))
    dst = str(ipaddress.IPv6Address(data[24:40]))
    next_header, offset = data[6], 40
    while True:
        if next_header in _V6_OPTION_HEADERS:
            if len(data) < offset + 2:
                return None
            next_header, offset = data[offset], offset + (data[offset + 1] + 1) * 8
        elif next_header == _V6_AH:
            if len(data) < offset + 2:
                return None
            next_header, offset = data[offset], offset + (data[offset + 1] + 2) * 4
        elif next_header == _V6_FRAGMENT:
            if len(data) < offset + 8:
                return None
            fragment_offset = struct.unpack_from("!H", data, offset + 2)[0] >> 3
            next_header, offset = data[offset], offset + 8
            if fragment_offset:
                return Packet(6, next_header, src, dst)
        elif next_header == _V6_NO_NEXT:
            return Packet(6, next_header, src, dst)
        else:
            return _transport(6, next_header, src, dst, data, offset)


def _transport(
    version: int, protocol: int, src: str, dst: str, data: bytes, offset: int
) -> Packet | None:
    if protocol in _PORT_PROTOCOLS:
        if len(data) < offset + 4:
            return None
        sport, dport = struct.unpack_from("!HH", data, offset)
        if protocol == TCP:
            if len(data) < offset + 20:
                return None
            data_offset = (data[offset + 12] >> 4) * 4
            if data_offset < 20:
                return None
            return Packet(
                version,
                protocol,
                src,
                dst,
                sport,
                dport,
                tcp_flags=data[offset + 13],
                payload_offset=offset + data_offset,
            )
        header_len = 12 if protocol == SCTP else 8
        return Packet(version, protocol, src, dst, sport, dport, payload_offset=offset + header_len)
    if protocol in (ICMP, ICMPV6):
        if len(data) < offset + 8:
            return None
        icmp_type = data[offset]
        icmp_id = struct.unpack_from("!H", data, offset + 4)[0]
        return Packet(
            version,
            protocol,
            src,
            dst,
            icmp_type=icmp_type,
            icmp_id=icmp_id,
            payload_offset=offset + 8,
        )
    return Packet(version, protocol, src, dst, payload_offset=offset)
