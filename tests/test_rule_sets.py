"""Rules with a set of destinations or ports: validation, canonical form, matching and
specificity (the least specific entry)."""

import pytest

from netwarden_common.rules import MAX_ENTRIES, MAX_LIST_TEXT, Rule, RuleError, validate
from netwarden_helper.policy.engine import Flow, RuleSet, Verdict

FLOW = Flow(exe="/usr/bin/curl", dst="192.0.2.80", protocol="tcp", dport=443,
            hosts=("www.mozilla.org",))  # fmt: skip


def decides(flow: Flow = FLOW, **fields) -> bool:
    return RuleSet([Rule("allow", id=1, **fields)]).decide(flow, 0.0).verdict is Verdict.RULE


def test_sets_are_stored_in_one_canonical_form():
    destination = " a.example ,*.b.example,192.0.2.0/24, a.example"
    rule = validate({"action": "deny", "destination": destination, "ports": "53, 80 ,8000-8080,53"})
    assert rule.destination == "a.example, *.b.example, 192.0.2.0/24"
    assert rule.ports == "53,80,8000-8080"
    assert validate({"action": "deny", "destination": "a.example"}).destination == "a.example"


@pytest.mark.parametrize(
    ("values", "field", "named"),
    [
        ({"destination": "a.example, bad host!, c.example"}, "destination", "'bad host!'"),
        ({"destination": "a.example, 10.0.0.0/33"}, "destination", "'10.0.0.0/33'"),
        ({"destination": "a.example,,c.example"}, "destination", "empty entry"),
        ({"destination": "a.example,"}, "destination", "empty entry"),
        ({"ports": "53,http"}, "ports", "'http'"),
        ({"ports": "53,80-70"}, "ports", "'80-70'"),
        ({"ports": "53, ,80"}, "ports", "empty entry"),
    ],
)
def test_a_bad_entry_is_named(values, field, named):
    with pytest.raises(RuleError) as error:
        validate({"action": "deny", **values})
    assert error.value.field == field
    assert named in str(error.value)


def test_sets_are_bounded_by_entries_and_length_not_by_the_text_limit():
    many = ", ".join(f"h{i}.example" for i in range(MAX_ENTRIES))
    assert len(validate({"action": "deny", "destination": many}).destination) == len(many)
    with pytest.raises(RuleError, match=f"more than {MAX_ENTRIES}"):
        validate({"action": "deny", "destination": many + ", one-more.example"})
    with pytest.raises(RuleError, match=f"longer than {MAX_LIST_TEXT}"):
        validate({"action": "deny", "destination": "a" * (MAX_LIST_TEXT + 1)})
    with pytest.raises(RuleError, match="longer than 4096"):
        validate({"action": "deny", "note": "a" * 4097})


@pytest.mark.parametrize(
    ("destination", "matches"),
    [
        ("example.com, www.mozilla.org", True),
        ("example.com, *.mozilla.org", True),
        ("example.com, 192.0.2.80", True),
        ("example.com, 192.0.2.0/24", True),
        ("example.com, *.example.org, 198.51.100.0/24, 192.0.2.81", False),
    ],
)
def test_a_destination_set_matches_when_any_entry_does(destination, matches):
    assert decides(destination=destination) is matches


@pytest.mark.parametrize(("ports", "matches"), [("53,443", True), ("53,400-500", True),
                                                ("53,80,8000-8080", False)])  # fmt: skip
def test_a_port_set_matches_when_any_entry_does(ports, matches):
    assert decides(ports=ports) is matches


@pytest.mark.parametrize(
    ("specific", "general"),
    [
        ("www.mozilla.org", "www.mozilla.org, 192.0.2.0/24"),  # a host over a set with a network
        ("192.0.2.0/24", "192.0.2.80, *.mozilla.org"),  # a network over a set with a domain
        ("www.mozilla.org, 192.0.2.80", "www.mozilla.org, *.org"),
        ("*.mozilla.org", ""),  # any set over any destination
    ],
)
def test_a_set_ranks_as_its_least_specific_entry(specific, general):
    for action, other in (("allow", "deny"), ("deny", "allow")):
        for rules in ((Rule(action, destination=specific, id=1),
                       Rule(other, destination=general, id=2)),
                      (Rule(other, destination=general, id=1),
                       Rule(action, destination=specific, id=2))):  # fmt: skip
            assert RuleSet(rules).decide(FLOW, 0.0).rule.action == action


def test_single_ports_rank_above_a_set_with_a_range():
    rules = [Rule("allow", ports="443,8000-8080", id=1), Rule("deny", ports="80,443", id=2)]
    assert RuleSet(rules).decide(FLOW, 0.0).rule.id == 2
