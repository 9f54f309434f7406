"""Packets that belong to no connection do not leave undecided.

A raw socket can send what no connection explains: a TCP segment with data but no SYN,
an ICMP echo reply nobody asked for. Before, only TCP SYNs and echo requests were queued
for those protocols, and such packets left whatever the rules said. Now everything the
kernel's connection tracking calls new or invalid is decided: with the default action
deny and no rule, none of it reaches the peer (watched by a raw socket there).
"""

import contextlib
import socket
import struct
import time
from contextlib import AbstractContextManager

from tests.fixtures.senders import checksum
from tests.fixtures.traffic import arriving

MARKER = b"netwarden-unqueued"


def tcp_segment(src: str, dst: str) -> bytes:
    """A TCP ACK with data (and no SYN) from port 40123 to 8080, checksummed."""
    header = struct.pack("!HHIIBBHHH", 40123, 8080, 1000, 2000, 5 << 4, 0x18, 65535, 0, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack(
        "!BBH", 0, socket.IPPROTO_TCP, len(header) + len(MARKER))  # fmt: skip
    total = checksum(pseudo + header + MARKER)
    return header[:16] + struct.pack("!H", total) + header[18:] + MARKER


def echo_reply() -> bytes:
    header = struct.pack("!BBHHH", 0, 0, 0, 4242, 1)
    total = checksum(header + MARKER)
    return header[:2] + struct.pack("!H", total) + header[4:] + MARKER


def watch(netns, protocol: int) -> AbstractContextManager[list[bytes]]:
    """Every packet of `protocol` that arrives in the peer namespace carrying MARKER."""
    return arriving(netns.peer, protocol, lambda data: MARKER in data)


def send_raw(netns, protocol: int, payload: bytes, times: int = 3) -> None:
    with netns.host.entered():
        sender = socket.socket(socket.AF_INET, socket.SOCK_RAW, protocol)
    with sender:
        for _ in range(times):
            with contextlib.suppress(OSError):  # refused by the verdict: what we want
                sender.sendto(payload, (netns.peer_v4, 0))
            time.sleep(0.05)


def test_a_raw_tcp_segment_without_syn_is_decided(netns, helper_thread):
    helper_thread(prompter=False, default_action="deny")
    with watch(netns, socket.IPPROTO_TCP) as seen:
        send_raw(netns, socket.IPPROTO_TCP, tcp_segment(netns.host_v4, netns.peer_v4))
        time.sleep(0.5)
    assert seen == []


def test_an_unasked_echo_reply_is_decided(netns, helper_thread):
    helper_thread(prompter=False, default_action="deny")
    with watch(netns, socket.IPPROTO_ICMP) as seen:
        send_raw(netns, socket.IPPROTO_ICMP, echo_reply())
        time.sleep(0.5)
    assert seen == []


def test_without_the_helper_both_arrive(netns):
    """The same packets with no firewall: the test would see them leave."""
    with watch(netns, socket.IPPROTO_TCP) as tcp, watch(netns, socket.IPPROTO_ICMP) as icmp:
        send_raw(netns, socket.IPPROTO_TCP, tcp_segment(netns.host_v4, netns.peer_v4))
        send_raw(netns, socket.IPPROTO_ICMP, echo_reply())
        time.sleep(0.5)
    assert tcp and icmp
