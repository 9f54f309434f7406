"""The packet path in a real network namespace: allow, deny, hold-then-answer, defaults.

The helper runs in-process (netfilter rules, queues, sock_diag, the firewall) in the
`host` namespace; clients are separate processes there; servers in the `peer` namespace
record every connection that reaches them, so a leak while a flow is held would show.
"""

import json
import os
import subprocess
import sys
import time

import pytest

from netwarden_common.rules import Rule
from netwarden_helper.policy.answers import Answer
from tests.fixtures.dns_server import dns_server
from tests.fixtures.traffic import recorder, run_client, start_client

PYTHON = os.path.realpath(sys.executable)
PORT = 8080


@pytest.fixture
def servers(netns):
    with recorder(netns.peer, (netns.peer_v4, netns.peer_v6), PORT) as record:
        yield record


def add_rule(helper, **fields):
    return helper.call(lambda h: h.rule_book.add_rule(Rule(**fields)))


CASES = [("tcp", "peer_v4"), ("tcp", "peer_v6"), ("udp", "peer_v4"), ("udp", "peer_v6")]


def received(servers, kind):
    return servers.tcp_accepts if kind == "tcp" else servers.udp_datagrams


@pytest.mark.parametrize(("kind", "address"), CASES)
def test_allow_rule_lets_the_connection_through(netns, servers, helper_thread, kind, address):
    helper = helper_thread()
    add_rule(helper, action="allow", exe=PYTHON, destination=getattr(netns, address),
             protocol=kind, ports=str(PORT))  # fmt: skip
    outcome = run_client(netns.host, kind, getattr(netns, address), PORT)
    assert outcome["result"] == "connected"
    assert received(servers, kind) == 1
    assert helper.prompter.raised == []
    assert helper.call(lambda h: h.counters["allowed"]) >= 1


@pytest.mark.parametrize(("kind", "address"), CASES)
def test_deny_rule_refuses_at_once(netns, servers, helper_thread, kind, address):
    helper = helper_thread()
    add_rule(helper, action="deny", exe=PYTHON, destination=getattr(netns, address))
    outcome = run_client(netns.host, kind, getattr(netns, address), PORT)
    assert outcome["result"] == "refused"
    assert outcome["elapsed"] < 0.1
    assert received(servers, kind) == 0


def test_silent_drop_rule_times_out_instead(netns, servers, helper_thread):
    helper = helper_thread()
    add_rule(helper, action="deny", drop=True, destination=netns.peer_v4)
    outcome = run_client(netns.host, "tcp", netns.peer_v4, PORT, timeout=1.5)
    assert outcome["result"] == "timeout"
    assert servers.tcp_accepts == 0


@pytest.mark.parametrize(("kind", "address"), CASES)
def test_held_flow_waits_for_the_answer_without_leaking(
    netns, servers, helper_thread, kind, address
):
    helper = helper_thread()
    client = start_client(netns.host, kind, getattr(netns, address), PORT, timeout=15)
    prompt = helper.wait_for_prompt()
    assert prompt.flow.exe == PYTHON
    assert prompt.process.pid == client.pid or client.pid in [p for p, _ in prompt.process.parents]
    assert (prompt.flow.dst, prompt.flow.dport, prompt.flow.protocol) == (
        getattr(netns, address), PORT, kind)  # fmt: skip
    assert prompt.flow.uid == 0
    time.sleep(1.5)  # long enough for a SYN retransmit
    assert received(servers, kind) == 0, "a held flow reached the server"
    assert client.poll() is None

    started = time.monotonic()
    helper.call(lambda h: h.held_flows.answer(prompt.id, Answer("allow", lifetime="once")))
    outcome = json.loads(client.communicate(timeout=10)[0])
    assert outcome["result"] == "connected"
    assert time.monotonic() - started < 1.0
    assert received(servers, kind) == 1
    assert helper.prompter.closed == [(prompt.id, "answered")]
    assert len(helper.prompter.raised) == 1, "a retransmit raised a second prompt"


def test_answer_forever_makes_a_rule_and_the_next_attempt_is_not_asked(
    netns, servers, helper_thread
):
    helper = helper_thread()
    client = start_client(netns.host, "tcp", netns.peer_v4, PORT)
    prompt = helper.wait_for_prompt()
    rule = helper.call(lambda h: h.held_flows.answer(prompt.id, Answer("deny", "host", "forever")))
    assert json.loads(client.communicate(timeout=10)[0])["result"] == "refused"
    assert (rule.action, rule.exe, rule.destination, rule.ports) == (
        "deny", PYTHON, netns.peer_v4, str(PORT))  # fmt: skip
    assert rule.uid == 0
    assert rule.sha256 and len(rule.sha256) == 64, "the answer pins the running binary"

    again = run_client(netns.host, "tcp", netns.peer_v4, PORT)
    assert again["result"] == "refused"
    assert len(helper.prompter.raised) == 1
    assert servers.tcp_accepts == 0


def test_flows_of_one_program_to_one_destination_share_a_prompt(netns, servers, helper_thread):
    helper = helper_thread()
    clients = [start_client(netns.host, "tcp", netns.peer_v4, PORT) for _ in range(3)]
    prompt = helper.wait_for_prompt()
    time.sleep(0.5)
    assert len(helper.prompter.raised) == 1
    helper.call(lambda h: h.held_flows.answer(prompt.id, Answer("allow")))
    results = [json.loads(c.communicate(timeout=10)[0])["result"] for c in clients]
    assert results == ["connected"] * 3
    assert servers.tcp_accepts == 3


def test_a_new_rule_releases_the_flows_it_decides(netns, servers, helper_thread):
    helper = helper_thread()
    client = start_client(netns.host, "tcp", netns.peer_v6, PORT)
    prompt = helper.wait_for_prompt()
    add_rule(helper, action="allow", destination=netns.peer_v6)
    assert json.loads(client.communicate(timeout=10)[0])["result"] == "connected"
    assert helper.prompter.closed == [(prompt.id, "rule")]


def test_without_an_app_the_default_action_applies_at_once(netns, servers, helper_thread):
    helper_thread(prompter=False)
    outcome = run_client(netns.host, "tcp", netns.peer_v4, PORT)
    assert outcome["result"] == "connected"
    assert servers.tcp_accepts == 1


def test_default_deny_without_an_app(netns, servers, helper_thread):
    helper_thread(prompter=False, default_action="deny")
    outcome = run_client(netns.host, "udp", netns.peer_v4, PORT)
    assert outcome["result"] == "refused"
    assert servers.udp_datagrams == 0


def test_unanswered_prompt_times_out_to_the_default_action(netns, servers, helper_thread):
    helper = helper_thread(prompt_timeout=5, default_action="deny")
    client = start_client(netns.host, "tcp", netns.peer_v4, PORT, timeout=20)
    prompt = helper.wait_for_prompt()
    outcome = json.loads(client.communicate(timeout=15)[0])
    assert outcome["result"] == "refused"
    assert 4.5 < outcome["elapsed"] < 8
    assert helper.prompter.closed == [(prompt.id, "timeout")]
    assert servers.tcp_accepts == 0


@pytest.mark.parametrize("action", ["allow", "deny"])
def test_icmp_echo(netns, helper_thread, action):
    helper = helper_thread()
    add_rule(helper, action=action, protocol="icmp", destination=netns.peer_v4)
    ping = netns.host.run("ping", "-c1", "-W2", netns.peer_v4, check=False)
    assert (ping.returncode == 0) == (action == "allow"), ping.stdout + ping.stderr


def test_icmpv6_echo_is_held_until_answered(netns, helper_thread):
    helper = helper_thread()
    ping = netns.host.popen("ping", "-6", "-c1", "-W10", netns.peer_v6)
    prompt = helper.wait_for_prompt()
    assert (prompt.flow.protocol, prompt.flow.dst) == ("icmpv6", netns.peer_v6)
    helper.call(lambda h: h.held_flows.answer(prompt.id, Answer("allow")))
    assert ping.wait(10) == 0


def test_rules_are_installed_once_and_removed_on_stop(netns, helper_thread):
    def queue_rules():
        return sum(
            netns.host.run(save).stdout.count("NFQUEUE")
            for save in ("iptables-save", "ip6tables-save")
        )

    helper = helper_thread()
    installed = queue_rules()
    # per family: 3 flow classes leaving and 3 forwarded, 2 DNS queries and 2 answers for
    # this host, 2 queries and 2 answers forwarded
    assert installed == 2 * 14
    helper.stop()
    assert queue_rules() == 0
    for _ in range(3):
        helper_thread(prompter=False).stop()
    helper_thread(prompter=False)
    assert queue_rules() == installed


def run_named_client(netns, name, resolver, timeout=5.0):
    result = netns.host.run(
        sys.executable, "-m", "tests.fixtures.client", "tcp", name, str(PORT),
        f"--resolver={resolver}", f"--timeout={timeout}", timeout=timeout + 30,
    )  # fmt: skip
    return json.loads(result.stdout)


def test_rule_by_domain_after_a_real_dns_answer(netns, servers, helper_thread):
    records = {"www.example.test": netns.peer_v4, "elsewhere.test": netns.peer_v6}
    with dns_server(netns.peer, netns.peer_v4, records):
        helper = helper_thread(prompter=False, default_action="deny")
        add_rule(helper, action="allow", protocol="udp", ports="53", destination=netns.peer_v4)
        add_rule(helper, action="allow", protocol="tcp", destination="*.example.test")
        assert run_named_client(netns, "www.example.test", netns.peer_v4)["result"] == "connected"
        assert run_named_client(netns, "elsewhere.test", netns.peer_v4)["result"] == "refused"
        assert servers.tcp_accepts == 1


def test_prompt_names_the_host_the_address_was_resolved_from(netns, servers, helper_thread):
    with dns_server(netns.peer, netns.peer_v4, {"api.example.test": netns.peer_v6}):
        helper = helper_thread()
        add_rule(helper, action="allow", protocol="udp", ports="53")
        client = netns.host.popen(
            sys.executable, "-m", "tests.fixtures.client", "tcp", "api.example.test", str(PORT),
            f"--resolver={netns.peer_v4}", "--timeout=10", stdout=subprocess.PIPE,
        )  # fmt: skip
        prompt = helper.wait_for_prompt()
        assert prompt.flow.hosts == ("api.example.test",)
        rule = helper.call(
            lambda h: h.held_flows.answer(prompt.id, Answer("allow", "domain", "forever"))
        )
        assert rule.destination == "*.example.test"
        assert json.loads(client.communicate(timeout=10)[0])["result"] == "connected"


def test_the_helpers_own_marked_traffic_is_never_queued(netns, servers, helper_thread):
    helper = helper_thread()
    own = helper.call(lambda h: h.interception.marks.own)
    result = netns.host.run(
        sys.executable, "-m", "tests.fixtures.client", "tcp", netns.peer_v4, str(PORT),
        f"--mark={own:#x}",
    )  # fmt: skip
    assert json.loads(result.stdout)["result"] == "connected"
    assert helper.prompter.raised == []
    assert helper.call(lambda h: h.counters["packets"]) == 0


def test_until_quit_rule_ends_with_the_program(netns, servers, helper_thread):
    helper = helper_thread()
    client = start_client(netns.host, "tcp", netns.peer_v4, PORT)
    prompt = helper.wait_for_prompt()
    rule = helper.call(
        lambda h: h.held_flows.answer(prompt.id, Answer("allow", "host", "until_quit"))
    )
    assert (rule.lifetime, rule.pid) == ("until_quit", prompt.process.pid)
    helper.call(lambda h: h.rule_book.prune())
    assert [r.id for r in helper.call(lambda h: h.rule_book.rules())] == [rule.id]
    client.communicate(timeout=10)  # the program quits
    helper.call(lambda h: h.rule_book.prune())
    assert helper.call(lambda h: h.rule_book.rules()) == []
