"""Rules for forwarded traffic (containers, VMs) as pure logic: validation, matching,
precedence, and the rule a prompt's answer makes. The real kernel's side is in
tests/adversarial/test_forwarded_traffic.py."""

import pytest

from netwarden_common.rules import RuleError, validate
from netwarden_helper.policy.answers import Answer, AnswerError, rule_for
from netwarden_helper.policy.engine import Decision, Flow, RuleSet, Verdict

CONTAINER = Flow(exe="", dst="192.0.2.2", protocol="tcp", dport=443,
                 forwarded_from="docker0 172.17.0.2")  # fmt: skip
LOCAL = Flow(exe="/usr/bin/curl", dst="192.0.2.2", protocol="tcp", dport=443, uid=1000)


@pytest.mark.parametrize(
    ("values", "why"),
    [
        ({"forwarded_from": "docker0", "exe": "/usr/bin/curl"}, "no program or user"),
        ({"forwarded_from": "docker0", "uid": 1000}, "no program or user"),
        ({"forwarded_from": "docker0", "unit": "cups.service"}, "no program or user"),
        ({"forwarded_from": "not an interface"}, "not an IP address"),
        ({"forwarded_from": "a-name-far-too-long-for-linux"}, "interface name"),
        ({"forwarded_from": "docker0 300.1.1.1"}, "not an IP address"),
        ({"forwarded_from": 5}, "must be str"),
    ],
)
def test_a_malformed_forwarded_rule_is_refused_naming_the_field(values, why):
    with pytest.raises(RuleError, match=why) as refused:
        validate({"action": "allow", **values})
    assert refused.value.field == "forwarded_from"


def decide(flow: Flow, *rules: dict) -> Decision:
    rule_set = RuleSet([validate(values) for values in rules])
    return rule_set.decide(flow, 0.0)


def test_forwarded_rules_and_this_hosts_rules_never_decide_each_other():
    assert decide(CONTAINER, {"action": "deny"}).verdict is Verdict.NO_RULE
    assert decide(LOCAL, {"action": "deny", "forwarded_from": "*"}).verdict is Verdict.NO_RULE
    assert decide(CONTAINER, {"action": "deny", "forwarded_from": "*"}).verdict is Verdict.RULE


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [("*", True), ("docker0", True), ("docker0 172.17.0.2", True), ("* 172.17.0.2", True),
     ("virbr0", False), ("docker0 172.17.0.3", False)],
)  # fmt: skip
def test_a_forwarded_rule_names_any_interface_one_or_one_source(pattern, matches):
    decision = decide(CONTAINER, {"action": "deny", "forwarded_from": pattern})
    assert (decision.verdict is Verdict.RULE) == matches


def test_the_rule_naming_the_source_outranks_the_interface_which_outranks_any():
    rules = [
        {"action": "allow", "forwarded_from": "*"},
        {"action": "deny", "forwarded_from": "docker0"},
        {"action": "allow", "forwarded_from": "docker0 172.17.0.2", "note": "this one"},
    ]
    assert decide(CONTAINER, *rules).rule.note == "this one"
    assert decide(CONTAINER, *rules[:2]).rule.action == "deny"


def test_an_answer_makes_a_rule_for_that_source_and_no_program_or_user():
    rule = rule_for(Answer("allow", "port", "forever"), CONTAINER, 0, 0, 0.0)
    assert (rule.forwarded_from, rule.exe, rule.uid, rule.ports, rule.sha256) == (
        "docker0 172.17.0.2", "", None, "443", "")  # fmt: skip
    with pytest.raises(AnswerError, match="no program here to quit"):
        rule_for(Answer("allow", "host", "until_quit"), CONTAINER, 0, 0, 0.0)
