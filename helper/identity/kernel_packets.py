"""Packets the kernel sends on its own account, with no program's socket behind them: a
TCP reset answering a segment no socket wanted, an ICMP error. Queued (conntrack calls
them invalid: they belong to no connection it tracks) and found in no socket table, such
a packet is the kernel's (`KERNEL`), shown and ruled as such, not an unknown program.
A raw socket could forge one, but needs CAP_NET_RAW, and the data plane or the raw
socket listing names it while it exists (raw_sockets.py)."""

from netwarden_helper.packet_path.packet import ICMP, ICMPV6, TCP, Packet

TCP_SYN, TCP_RST = 0x02, 0x04
# destination unreachable, source quench, redirect, time exceeded, parameter problem;
# ICMPv6: destination unreachable, packet too big, time exceeded, parameter problem
ICMP_ERRORS = {ICMP: frozenset({3, 4, 5, 11, 12}), ICMPV6: frozenset({1, 2, 3, 4})}


def sent_by_kernel(packet: Packet) -> bool:
    """Whether `packet` is one the kernel makes itself: a reset, or an ICMP error."""
    if packet.protocol == TCP:
        return bool(packet.tcp_flags & TCP_RST) and not packet.tcp_flags & TCP_SYN
    return packet.icmp_type in ICMP_ERRORS.get(packet.protocol, ())
