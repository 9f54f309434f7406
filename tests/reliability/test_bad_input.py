"""Bad input at scale: fuzzed packets fed to the parser, fuzzed D-Bus calls to the real
helper, malformed packets through the real queue. Nothing crashes, nothing changes.

CI: 100,000 packets parsed, 1,000 calls, 3,000 injected packets; `make soak`: 1,000,000,
10,000 and 30,000. Every run draws a new seed, printed on failure; replay a failure with
`tools/devenv run -- env NETWARDEN_FUZZ_SEED=<seed> python3 -m pytest <this file>`.
"""

import json
import os
import random
import socket
import struct
import sys
import time
from collections import Counter

import dbus
import dns.message
import dns.rrset
import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings

from netwarden_common.api import INTERFACE, METHOD_SIGNATURES
from netwarden_common.dbus_values import dictionary
from netwarden_common.rules import COUNTER_FIELDS
from netwarden_helper.packet_path.packet import ICMP, ICMPV6, SCTP, TCP, UDP, UDPLITE, Packet, parse
from tests.fixtures.api import state
from tests.fixtures.dns_server import dns_server
from tests.fixtures.traffic import recorder, run_client
from tests.test_dbus_api import CALLS, CHANGING
from tests.test_packet import ipv4, ipv6, udp

SEED = int(os.environ.get("NETWARDEN_FUZZ_SEED") or random.SystemRandom().randrange(2**32))
REPLAY = f"replay with NETWARDEN_FUZZ_SEED={SEED} (see this file's docstring)"


@pytest.fixture(autouse=True)
def show_seed():
    print(f"fuzz seed {SEED}; {REPLAY}")  # shown by pytest when a test fails


# Packets

SYN, ACK, PSH = 0x02, 0x10, 0x08
# MSS 1460, SACK permitted, timestamps, NOP, window scale 7: what Linux sends.
SYN_OPTIONS = bytes.fromhex("020405b4 0402 080a0000000100000000 01 030307".replace(" ", ""))


def tcp_segment(sport, dport, flags=SYN, options=SYN_OPTIONS, data_offset=None, payload=b""):
    """A TCP header (with `options`, padded to 32 bits) and payload; `data_offset`
    overrides the header length field (in 32-bit words)."""
    options += b"\x00" * (-len(options) % 4)
    words = 5 + len(options) // 4 if data_offset is None else data_offset
    header = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, words << 4, flags, 64240, 0, 0)
    return header + options + payload


def icmp_echo(icmp_type, identifier, payload=b""):
    return struct.pack("!BBHHH", icmp_type, 0, 0, identifier, 1) + payload


def ipv6_fragment(next_header, offset, more, identification=7):
    return struct.pack("!BBHI", next_header, 0, offset << 3 | more, identification)


def real_packets():
    """Well-formed first packets of new flows, as the flow queue hands them over."""
    syn = tcp_segment(40000, 443)
    hop_by_hop = bytes([60, 0, 1, 4, 0, 0, 0, 0])  # -> destination options, PadN
    destination_options = bytes([TCP, 0, 1, 4, 0, 0, 0, 0])
    routing = bytes([UDP, 0, 0, 0, 0, 0, 0, 0])
    ah = bytes([TCP, 4]) + b"\x00" * 22  # (4 + 2) * 4 octets
    return [
        ipv4(TCP, syn),
        ipv4(TCP, tcp_segment(40001, 80, options=b"")),
        ipv4(TCP, syn, options=b"\x94\x04\x00\x00"),  # router alert
        ipv4(UDP, udp(5353, 53, b"\x12\x34\x01\x00\x00\x01" + b"\x00" * 6)),
        ipv4(UDP, udp(40002, 9)),
        ipv4(ICMP, icmp_echo(8, 77, b"abcdefgh")),
        ipv4(SCTP, struct.pack("!HHII", 5000, 36412, 0, 0)),
        ipv4(UDPLITE, struct.pack("!HHHH", 5000, 5001, 8, 0)),
        ipv4(47, b"\x00\x00\x08\x00"),  # GRE: no ports
        ipv4(UDP, udp(40003, 53), frag=0x2000),  # first fragment
        ipv4(UDP, b"\x00" * 8, frag=185),  # a later fragment
        ipv6(TCP, syn),
        ipv6(UDP, udp(40004, 53, b"query")),
        ipv6(ICMPV6, icmp_echo(128, 9)),
        ipv6(0, hop_by_hop + destination_options + syn),
        ipv6(43, routing + udp(40005, 123)),
        ipv6(44, ipv6_fragment(TCP, 0, 1) + syn),
        ipv6(44, ipv6_fragment(TCP, 2, 0) + b"\x00" * 16),
        ipv6(51, ah + syn),
        ipv6(59, b""),
    ]


PROTOCOLS = (0, TCP, UDP, ICMP, ICMPV6, SCTP, UDPLITE, 43, 44, 51, 59, 60, 255)


def mutated(rng, packet):
    """`packet` with one kind of damage: flipped bytes, a bad version or header length,
    extreme length fields, another protocol, cut short, or random bytes appended."""
    data = bytearray(packet)
    kind = rng.randrange(7)
    if kind == 0:
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == 1:
        data[0] = rng.randrange(256)  # version and IHL
    elif kind == 2:  # a length field: IPv4 total length, IPv6 payload length, ...
        at = rng.randrange(min(len(data), 64) - 1)
        data[at : at + 2] = rng.choice((0, 1, 0xFFFF, rng.randrange(0x10000))).to_bytes(2)
    elif kind == 3:
        data[9 if data[0] >> 4 == 4 else 6] = rng.choice(PROTOCOLS)
    elif kind == 4:
        del data[rng.randrange(len(data)) :]
    elif kind == 5:
        data += rng.randbytes(rng.randrange(1, 64))
    else:  # a transport header length (TCP data offset) or an option length
        data[rng.randrange(20, len(data))] = rng.choice((0x00, 0x0F, 0x40, 0xF0, 0xFF))
    return bytes(data)


def fuzzed_packets(rng, count):
    """`count` packets: every truncation of each real packet, then mutations of them
    (mostly) and random bytes (behind an IPv4 or IPv6 version nibble, or none)."""
    originals = real_packets()
    truncations = [packet[:cut] for packet in originals for cut in range(len(packet))]
    yield from truncations[:count]
    for _ in range(count - len(truncations)):
        if rng.random() < 0.9:
            yield mutated(rng, rng.choice(originals))
        else:
            data = rng.randbytes(rng.randrange(80))
            yield rng.choice((b"", b"\x45", b"\x60")) + data


def well_formed(packet):
    """What a parsed packet may hold: the caller trusts these ranges."""
    return (
        packet.version in (4, 6)
        and 0 <= packet.protocol <= 255
        and 0 <= packet.sport <= 0xFFFF
        and 0 <= packet.dport <= 0xFFFF
        and -1 <= packet.icmp_type <= 255
        and packet.payload_offset >= 0
    )


def fuzz_parser(count):
    rng = random.Random(SEED)
    parsed = 0
    started = time.monotonic()
    for index, data in enumerate(fuzzed_packets(rng, count)):
        try:
            packet = parse(data)
        except Exception as exc:  # any exception is the failure reported
            pytest.fail(f"packet {index} ({data.hex()}) raised {exc!r}; {REPLAY}")
        if packet is not None:
            parsed += 1
            assert isinstance(packet, Packet) and well_formed(packet), (index, data.hex(), REPLAY)
    elapsed = time.monotonic() - started
    print(f"parser: {count} packets, {parsed} parsed, the rest None, in {elapsed:.1f} s")


def test_a_hundred_thousand_fuzzed_packets_never_make_the_parser_raise():
    """Whatever bytes reach the queue, the parser gives a packet or None: no exception
    can stop the helper from giving a verdict."""
    fuzz_parser(100_000)


@pytest.mark.soak
def test_a_million_fuzzed_packets_never_make_the_parser_raise():
    fuzz_parser(1_000_000)


# D-Bus calls


def fuzz_calls(helper, root, count):
    """`count` calls drawn from test_dbus_api's strategy (wrong types, unknown keys, odd
    values, huge strings). Each gets a named error or a reply; a failed call changes
    nothing, and only a call the helper accepted may change the rules or settings."""
    expected = state(root)
    outcomes, changed = Counter(), Counter()

    @seed(SEED)
    @settings(max_examples=count, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(call=CALLS)
    def one_call(call):
        nonlocal expected
        method, arguments, *forced = call
        signature = forced[0] if forced else METHOD_SIGNATURES[method]
        try:
            root.call(method, *arguments, signature=signature)
        except dbus.DBusException as exc:
            name = exc.get_dbus_name()
            assert name.startswith(f"{INTERFACE}.Error."), (method, exc, REPLAY)
            outcomes[name.rsplit(".", 1)[-1]] += 1
            if method in CHANGING:
                assert state(root) == expected, (method, "failed but changed state", REPLAY)
        else:
            outcomes["reply"] += 1
            if method in CHANGING and state(root) != expected:
                changed[method] += 1  # valid by chance: a legitimate change
                expected = state(root)

    started = time.monotonic()
    one_call()
    elapsed = time.monotonic() - started
    assert helper.poll() is None, "the helper died"
    assert root.call("GetStatus")["version"]
    assert state(root) == expected, REPLAY
    total = sum(outcomes.values())
    print(f"D-Bus: {total} calls in {elapsed:.1f} s: {dict(outcomes)}")
    print(f"changes by calls that were valid by chance: {dict(changed)}")
    return total


def test_a_thousand_fuzzed_calls_get_named_errors_and_change_nothing(helper, root, polkitd):
    """A client sending garbage gets an error it can show, and the rules and settings stay
    as they were; the helper keeps serving."""
    polkitd()
    assert fuzz_calls(helper, root, 1_000) >= 900


@pytest.mark.soak
@pytest.mark.timeout(900)
def test_ten_thousand_fuzzed_calls(helper, root, polkitd):
    polkitd()
    assert fuzz_calls(helper, root, 10_000) >= 9_000


# The real queue

ALLOWED, DENIED = 8080, 8081  # the ports of the allow and deny rules


def settled_state(root):
    """The rules (without their hit counts, which traffic changes), settings, blocklists,
    profiles."""
    rules, chosen, blocklists, profiles = state(root)
    records = [{key: value for key, value in rule.items() if key not in COUNTER_FIELDS}
               for rule in json.loads(rules)["rules"]]  # fmt: skip
    return records, chosen, blocklists, profiles


def flow_packets(rng, netns):
    """One malformed first packet of a flow from the host to the peer: (kind, family,
    bytes). Ports stay clear of the rules' ports, so the default action decides."""
    v4 = {"src": netns.host_v4, "dst": netns.peer_v4}
    v6 = {"src": netns.host_v6, "dst": netns.peer_v6}
    ports = rng.randrange(20000, 60000), rng.choice((9, 443, rng.randrange(1, 8000)))
    kind = rng.choice(KINDS)
    options = rng.randbytes(rng.randrange(41))
    if kind == "syn with odd options":
        return kind, [ipv4(TCP, tcp_segment(*ports, options=options), **v4)]
    if kind == "syn with a bad header length":
        offset = rng.randrange(16)
        return kind, [ipv4(TCP, tcp_segment(*ports, data_offset=offset, payload=options), **v4)]
    if kind == "syn with data":
        return kind, [ipv4(TCP, tcp_segment(*ports, payload=options), **v4)]
    if kind == "syn with odd IP options":
        whole_words = options[: len(options) // 4 * 4]
        return kind, [ipv4(TCP, tcp_segment(*ports), options=whole_words, **v4)]
    if kind == "syn in two fragments":
        syn = tcp_segment(*ports)
        return kind, [ipv4(TCP, syn[:24], frag=0x2000, **v4), ipv4(TCP, syn[24:], frag=3, **v4)]
    if kind == "syn with a bad IP version or IHL":
        packet = bytearray(ipv4(TCP, tcp_segment(*ports), **v4))
        packet[0] = rng.choice((0x05, 0x15, 0x35, 0x55, 0x65, 0x75, 0xF5, 0x42, 0x43, 0x44))
        return kind, [bytes(packet)]
    if kind == "udp with a wrong length":
        datagram = bytearray(udp(*ports, options))
        datagram[4:6] = rng.choice((0, 7, rng.randrange(8, 0x10000), 0xFFFF)).to_bytes(2)
        return kind, [ipv4(UDP, bytes(datagram), **v4)]
    if kind == "unknown protocol":
        return kind, [ipv4(rng.choice((0, 143, 200, 253, 254, 255)), options, **v4)]
    if kind == "icmp echo, odd sizes":
        return kind, [ipv4(ICMP, icmp_echo(8, ports[0], options)[: rng.randrange(4, 50)], **v4)]
    if kind == "ipv6 syn with odd options":
        return kind, [ipv6(TCP, tcp_segment(*ports, options=options), **v6)]
    if kind == "ipv6 syn behind extension headers":
        padding = bytes([1, 4]) + rng.randbytes(4)  # PadN with random contents
        chain = bytes([60, 0]) + padding + bytes([44, 0]) + padding
        return kind, [ipv6(0, chain + ipv6_fragment(TCP, 0, 0) + tcp_segment(*ports), **v6)]
    if kind == "ipv6 with a wrong payload length":
        packet = bytearray(ipv6(rng.choice((TCP, UDP, 253)), tcp_segment(*ports), **v6))
        packet[4:6] = rng.choice((0, 1, 0xFFFF, rng.randrange(0x10000))).to_bytes(2)
        return kind, [bytes(packet)]
    return kind, [ipv6(rng.choice((59, 143, 253)), options, **v6)]  # unknown next header


KINDS = (
    "syn with odd options", "syn with a bad header length", "syn with data",
    "syn with odd IP options", "syn in two fragments", "syn with a bad IP version or IHL",
    "udp with a wrong length", "unknown protocol", "icmp echo, odd sizes",
    "ipv6 syn with odd options", "ipv6 syn behind extension headers",
    "ipv6 with a wrong payload length", "ipv6 unknown next header",
)  # fmt: skip
# Kinds every packet of which reaches the queue: TCP SYNs iptables can read.
QUEUED = {"syn with odd options", "syn with a bad header length", "syn with data",
          "syn with odd IP options", "syn in two fragments", "ipv6 syn with odd options",
          "ipv6 syn behind extension headers"}  # fmt: skip


def dns_answers(rng, count):
    """DNS answers from port 53: real ones (names for 198.51.100.x), mutated ones and
    random bytes."""
    for index in range(count):
        query = dns.message.make_query(f"host{index}.fuzz.test", "A")
        answer = dns.message.make_response(query)
        address = f"198.51.100.{index % 250 + 1}"
        answer.answer.append(dns.rrset.from_text(query.question[0].name, 300, "IN", "A", address))
        wire = answer.to_wire()
        choice = rng.random()
        if choice < 0.2:
            yield wire
        elif choice < 0.9:
            yield mutated(rng, wire)
        else:
            yield rng.randbytes(rng.randrange(100))


def dns_over_tcp(message):
    return len(message).to_bytes(2) + message


def raw_sockets(ns):
    """IPv4 and IPv6 raw sockets inside `ns` that send whole packets, headers included."""
    with ns.entered():
        v4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        v6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
    return v4, v6


def connect(ns, address, port):
    """Whether a TCP connection from `ns` to `address`:`port` is made (in under 5 s)."""
    with ns.entered():
        sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET)
    with sock:
        sock.settimeout(5)
        try:
            sock.connect((address, port))
        except OSError:
            return False
    return True


def counters(root):
    return {str(key): int(value) for key, value in root.call("GetStatus")["counters"].items()}


def inject(netns, root, helper, count):
    """Send `count` malformed packets through the queue, with well-formed connections
    between them; check nothing crashed or changed and verdicts still work."""
    rng = random.Random(SEED)
    root.call("AddRule", dictionary({"action": "allow", "protocol": "tcp", "ports": str(ALLOWED)}))
    root.call("AddRule", dictionary({"action": "deny", "protocol": "tcp", "ports": str(DENIED)}))
    before, counted = settled_state(root), counters(root)
    v4, v6 = raw_sockets(netns.host)
    peer_raw, _ = raw_sockets(netns.peer)
    with netns.peer.entered():
        resolver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    resolver.bind((netns.peer_v4, 53))
    sent, refused, connected = Counter(), Counter(), 0
    peer, back = netns.peer_v4, {"src": netns.peer_v4, "dst": netns.host_v4}
    started = time.monotonic()
    with recorder(netns.peer, (netns.peer_v4, netns.peer_v6), ALLOWED) as servers:
        answers = dns_answers(rng, count)
        while sent.total() + refused.total() < count:
            for _ in range(100):
                kind, packets = flow_packets(rng, netns)
                sock, address = (v6, netns.peer_v6) if kind.startswith("ipv6") else (v4, peer)
                try:
                    for packet in packets:
                        sock.sendto(packet, (address, 0))
                    sent[kind] += 1
                except OSError:  # netfilter dropped it before the queue, or the kernel refused
                    refused[kind] += 1
                answer, port = next(answers), rng.randrange(1024, 65536)
                if rng.random() < 0.1:  # over TCP, with its length prefix
                    segment = tcp_segment(53, port, PSH | ACK, b"", payload=dns_over_tcp(answer))
                    peer_raw.sendto(ipv4(TCP, segment, **back), (netns.host_v4, 0))
                else:
                    resolver.sendto(answer, (netns.host_v4, port))
            for address in (netns.peer_v4, netns.peer_v6):
                assert connect(netns.host, address, ALLOWED), (f"{address} after {sent}", REPLAY)
                connected += 1
        elapsed = time.monotonic() - started
        for sock in (v4, v6, peer_raw, resolver):
            sock.close()
        with dns_server(netns.peer, netns.peer_v4, {"after.fuzz.test": netns.peer_v4}):
            looked_up = netns.host.run(
                sys.executable, "-m", "tests.fixtures.client", "tcp", "after.fuzz.test",
                str(ALLOWED), f"--resolver={netns.peer_v4}", check=False,
            )  # fmt: skip
        assert '"connected"' in looked_up.stdout, f"name resolution broke: {looked_up.stderr}"
        assert run_client(netns.host, "tcp", netns.peer_v4, DENIED)["result"] == "refused"
        assert servers.tcp_accepts == connected + 1
    after = counters(root)
    assert helper.poll() is None, "the helper died"
    change = {key: after[key] - counted.get(key, 0) for key in after}
    print(f"queue: {count} packets + {count} DNS answers in {elapsed:.1f} s: sent {dict(sent)}")
    print(f"refused by the kernel, not sent: {dict(refused)}")
    print(f"counters: {change}")
    queued = sum(sent[kind] for kind in QUEUED)
    assert change["packets"] >= queued + connected + 2, (change, REPLAY)
    assert change.get("errors", 0) == 0, "internal errors on the packet path"
    assert change["unparsed"] > 0, "malformed packets reached the parser"
    assert change["dns_addresses"] > 0, "names were learnt from the well-formed answers"
    assert settled_state(root) == before, REPLAY


def test_three_thousand_malformed_packets_through_the_queue_change_nothing(
    netns, helper, root, polkitd
):
    """Malformed packets from this host and malformed DNS answers to it pass through the
    helper without stopping it: connections still get their verdicts and names still
    resolve afterwards."""
    polkitd()
    inject(netns, root, helper, 3_000)


@pytest.mark.soak
@pytest.mark.timeout(900)
def test_thirty_thousand_malformed_packets_through_the_queue(netns, helper, root, polkitd):
    polkitd()
    inject(netns, root, helper, 30_000)
