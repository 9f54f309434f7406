"""Traffic routed through this host (a container on a bridge, a VM) is seen and ruled.

Three namespaces: `client` (the container) reaches `peer` (a server) through `host`,
which routes between them and runs the helper. Before, the helper hooked OUTPUT only and
never saw these connections. Now each new forwarded flow is decided: by a rule for
forwarded traffic, else by the `forwarded` setting (allow by default so containers keep
working; ask or deny), recorded as "forwarded from <interface> <address>".
"""

import threading
import time

from netwarden_common.rules import validate
from netwarden_helper.policy.answers import Answer
from netwarden_helper.records.history_db import HistoryFilter
from tests.fixtures.dns_server import dns_server
from tests.fixtures.routing import CLIENT_V4, PORT


def add_rule(thread, **values) -> None:
    thread.call(lambda h: h.rule_book.add_rule(validate(values)))


def recorded(thread) -> list[dict]:
    history = thread.call(lambda h: h.history)
    history.flush().result(10)
    flows, _more = history.query(lambda db: db.flows(HistoryFilter())).result(10)
    return flows


def test_without_the_helper_the_client_reaches_the_peer(routed):
    assert routed.connect() == "connected"


def test_forwarded_flows_are_allowed_by_default_and_recorded(routed, helper_thread):
    thread = helper_thread(prompter=False, default_action="deny")
    assert routed.connect() == "connected"
    flows = recorded(thread)
    assert [(f["forwarded_from"], f["exe"], f["verdict"], f["decided_by"], f["port"])
            for f in flows] == [(f"fw0 {CLIENT_V4}", "", "allow", "forwarded", PORT)]  # fmt: skip


def test_names_from_the_forwarded_dns_answers_are_learned(routed, helper_thread):
    """A blocklist or a domain rule can judge the containers' connections by name."""
    sandbox = routed.sandbox
    with dns_server(sandbox.peer, sandbox.peer_v4, {"api.example.test": sandbox.peer_v4}):
        thread = helper_thread(prompter=False, forwarded="deny")
        add_rule(thread, action="allow", forwarded_from="*", protocol="udp", ports="53")
        add_rule(thread, action="allow", forwarded_from="*", destination="*.example.test")
        assert routed.connect_by_name("api.example.test") == "connected"
    hosts = {f["host"] for f in recorded(thread) if f["protocol"] == "tcp"}
    assert hosts == {"api.example.test"}


def test_the_setting_deny_refuses_them(routed, helper_thread):
    helper_thread(prompter=False, forwarded="deny")
    assert routed.connect() == "refused"


def test_ask_raises_a_prompt_and_the_answer_makes_a_rule_for_that_source(routed, helper_thread):
    thread = helper_thread(forwarded="ask")
    result: list[str] = []
    connecting = threading.Thread(target=lambda: result.append(routed.connect()))
    connecting.start()
    prompt = thread.wait_for_prompt()
    assert (prompt.flow.forwarded_from, prompt.flow.exe) == (f"fw0 {CLIENT_V4}", "")
    time.sleep(1.5)  # no local socket to look at: the prompt is not taken for given up
    assert not thread.call(lambda h: h.held_flows.prompt(prompt.id)).gave_up
    rule = thread.call(lambda h: h.held_flows.answer(prompt.id, Answer("allow", "host",
                                                                       "forever")))  # fmt: skip
    connecting.join(10)
    assert result == ["connected"]
    assert (rule.forwarded_from, rule.exe, rule.uid) == (f"fw0 {CLIENT_V4}", "", None)
    assert routed.connect() == "connected"  # decided by the rule: no second prompt
    assert len(thread.prompter.raised) == 1


def test_a_rule_for_forwarded_traffic_decides_before_the_setting(routed, helper_thread):
    thread = helper_thread(prompter=False)  # forwarded: allow
    add_rule(thread, action="deny", forwarded_from="fw0", ports=str(PORT), protocol="tcp")
    assert routed.connect() == "refused"


def test_rules_for_this_hosts_programs_do_not_decide_forwarded_flows(routed, helper_thread):
    """A deny-everything rule for local programs does not cut the containers off, and a
    container cannot borrow an allow rule written for a program of this host."""
    thread = helper_thread(prompter=False)
    add_rule(thread, action="deny")
    assert routed.connect() == "connected"
    thread.call(lambda h: h.settings.update({"forwarded": "deny"}))
    add_rule(thread, action="allow", priority=10, destination=routed.sandbox.peer_v4)
    assert routed.connect() == "refused"
