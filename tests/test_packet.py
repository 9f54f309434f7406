"""The packet parser: right fields from real header layouts, never an exception."""

import ipaddress
import struct

from hypothesis import given
from hypothesis import strategies as st

from netwarden_helper.packet_path.packet import ICMP, ICMPV6, SCTP, TCP, UDP, parse


def ipv4(protocol, transport, src="192.0.2.1", dst="192.0.2.2", frag=0, options=b""):
    header_len = 20 + len(options)
    total = header_len + len(transport)
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x40 | header_len // 4, 0, total, 1, frag, 64, protocol, 0,
        ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed,
    )  # fmt: skip
    return header + options + transport


def ipv6(next_header, rest, src="2001:db8::1", dst="2001:db8::2"):
    header = struct.pack(
        "!IHBB16s16s", 0x60000000, len(rest), next_header, 64,
        ipaddress.IPv6Address(src).packed, ipaddress.IPv6Address(dst).packed,
    )  # fmt: skip
    return header + rest


def tcp(sport, dport, flags):
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, flags, 65535, 0, 0)


def udp(sport, dport, payload=b""):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def test_tcp_syn_over_ipv4():
    packet = parse(ipv4(TCP, tcp(40000, 443, 0x02)))
    assert (packet.version, packet.src, packet.dst) == (4, "192.0.2.1", "192.0.2.2")
    assert (packet.protocol_name, packet.sport, packet.dport) == ("tcp", 40000, 443)
    assert packet.tcp_flags == 0x02


def test_tcp_flags_are_read():
    assert parse(ipv4(TCP, tcp(443, 40000, 0x12))).tcp_flags == 0x12


def test_ipv4_options_are_skipped():
    packet = parse(ipv4(UDP, udp(5353, 53), options=b"\x01\x01\x01\x00"))
    assert (packet.sport, packet.dport, packet.payload_offset) == (5353, 53, 32)


def test_later_ipv4_fragment_has_no_ports():
    packet = parse(ipv4(UDP, b"\x00" * 8, frag=100))
    assert (packet.protocol, packet.sport, packet.dport) == (UDP, 0, 0)


def test_icmp_echo():
    packet = parse(ipv4(ICMP, struct.pack("!BBHHH", 8, 0, 0, 77, 1)))
    assert (packet.icmp_type, packet.icmp_id) == (8, 77)


def test_udp_over_ipv6_with_extension_headers():
    # hop-by-hop (8 octets) -> destination options (16 octets) -> UDP
    hop_by_hop = bytes([60, 0]) + b"\x01\x04\x00\x00\x00\x00"
    destination_options = bytes([UDP, 1]) + b"\x01\x0c" + b"\x00" * 12
    packet = parse(ipv6(0, hop_by_hop + destination_options + udp(1234, 53, b"dns")))
    assert (packet.version, packet.protocol_name) == (6, "udp")
    assert (packet.src, packet.dst, packet.sport, packet.dport) == (
        "2001:db8::1",
        "2001:db8::2",
        1234,
        53,
    )
    assert packet.payload_offset == 40 + 8 + 16 + 8


def test_ipv6_first_fragment_keeps_ports_later_ones_do_not():
    first = bytes([TCP, 0]) + struct.pack("!HI", 0x0001, 7)  # offset 0, more fragments
    later = bytes([TCP, 0]) + struct.pack("!HI", 0x0010, 7)  # offset 2
    assert parse(ipv6(44, first + tcp(5000, 80, 0x02))).dport == 80
    assert parse(ipv6(44, later + b"\x00" * 20)).dport == 0


def test_icmpv6_echo_and_sctp():
    assert parse(ipv6(ICMPV6, struct.pack("!BBHHH", 128, 0, 0, 9, 1))).icmp_type == 128
    sctp = parse(ipv4(SCTP, struct.pack("!HHII", 5000, 36412, 0, 0)))
    assert (sctp.protocol_name, sctp.dport) == ("sctp", 36412)


def test_truncated_and_garbage_packets_give_none():
    whole = ipv4(TCP, tcp(1, 2, 0x02))
    for cut in range(len(whole)):
        assert parse(whole[:cut]) is None, cut
    assert parse(b"") is None
    assert parse(b"\x50" + b"\x00" * 60) is None  # IP version 5
    assert parse(ipv4(TCP, tcp(1, 2, 0x02))[:20] + b"\x00" * 12 + b"\x10" + b"\x00" * 7) is None


@given(st.binary(max_size=200))
def test_parser_never_raises_on_random_bytes(data):
    parse(data)


@given(st.sampled_from([4, 6]), st.binary(max_size=120))
def test_parser_never_raises_on_random_bytes_behind_a_version(version, data):
    packet = parse(bytes([version << 4 | 5]) + data)
    assert packet is None or packet.version == version
