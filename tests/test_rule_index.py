"""The indexed rules engine decides exactly as trying every rule in order would.

The reference below matches each rule against the flow by the documented meaning of its
fields, entry by entry, with nothing precomputed, over all the rules in precedence order.
"""

import fnmatch
import ipaddress
import random
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from netwarden_common.rules import Rule
from netwarden_helper.policy.engine import Decision, Flow, Matcher, RuleSet, Verdict, decide_among

FIREFOX, CURL = "/usr/lib/firefox/firefox", "/usr/bin/curl"
HASH_A, HASH_B = "a" * 64, "b" * 64
DESTINATIONS = [
    "www.mozilla.org", "mozilla.org", "*.mozilla.org", "*.org", "MOZILLA.org.", "example.com",
    "*.example.com", "*.b.example.com", "192.0.2.80", "192.0.2.0/24", "192.0.0.0/16",
    "0.0.0.0/0", "198.51.100.7", "2001:db8::1", "2001:db8::/32", "::/0", "10.0.0.0/8",
]  # fmt: skip
PORTS = ["443", "80", "1-1024", "8000-8080", "53"]


def reference_matches(rule: Rule, flow: Flow) -> bool:
    """Whether `rule` matches `flow`, but for its pin, straight from the fields."""
    if rule.uid is not None and rule.uid != flow.uid:
        return False
    if rule.protocol and rule.protocol != flow.protocol:
        return False
    if rule.ports and not any(_port_in(entry, flow.dport) for entry in rule.ports.split(",")):
        return False
    if (rule.unit and rule.unit != flow.unit) or (rule.flatpak and rule.flatpak != flow.flatpak):
        return False
    if rule.script and rule.script != flow.script:
        return False
    if rule.exe and (
        (flow.foreign_root and not rule.sha256) or not fnmatch.fnmatchcase(flow.exe, rule.exe)
    ):
        return False
    entries = [entry.strip() for entry in rule.destination.split(",") if entry.strip()]
    return not entries or any(_destination_is(entry, flow) for entry in entries)


def _port_in(entry: str, port: int) -> bool:
    low, _, high = entry.strip().partition("-")
    return int(low) <= port <= int(high or low)


def _destination_is(entry: str, flow: Flow) -> bool:
    try:
        address = ipaddress.ip_address(flow.dst)
    except ValueError:
        address = None
    if "/" in entry:
        return address is not None and address in ipaddress.ip_network(entry, strict=False)
    try:
        return address == ipaddress.ip_address(entry)
    except ValueError:
        pass
    names = [host.lower().rstrip(".") for host in flow.hosts]
    wanted = entry.lower().rstrip(".")
    if wanted.startswith("*."):
        return any(n == wanted[2:] or n.endswith(wanted[1:]) for n in names)
    return wanted in names


def reference_decide(ordered: list[Matcher], flow: Flow, now: float) -> Decision:
    """The decision among every rule in precedence order, each matched by the reference
    (the pins then weighed as the engine does)."""
    return decide_among((m for m in ordered if reference_matches(m.rule, flow)), flow, now)


def _program(exe: str, unit: str, flatpak: str, sha: bool) -> dict:
    if unit:
        return {"unit": unit}
    if flatpak:
        return {"flatpak": flatpak}
    pinned = sha and exe and "*" not in exe
    return {"exe": exe, **({"sha256": HASH_B if sha == "b" else HASH_A} if pinned else {})}


RULES = st.builds(
    lambda action, program, uid, destinations, ports, protocol, priority, enabled, until: Rule(
        action, **program, uid=uid, destination=", ".join(destinations),
        ports=",".join(ports), protocol=protocol, priority=priority, enabled=enabled,
        **({"lifetime": "until", "expires_at": until} if until else {}),
    ),
    st.sampled_from(["allow", "deny"]),
    st.builds(_program, st.sampled_from([FIREFOX, CURL, "/usr/lib/*/firefox", ""]),
              st.sampled_from(["", "", "", "cups.service"]),
              st.sampled_from(["", "", "", "org.mozilla.firefox"]),
              st.sampled_from([False, False, "a", "b"])),
    st.sampled_from([None, None, 1000, 0]),
    st.lists(st.sampled_from(DESTINATIONS), max_size=3),
    st.lists(st.sampled_from(PORTS), max_size=2, unique=True),
    st.sampled_from(["", "", "tcp", "udp"]),
    st.sampled_from([0, 0, 0, 5]),
    st.sampled_from([True, True, True, False]),
    st.sampled_from([None, None, 50.0, 200.0]),
)  # fmt: skip
FLOWS = st.builds(
    Flow,
    exe=st.sampled_from([FIREFOX, CURL, "/usr/lib/other/firefox", "/app/bin/firefox"]),
    dst=st.sampled_from(["192.0.2.80", "192.0.2.5", "192.0.9.1", "198.51.100.7", "10.9.8.7",
                         "2001:db8::1", "2001:db8:1::5", "2002::1"]),
    protocol=st.sampled_from(["tcp", "udp"]),
    dport=st.sampled_from([443, 80, 53, 8080, 9000]),
    uid=st.sampled_from([1000, 0]),
    sha256=st.sampled_from([None, HASH_A, HASH_B]),
    unit=st.sampled_from(["", "cups.service"]),
    flatpak=st.sampled_from(["", "org.mozilla.firefox"]),
    hosts=st.lists(st.sampled_from(["www.mozilla.org", "WWW.Mozilla.ORG.", "a.b.example.com",
                                    "example.com", "mozilla.org", "other.net"]),
                   max_size=2).map(tuple),
    foreign_root=st.sampled_from([False, False, True]),
)  # fmt: skip


def numbered(rules: list[Rule], first: int = 1) -> list[Rule]:
    return [replace(rule, id=i) for i, rule in enumerate(rules, first)]


@settings(max_examples=400, deadline=None)
@given(st.lists(RULES, max_size=25), st.lists(RULES, max_size=5), FLOWS, st.sampled_from([0, 100]))
def test_the_indexed_decision_is_the_reference_one(user, admin, flow, now):
    user, admin = numbered(user), numbered(admin, first=10**6)
    expected = reference_decide(RuleSet(admin).matchers, flow, now)
    if expected.verdict is Verdict.NO_RULE:
        expected = reference_decide(RuleSet(user).matchers, flow, now)
    assert RuleSet(admin, user).decide(flow, now) == expected


def test_ten_thousand_rules_decide_as_the_reference_does():
    chance = random.Random(22)
    rules = []
    for i in range(10_000):
        kind = i % 4
        destination = (
            f"h{chance.randrange(3000)}.example.com",
            f"10.{chance.randrange(256)}.{chance.randrange(256)}.0/24",
            f"*.d{chance.randrange(1000)}.test",
            "",
        )[kind]  # fmt: skip
        exe = f"/usr/bin/p{chance.randrange(500)}" if kind == 3 or chance.random() < 0.3 else ""
        port = str(chance.choice([443, 80, 53])) if chance.random() < 0.5 else ""
        rules.append(Rule(chance.choice(["allow", "deny"]), exe=exe, destination=destination,
                          ports=port))  # fmt: skip
    rules = numbered(rules)
    rule_set = RuleSet(rules)
    decided = 0
    ordered = rule_set.matchers
    for _ in range(100):
        flow = Flow(exe=f"/usr/bin/p{chance.randrange(600)}", protocol="tcp",
                    dst=f"10.{chance.randrange(256)}.{chance.randrange(256)}.1",
                    dport=chance.choice([443, 80, 22]),
                    hosts=(f"h{chance.randrange(3500)}.example.com",
                           f"x.d{chance.randrange(1200)}.test"))  # fmt: skip
        decision = rule_set.decide(flow, 0.0)
        assert decision == reference_decide(ordered, flow, 0.0)
        decided += decision.verdict is Verdict.RULE
    assert 10 < decided < 90, "the flows should meet both decided and undecided cases"


def test_networks_of_every_prefix_length_and_both_families_are_found():
    rules = numbered([Rule("deny", destination=d) for d in
                      ("0.0.0.0/0", "10.0.0.0/8", "10.1.0.0/16", "10.1.2.3/32", "10.1.2.3",
                       "::/0", "2001:db8::/32", "::ffff:10.1.2.3")])  # fmt: skip
    rule_set = RuleSet(rules)
    for dst, matching in (("10.1.2.3", {1, 2, 3, 4, 5}), ("10.2.0.1", {1, 2}),
                          ("2001:db8::9", {6, 7}), ("::ffff:10.1.2.3", {6, 8})):  # fmt: skip
        flow = Flow(exe=CURL, dst=dst, protocol="tcp")
        for rule in rules:
            alone = RuleSet([rule]).decide(flow, 0.0).verdict is Verdict.RULE
            assert alone == (rule.id in matching), (dst, rule.destination)
        assert rule_set.decide(flow, 0.0).rule.id in matching
