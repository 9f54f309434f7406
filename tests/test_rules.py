"""The rules engine: matching, every precedence tie-break, pins and validation."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netwarden_common.rules import Rule, RuleError, validate
from netwarden_helper.policy.engine import Flow, RuleSet, Verdict

FIREFOX = "/usr/lib/firefox/firefox"
HASH_A, HASH_B = "a" * 64, "b" * 64
FLOW = Flow(
    exe=FIREFOX,
    dst="192.0.2.80",
    protocol="tcp",
    dport=443,
    uid=1000,
    sha256=HASH_A,
    hosts=("www.mozilla.org",),
)


def winner(*rules, flow=FLOW, now=0.0):
    numbered = [Rule(**{**vars_of(r), "id": i}) for i, r in enumerate(rules, 1)]
    return RuleSet(numbered).decide(flow, now)


def vars_of(rule):
    return {name: getattr(rule, name) for name in rule.__dataclass_fields__ if name != "_compiled"}


def test_no_rule_means_ask():
    assert winner().verdict is Verdict.NO_RULE
    assert winner(Rule("allow", exe="/usr/bin/curl")).verdict is Verdict.NO_RULE


@pytest.mark.parametrize(
    "condition",
    [
        {"exe": FIREFOX},
        {"exe": "/usr/lib/*/firefox"},
        {"uid": 1000},
        {"protocol": "tcp"},
        {"ports": "443"},
        {"ports": "400-500"},
        {"destination": "www.mozilla.org"},
        {"destination": "WWW.Mozilla.org."},
        {"destination": "*.mozilla.org"},
        {"destination": "*.www.mozilla.org"},
        {"destination": "192.0.2.80"},
        {"destination": "192.0.2.0/24"},
        {"sha256": HASH_A, "exe": FIREFOX},
    ],
)
def test_each_condition_matches_the_flow(condition):
    decision = winner(Rule("allow", **condition))
    assert decision.verdict is Verdict.RULE


@pytest.mark.parametrize(
    "condition",
    [
        {"exe": "/usr/bin/curl"},
        {"exe": "/usr/bin/*"},
        {"uid": 0},
        {"protocol": "udp"},
        {"ports": "80"},
        {"ports": "1-442"},
        {"destination": "mozilla.org"},
        {"destination": "*.mozilla.com"},
        {"destination": "*.zilla.org"},
        {"destination": "192.0.2.81"},
        {"destination": "198.51.100.0/24"},
        {"unit": "cups.service"},
        {"flatpak": "org.mozilla.firefox"},
    ],
)
def test_each_condition_can_fail_to_match(condition):
    assert winner(Rule("allow", **condition)).verdict is Verdict.NO_RULE


def test_unit_and_flatpak_identify_processes():
    flow = Flow(
        exe="/app/bin/firefox",
        dst="192.0.2.1",
        protocol="tcp",
        dport=443,
        flatpak="org.mozilla.firefox",
        unit="app-flatpak-org.mozilla.firefox-9.scope",
    )
    assert winner(Rule("allow", flatpak="org.mozilla.firefox"), flow=flow).verdict is Verdict.RULE


def test_higher_priority_wins_over_specificity():
    specific_allow = Rule("allow", exe=FIREFOX, destination="www.mozilla.org", ports="443")
    broad_deny = Rule("deny", priority=10)
    assert winner(specific_allow, broad_deny).rule.action == "deny"


@pytest.mark.parametrize(
    ("specific", "general"),
    [
        ({"exe": FIREFOX}, {}),  # named process over any
        ({"exe": FIREFOX}, {"exe": "/usr/lib/firefox/*"}),  # named process over glob
        ({"exe": "/usr/lib/firefox/*"}, {}),  # glob over any
        ({"destination": "www.mozilla.org"}, {"destination": "*.mozilla.org"}),  # host over domain
        ({"destination": "192.0.2.80"}, {"destination": "192.0.2.0/24"}),  # IP over network
        ({"destination": "192.0.2.0/24"}, {"destination": "*.mozilla.org"}),  # network over domain
        ({"destination": "*.mozilla.org"}, {}),  # domain over any
        ({"ports": "443"}, {"ports": "1-1024"}),  # port over range
        ({"ports": "1-1024"}, {}),  # range over any
        ({"protocol": "tcp"}, {}),  # protocol over any
        ({"uid": 1000}, {}),  # user over any
        ({"destination": "www.mozilla.org"}, {"ports": "443", "protocol": "tcp", "uid": 1000}),
        ({"exe": FIREFOX}, {"destination": "192.0.2.80", "ports": "443"}),
    ],
)
def test_more_specific_rule_wins_whatever_its_action_or_age(specific, general):
    for first, second in ((specific, general), (general, specific)):
        for action in ("allow", "deny"):
            other = "deny" if action == "allow" else "allow"
            chosen = winner(Rule(action, **first), Rule(other, **second)).rule
            expected = action if first is specific else other
            assert chosen.action == expected, (first, second, action)


def test_deny_wins_at_equal_specificity():
    for order in ((Rule("allow", exe=FIREFOX), Rule("deny", exe=FIREFOX)),
                  (Rule("deny", exe=FIREFOX), Rule("allow", exe=FIREFOX))):  # fmt: skip
        assert winner(*order).rule.action == "deny"


def test_older_rule_wins_a_complete_tie():
    chosen = winner(Rule("allow", note="first"), Rule("allow", note="second")).rule
    assert chosen.note == "first"


def test_disabled_and_expired_rules_are_skipped():
    assert winner(Rule("deny", enabled=False)).verdict is Verdict.NO_RULE
    until = Rule("deny", lifetime="until", expires_at=100.0)
    assert winner(until, now=99.0).verdict is Verdict.RULE
    assert winner(until, now=100.0).verdict is Verdict.NO_RULE


def test_a_pin_for_another_binary_holds_the_flow_instead_of_allowing():
    pinned = Rule("allow", exe=FIREFOX, sha256=HASH_B)
    fallback = Rule("allow")
    decision = winner(pinned, fallback)
    assert decision.verdict is Verdict.PIN_MISMATCH
    assert decision.rule.sha256 == HASH_B


def test_a_rule_pinning_the_new_binary_decides_after_a_mismatch():
    old_pin = Rule("allow", exe=FIREFOX, sha256=HASH_B)
    new_pin = Rule("deny", exe=FIREFOX, sha256=HASH_A, note="new")
    assert winner(old_pin, new_pin).rule.note == "new"
    assert winner(old_pin, new_pin).verdict is Verdict.RULE


def test_a_pin_asks_for_the_hash_when_unknown():
    flow = Flow(exe=FIREFOX, dst="192.0.2.80", protocol="tcp", dport=443)
    assert (
        winner(Rule("allow", exe=FIREFOX, sha256=HASH_A), flow=flow).verdict is Verdict.NEEDS_HASH
    )
    assert winner(Rule("allow", exe=FIREFOX), flow=flow).verdict is Verdict.RULE


def test_validate_accepts_a_complete_rule():
    rule = validate(
        {
            "action": "deny",
            "exe": FIREFOX,
            "sha256": HASH_A,
            "uid": 1000,
            "destination": "*.example.org",
            "ports": "8000-8080",
            "protocol": "tcp",
            "lifetime": "until",
            "expires_at": 1e9,
            "priority": 5,
            "drop": True,
            "note": "test",
        }
    )
    assert (rule.action, rule.ports, rule.drop) == ("deny", "8000-8080", True)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({}, "action"),
        ({"action": "maybe"}, "action"),
        ({"action": "allow", "colour": "red"}, "colour"),
        ({"action": "allow", "id": 7}, "id"),
        ({"action": "allow", "hits": 7}, "hits"),
        ({"action": "allow", "exe": "firefox"}, "exe"),
        ({"action": "allow", "exe": 42}, "exe"),
        ({"action": "allow", "exe": "/a\0b"}, "exe"),
        ({"action": "allow", "exe": "/" + "a" * 5000}, "exe"),
        ({"action": "allow", "sha256": "abc", "exe": FIREFOX}, "sha256"),
        ({"action": "allow", "sha256": HASH_A}, "sha256"),
        ({"action": "allow", "sha256": HASH_A, "exe": "/usr/bin/*"}, "sha256"),
        ({"action": "allow", "exe": FIREFOX, "unit": "a.service"}, "exe"),
        ({"action": "allow", "unit": "bad unit!"}, "unit"),
        ({"action": "allow", "flatpak": "firefox"}, "flatpak"),
        ({"action": "allow", "uid": -1}, "uid"),
        ({"action": "allow", "uid": "1000"}, "uid"),
        ({"action": "allow", "uid": True}, "uid"),
        ({"action": "allow", "protocol": "quic"}, "protocol"),
        ({"action": "allow", "ports": "0"}, "ports"),
        ({"action": "allow", "ports": "80-70"}, "ports"),
        ({"action": "allow", "ports": "70000"}, "ports"),
        ({"action": "allow", "ports": "http"}, "ports"),
        ({"action": "allow", "ports": "53", "protocol": "icmp"}, "ports"),
        ({"action": "allow", "destination": "10.0.0.0/33"}, "destination"),
        ({"action": "allow", "destination": "bad host!"}, "destination"),
        ({"action": "allow", "destination": "-bad.example"}, "destination"),
        ({"action": "allow", "destination": "a" * 64 + ".com"}, "destination"),
        ({"action": "allow", "lifetime": "always"}, "lifetime"),
        ({"action": "allow", "lifetime": "until"}, "expires_at"),
        ({"action": "allow", "lifetime": "until_quit"}, "pid"),
        ({"action": "allow", "priority": 5000}, "priority"),
        ({"action": "allow", "enabled": 1}, "enabled"),
    ],
)
def test_validate_names_the_bad_field(values, field):
    with pytest.raises(RuleError) as error:
        validate(values)
    assert error.value.field == field


@given(
    st.dictionaries(
        st.sampled_from(
            ["action", "exe", "destination", "ports", "uid", "protocol", "priority", "junk"]
        ),
        st.one_of(st.text(max_size=30), st.integers(), st.none(), st.booleans()),
        max_size=6,
    )
)
def test_validate_either_accepts_or_raises_rule_error(values):
    try:
        rule = validate(values)
    except RuleError:
        return
    RuleSet([rule]).decide(FLOW, 0.0)  # an accepted rule can always be matched
