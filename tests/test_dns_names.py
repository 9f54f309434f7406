"""Host names from DNS answers: CNAME chains, TTLs, the size bound, malformed input."""

import dns.message
import dns.rrset
from hypothesis import given
from hypothesis import strategies as st

from netwarden_helper.identity.dns_names import DnsNames


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def answer(name, records, ttl=300, record_type="A"):
    reply = dns.message.make_response(dns.message.make_query(name, record_type))
    for owner, kind, value in records:
        reply.answer.append(dns.rrset.from_text(owner.rstrip(".") + ".", ttl, "IN", kind, value))
    return reply.to_wire()


def test_address_maps_to_the_question_and_its_cname_chain():
    names = DnsNames()
    names.learn(answer("www.mozilla.org", [
        ("www.mozilla.org", "CNAME", "www.mozilla.org.cdn.example."),
        ("www.mozilla.org.cdn.example", "A", "198.51.100.7"),
    ]))  # fmt: skip
    assert set(names.names_for("198.51.100.7")) == {
        "www.mozilla.org",
        "www.mozilla.org.cdn.example",
    }
    assert names.names_for("198.51.100.8") == ()


def test_ipv6_answers_and_tcp_framing():
    names = DnsNames()
    wire = answer(
        "v6.example.test", [("v6.example.test", "AAAA", "2001:db8::7")], record_type="AAAA"
    )
    names.learn(len(wire).to_bytes(2, "big") + wire, over_tcp=True)
    assert names.names_for("2001:db8::7") == ("v6.example.test",)
    names.learn(wire[:10], over_tcp=True)  # a partial segment is skipped, not an error
    assert names.malformed == 0


def test_names_expire_with_their_ttl():
    clock = Clock()
    names = DnsNames(clock=clock)
    names.learn(answer("short.test", [("short.test", "A", "198.51.100.1")], ttl=60))
    clock.now += 59
    assert names.names_for("198.51.100.1") == ("short.test",)
    clock.now += 2
    assert names.names_for("198.51.100.1") == ()


def test_the_map_is_bounded():
    names = DnsNames(max_addresses=100)
    for i in range(300):
        names.learn(answer(f"h{i}.test", [(f"h{i}.test", "A", f"10.0.{i // 256}.{i % 256}")]))
    assert len(names) == 100
    assert names.names_for("10.0.1.43") == ("h299.test",)
    assert names.names_for("10.0.0.0") == ()


def test_malformed_answers_are_counted_and_ignored():
    names = DnsNames()
    for garbage in (b"", b"\x00" * 5, b"\xff" * 40, answer("x.test", [])[:-3] + b"\xc0\xff"):
        names.learn(garbage)
    assert names.malformed >= 3
    assert len(names) == 0


@given(st.binary(max_size=600), st.booleans())
def test_learn_never_raises(data, over_tcp):
    DnsNames().learn(data, over_tcp=over_tcp)


@given(st.binary(min_size=1, max_size=40), st.integers(min_value=12, max_value=200))
def test_learn_never_raises_on_damaged_real_answers(noise, cut):
    wire = answer("www.example.test", [("www.example.test", "A", "198.51.100.9")])
    DnsNames().learn(wire[:cut] + noise)
