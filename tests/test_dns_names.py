"""Host names from DNS answers: CNAME chains, TTLs, the size bound, malformed input, and
answers nobody asked for."""

import dns.message
import dns.rrset
from gi.repository import GLib
from hypothesis import given
from hypothesis import strategies as st

from netwarden_helper.identity.dns_names import DnsNames
from netwarden_helper.identity.hashing import BinaryHasher
from netwarden_helper.identity.identify import Identifier
from netwarden_helper.packet_path.packet import TCP, Packet
from netwarden_helper.runtime.loop import Loop


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


SERVER, CLIENT = ("192.0.2.53", 53), ("192.0.2.1", 40000)


def exchange(name, records, ttl=300, record_type="A"):
    """A query for `name` and its answer with `records`, as wire messages."""
    query = dns.message.make_query(name, record_type)
    reply = dns.message.make_response(query)
    for owner, kind, value in records:
        reply.answer.append(dns.rrset.from_text(owner.rstrip(".") + ".", ttl, "IN", kind, value))
    return query.to_wire(), reply.to_wire()


def answer(name, records, ttl=300, record_type="A"):
    return exchange(name, records, ttl, record_type)[1]


def asked_and_answered(names, name, records, ttl=300, record_type="A", over_tcp=False):
    query, reply = exchange(name, records, ttl, record_type)
    if over_tcp:
        query, reply = (len(m).to_bytes(2, "big") + m for m in (query, reply))
    names.observe(query, CLIENT, SERVER, over_tcp=over_tcp)
    names.observe(reply, SERVER, CLIENT, over_tcp=over_tcp)


def test_address_maps_to_the_question_and_its_cname_chain():
    names = DnsNames()
    asked_and_answered(names, "www.mozilla.org", [
        ("www.mozilla.org", "CNAME", "www.mozilla.org.cdn.example."),
        ("www.mozilla.org.cdn.example", "A", "198.51.100.7"),
    ])  # fmt: skip
    assert set(names.names_for("198.51.100.7")) == {
        "www.mozilla.org",
        "www.mozilla.org.cdn.example",
    }
    assert names.names_for("198.51.100.8") == ()


def test_ipv6_answers_and_tcp_framing():
    names = DnsNames()
    records = [("v6.example.test", "AAAA", "2001:db8::7")]
    asked_and_answered(names, "v6.example.test", records, record_type="AAAA", over_tcp=True)
    assert names.names_for("2001:db8::7") == ("v6.example.test",)
    wire = answer("v6.example.test", records, record_type="AAAA")
    names.observe(wire[:10], SERVER, CLIENT, over_tcp=True)  # a partial segment: no error
    assert names.malformed == 0


def test_names_expire_with_their_ttl():
    clock = Clock()
    names = DnsNames(clock=clock)
    asked_and_answered(names, "short.test", [("short.test", "A", "198.51.100.1")], ttl=60)
    clock.now += 59
    assert names.names_for("198.51.100.1") == ("short.test",)
    clock.now += 2
    assert names.names_for("198.51.100.1") == ()


def test_the_map_is_bounded():
    names = DnsNames(max_addresses=100)
    for i in range(300):
        address = f"10.0.{i // 256}.{i % 256}"
        asked_and_answered(names, f"h{i}.test", [(f"h{i}.test", "A", address)])
    assert len(names) == 100
    assert names.names_for("10.0.1.43") == ("h299.test",)
    assert names.names_for("10.0.0.0") == ()


def test_malformed_answers_are_counted_and_ignored():
    names = DnsNames()
    for garbage in (b"", b"\x00" * 5, b"\xff" * 40, answer("x.test", [])[:-3] + b"\xc0\xff"):
        names.observe(garbage, SERVER, CLIENT)
    assert names.malformed >= 3
    assert len(names) == 0


@given(st.binary(max_size=600), st.booleans())
def test_learn_never_raises(data, over_tcp):
    DnsNames().observe(data, SERVER, CLIENT, over_tcp=over_tcp)


@given(st.binary(min_size=1, max_size=40), st.integers(min_value=12, max_value=200))
def test_learn_never_raises_on_damaged_real_answers(noise, cut):
    wire = answer("www.example.test", [("www.example.test", "A", "198.51.100.9")])
    names = DnsNames()
    names.observe(exchange("www.example.test", [])[0], CLIENT, SERVER)
    names.observe(wire[:cut] + noise, SERVER, CLIENT)


def test_an_answer_nobody_asked_for_teaches_nothing():
    names = DnsNames()
    planted = answer("trusted.example", [("trusted.example", "A", "192.0.2.66")])
    names.observe(planted, SERVER, CLIENT)
    assert names.names_for("192.0.2.66") == ()
    assert names.unsolicited == 1


def test_an_answer_must_match_the_querys_server_port_id_and_name():
    query, reply = exchange("trusted.example", [("trusted.example", "A", "192.0.2.66")])
    for source, destination in ((("192.0.2.99", 53), CLIENT), (SERVER, ("192.0.2.1", 40001))):
        names = DnsNames()
        names.observe(query, CLIENT, SERVER)
        names.observe(reply, source, destination)  # another server, or another port
        assert names.names_for("192.0.2.66") == ()
    names = DnsNames()
    names.observe(query, CLIENT, SERVER)
    other_id = dns.message.from_wire(reply)
    other_id.id ^= 0x5A5A
    names.observe(other_id.to_wire(), SERVER, CLIENT)
    assert names.names_for("192.0.2.66") == ()
    other_query = dns.message.make_query("other.example", "A")
    names.observe(other_query.to_wire(), CLIENT, SERVER)
    other_name = dns.message.from_wire(reply)
    other_name.id = other_query.id  # the pending query's id, but not its question
    names.observe(other_name.to_wire(), SERVER, CLIENT)
    assert names.names_for("192.0.2.66") == ()


def test_records_riding_along_for_other_names_are_not_learnt():
    names = DnsNames()
    asked_and_answered(names, "cat-pictures.example", [
        ("cat-pictures.example", "CNAME", "cdn.example."),
        ("cdn.example", "A", "198.51.100.20"),
        ("trusted.example", "A", "192.0.2.66"),  # not on the chain from the question
        ("unrelated.example", "CNAME", "trusted.example."),
    ])  # fmt: skip
    assert set(names.names_for("198.51.100.20")) == {"cat-pictures.example", "cdn.example"}
    assert names.names_for("192.0.2.66") == ()


def test_an_answer_is_taken_once_and_only_while_expected():
    clock = Clock()
    names = DnsNames(clock=clock)
    query, reply = exchange("late.example", [("late.example", "A", "198.51.100.30")])
    names.observe(query, CLIENT, SERVER)
    clock.now += 31
    names.observe(reply, SERVER, CLIENT)
    assert names.names_for("198.51.100.30") == ()
    names.observe(query, CLIENT, SERVER)
    names.observe(reply, SERVER, CLIENT)
    assert names.names_for("198.51.100.30") == ("late.example",)
    replayed = dns.message.from_wire(reply)  # a second answer to the same query
    replayed.answer = [dns.rrset.from_text("late.example.", 300, "IN", "A", "198.51.100.31")]
    names.observe(replayed.to_wire(), SERVER, CLIENT)
    assert names.names_for("198.51.100.31") == ()


def test_pending_queries_are_bounded():
    names = DnsNames()
    for port in range(10_000):
        names.observe(exchange(f"q{port}.example", [])[0], ("192.0.2.1", port), SERVER)
    assert names.pending_queries <= 4096


def test_a_forged_answer_does_not_cancel_the_real_one():
    names = DnsNames()
    query, reply = exchange("real.example", [("real.example", "A", "198.51.100.40")])
    names.observe(query, CLIENT, SERVER)
    forged = dns.message.from_wire(answer("other.example", [("other.example", "A", "192.0.2.66")]))
    forged.id = dns.message.from_wire(query).id  # the right id, another question
    names.observe(forged.to_wire(), SERVER, CLIENT)
    names.observe(reply, SERVER, CLIENT)
    assert names.names_for("198.51.100.40") == ("real.example",)
    assert names.names_for("192.0.2.66") == ()


def test_a_tcp_segment_with_two_messages_is_read_whole():
    names = DnsNames()
    pairs = [
        exchange("a.example", [("a.example", "A", "198.51.100.41")]),
        exchange("b.example", [("b.example", "AAAA", "2001:db8::41")], record_type="AAAA"),
    ]
    framed = [[len(m).to_bytes(2, "big") + m for m in pair] for pair in pairs]
    names.observe(framed[0][0] + framed[1][0], CLIENT, SERVER, over_tcp=True)  # one write
    names.observe(framed[0][1] + framed[1][1], SERVER, CLIENT, over_tcp=True)
    assert names.names_for("198.51.100.41") == ("a.example",)
    assert names.names_for("2001:db8::41") == ("b.example",)


def test_a_public_resolver_is_named_when_no_answer_named_its_address():
    """Encrypted DNS to 9.9.9.9 asks nothing readable: the flow is shown under the
    resolver's own name; a name learnt from an answer still comes first."""
    names, loop = DnsNames(), Loop(GLib.MainContext.new())
    hasher = BinaryHasher(loop)
    identifier = Identifier(loop, hasher, names, data_plane=None)
    try:
        to_quad9 = Packet(4, TCP, "192.0.2.1", "9.9.9.9", 40000, 853)
        assert identifier.flow(to_quad9, 1000, None).hosts == ("dns.quad9.net",)
        nowhere = Packet(4, TCP, "192.0.2.1", "192.0.2.77", 40000, 443)
        assert identifier.flow(nowhere, 1000, None).hosts == ()
        asked_and_answered(names, "my.resolver.example", [("my.resolver.example", "A", "9.9.9.9")])
        assert identifier.flow(to_quad9, 1000, None).hosts == ("my.resolver.example",)
    finally:
        identifier.close()
        hasher.close()
