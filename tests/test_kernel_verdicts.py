"""Kernel verdicts against the real kernel: once a rule decided a program's flow through
the queue, its next connects there are decided at the system call, recorded exactly as
the queue's are, and never outlive what made them (a rule edited, expired or deleted, a
changed binary, another program, the setting turned off). Each test attaches the data
plane to a cgroup of its own inside its own network namespace."""

import ipaddress
import json
import os
import shutil
import time
from collections.abc import Iterator

import pytest

from netwarden_common.rules import Rule
from netwarden_helper.identity.hashing import sha256_of
from netwarden_helper.policy.domain_lists import DomainMatcher, EntriesBuilder
from netwarden_helper.policy.rules_dir import RulesDir
from netwarden_helper.records.history_db import HistoryFilter
from tests.fixtures.data_plane import CGROUP2, own_cgroup, own_program, start_in
from tests.fixtures.dns_server import dns_server
from tests.fixtures.processes import wait_for
from tests.fixtures.traffic import recorder
from tests.fixtures.users import NOBODY

PORT = 8080
pytestmark = pytest.mark.skipif(CGROUP2 is None, reason="no cgroup2 hierarchy")

# argv: kind (tcp: connect, udp: sendto), address, port, count, timeout; prints the
# outcome of each attempt, in order (datagrams 0.3 s apart: a send does not wait for its
# verdict, so one sent at once would meet the queue's, not the cache's)
ATTEMPTS = """\
import errno, json, socket, sys, time
kind, address = sys.argv[1], sys.argv[2]
port, count, timeout = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
family = socket.AF_INET6 if ":" in address else socket.AF_INET
results = []
for _ in range(count):
    with socket.socket(family, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            if kind == "tcp":
                s.connect((address, port))
            else:
                time.sleep(0.3)
                s.sendto(b"x", (address, port))
            results.append("connected" if kind == "tcp" else "sent")
        except TimeoutError:
            results.append("timeout")
        except OSError as error:
            results.append(errno.errorcode[error.errno])
print(json.dumps(results), flush=True)
"""
# argv: DNS server, name: looks the name up (A) there
LOOKUP = """\
import sys
import dns.message, dns.query
dns.query.udp(dns.message.make_query(sys.argv[2], "A"), sys.argv[1], timeout=5)
"""


@pytest.fixture
def watched() -> Iterator:
    with own_cgroup() as path:
        yield path


@pytest.fixture
def program() -> Iterator[str]:
    with own_program("client") as path:
        yield path


def connects(
    netns, cgroup, program: str, count: int, timeout: float = 3.0, kind: str = "tcp",
    address: str = "",
) -> list[str]:  # fmt: skip
    """Run `program` (as nobody, in `cgroup`): `count` TCP connects (or UDP datagrams)
    to the peer (its IPv4 address by default), one after the other; the outcome of each."""
    process = start_in(netns, cgroup, program, "-c", ATTEMPTS, kind, address or netns.peer_v4,
                       str(PORT), str(count), str(timeout))  # fmt: skip
    out, _ = process.communicate(timeout=30 + count * timeout)
    assert process.returncode == 0
    return json.loads(out)


def decisions(helper, sources: list | None = None) -> list[tuple]:
    """Every flow the helper tells of from now on: (program, uid, port, action,
    decided_by); and each flow's (source address, port) into `sources`."""
    seen: list[tuple] = []

    def told(flow, five_tuple, action, by, _rule):
        seen.append((flow.exe, flow.uid, flow.dport, action, by))
        if sources is not None:
            sources.append(five_tuple[1:3])

    helper.call(lambda h: h.verdicts.decided.connect(told))
    return seen


def kernel_decided(helper) -> int:
    return helper.call(lambda h: h.counters["kernel_decided"])


def matcher_of(network: str) -> DomainMatcher:
    """A blocklist of one network."""
    entries = EntriesBuilder()
    entries.add_network(ipaddress.ip_network(network))
    return DomainMatcher.merged({1: entries.build()})


def start(helper_thread, watched, **settings):
    helper = helper_thread(prompter=False, bpf_cgroup=watched, **settings)
    status = helper.call(lambda h: h.kernel_verdicts.status)
    assert status.on, status.reason
    return helper


def add_rule(helper, **fields) -> int:
    rule = helper.call(lambda h: h.rule_book.add_rule(Rule(**fields)))
    return rule.id


def test_allowed_flows_are_decided_in_the_kernel_and_recorded_like_the_queues(
    netns, helper_thread, watched, program
):
    helper = start(helper_thread, watched, default_action="deny")
    rule_id = add_rule(helper, action="allow", exe=program, ports=str(PORT))
    sources: list[tuple] = []
    seen = decisions(helper, sources)
    with recorder(netns.peer, (netns.peer_v4,), PORT) as servers:
        assert connects(netns, watched, program, 5) == ["connected"] * 5
        assert servers.tcp_accepts == 5
    # the first went through the queue, the four after it never left the kernel ...
    wait_for(lambda: kernel_decided(helper) == 4, 5, "the kernel's decisions")
    # ... and nobody can tell: the same records, hits and history
    assert seen == [(program, NOBODY, PORT, "allow", "rule")] * 5

    def recorded(h):
        h.history.flush().result(10)
        return h.rule_book.counted(h.rule_book.rule(rule_id)).hits, h.history

    hits, history = helper.call(recorded)
    assert hits == 5
    flows, _more = history.query(lambda db: db.flows(HistoryFilter(exe=program))).result(10)
    assert [(f["verdict"], f["decided_by"], f["rule_id"]) for f in flows] == [
        ("allow", "rule", rule_id)
    ] * 5
    # each with its own source port, as byte accounting follows flows by their 5-tuple
    assert len(set(sources)) == 5 and {src for src, _port in sources} == {netns.host_v4}


def test_denied_flows_are_refused_at_the_system_call(netns, helper_thread, watched, program):
    helper = start(helper_thread, watched, default_action="allow")
    add_rule(helper, action="deny", exe=program)
    seen = decisions(helper)
    with recorder(netns.peer, (netns.peer_v4,), PORT) as servers:
        assert connects(netns, watched, program, 4) == ["ECONNREFUSED"] + ["EPERM"] * 3
        assert servers.tcp_accepts == 0
    wait_for(lambda: kernel_decided(helper) == 3, 5, "the kernel's decisions")
    assert seen == [(program, NOBODY, PORT, "deny", "rule")] * 4


def test_the_programs_next_process_is_decided_in_the_kernel_from_its_first_connect(
    netns, helper_thread, watched, program
):
    """Each process here runs in a mount namespace of its own (`ip netns exec`), as
    sandboxed services and apps do: the same program all the same."""
    helper = start(helper_thread, watched, default_action="deny")
    add_rule(helper, action="allow", exe=program)
    with recorder(netns.peer, (netns.peer_v4,), PORT) as servers:
        assert connects(netns, watched, program, 1) == ["connected"]
        assert connects(netns, watched, program, 3) == ["connected"] * 3
        assert servers.tcp_accepts == 4
    wait_for(lambda: kernel_decided(helper) == 3, 5, "the kernel's decisions")


def test_allowed_ipv6_flows_are_decided_in_the_kernel_too(netns, helper_thread, watched, program):
    helper = start(helper_thread, watched, default_action="deny")
    add_rule(helper, action="allow", exe=program)
    with recorder(netns.peer, (netns.peer_v6,), PORT) as servers:
        assert connects(netns, watched, program, 3, address=netns.peer_v6) == ["connected"] * 3
        assert servers.tcp_accepts == 3
    wait_for(lambda: kernel_decided(helper) == 2, 5, "the kernel's decisions")


def test_denied_datagrams_are_refused_at_the_system_call(netns, helper_thread, watched, program):
    helper = start(helper_thread, watched, default_action="allow")
    add_rule(helper, action="deny", exe=program, protocol="udp")
    with recorder(netns.peer, (netns.peer_v4,), PORT) as servers:
        # the first is rejected on its way (its send already returned), the next refused
        # by the cache before a packet is made
        sent = connects(netns, watched, program, 3, kind="udp")
        assert sent[0] == "sent" and sent[1:] == ["EPERM"] * 2
        time.sleep(0.5)
        assert servers.udp_datagrams == 0
    wait_for(lambda: kernel_decided(helper) == 2, 5, "the kernel's decisions")


def test_a_new_name_for_the_address_voids_its_cached_verdicts(
    netns, helper_thread, watched, program
):
    """Allowed by address, then the address turns out to be a name a rule denies: the
    answer that tells so drops the cached allow before the program can use it."""
    helper = start(helper_thread, watched, default_action="deny")
    add_rule(helper, action="allow", exe=program, destination=netns.peer_v4)
    add_rule(helper, action="deny", exe=program, destination="tracker.example")
    add_rule(helper, action="allow", exe=program, ports="53", protocol="udp")
    with recorder(netns.peer, (netns.peer_v4,), PORT) as servers:
        assert connects(netns, watched, program, 2) == ["connected"] * 2
        wait_for(lambda: kernel_decided(helper) == 1, 5, "the kernel's decision")
        with dns_server(netns.peer, netns.peer_v4, {"tracker.example": netns.peer_v4}):
            lookup = start_in(netns, watched, program, "-c", LOOKUP, netns.peer_v4,
                              "tracker.example")  # fmt: skip
            lookup.communicate(timeout=20)
            assert lookup.returncode == 0
        assert connects(netns, watched, program, 2) == ["ECONNREFUSED", "EPERM"]
        assert servers.tcp_accepts == 2


def test_a_rule_that_drops_is_never_decided_in_the_kernel(netns, helper_thread, watched, program):
    helper = start(helper_thread, watched, default_action="allow")
    add_rule(helper, action="deny", exe=program, drop=True)
    assert connects(netns, watched, program, 2, timeout=1.0) == ["timeout"] * 2
    assert kernel_decided(helper) == 0


@pytest.mark.parametrize("change", ["edited", "deleted", "disabled", "profile", "switched",
                                    "rules.d"])  # fmt: skip
def test_a_change_of_the_rules_voids_every_cached_verdict_at_once(
    netns, helper_thread, watched, program, change, tmp_path
):
    helper = start(helper_thread, watched, default_action="deny")
    profile = "Work" if change == "switched" else ""
    rule_id = add_rule(helper, action="allow", exe=program, profile=profile)
    helper.call(lambda h: h.rule_book.use_profile(profile))
    with recorder(netns.peer, (netns.peer_v4,), PORT) as servers:
        assert connects(netns, watched, program, 2) == ["connected"] * 2
        wait_for(lambda: kernel_decided(helper) == 1, 5, "the kernel's decision")

        def change_it(h):
            rule = h.rule_book.rule(rule_id)
            if change == "edited":
                h.rule_book.replace_rule(rule_id, Rule(action="deny", exe=program))
            elif change == "deleted":
                h.rule_book.delete_rule(rule_id)
            elif change == "disabled":
                h.rule_book.replace_rule(rule_id, Rule(action="allow", exe=program,
                                                       enabled=False))  # fmt: skip
            elif change == "profile":  # moved into a profile that is not active
                h.rule_book.replace_rule(rule_id, Rule(action="allow", exe=rule.exe,
                                                       profile="Work"))  # fmt: skip
            elif change == "switched":  # another profile made active
                h.rule_book.use_profile("Home")
            else:  # the administrator's folder: a deny for the program, read as written
                rules_d.append(RulesDir(h.loop, tmp_path, h.rule_book.set_admin_rules))

        rules_d: list[RulesDir] = []
        (tmp_path / "10-corp.json").write_text(json.dumps(
            {"format": "netwarden-rules", "version": 1,
             "rules": [{"action": "deny", "exe": program}]}))  # fmt: skip
        helper.call(change_it)
        # refused by the queue (a deny rule: then by the kernel, from its new verdict)
        assert connects(netns, watched, program, 2) == (
            ["ECONNREFUSED", "EPERM"] if change in ("edited", "rules.d") else ["ECONNREFUSED"] * 2
        )
        assert servers.tcp_accepts == 2
    for folder in rules_d:
        helper.call(lambda h, folder=folder: folder.close())


def test_a_rule_that_expires_stops_deciding_in_the_kernel_when_it_ends(
    netns, helper_thread, watched, program
):
    helper = start(helper_thread, watched, default_action="deny")
    ends = time.time() + 3
    add_rule(helper, action="allow", exe=program, lifetime="until", expires_at=ends)
    with recorder(netns.peer, (netns.peer_v4,), PORT):
        assert connects(netns, watched, program, 2) == ["connected"] * 2
        time.sleep(max(0.0, ends - time.time()) + 0.2)
        assert connects(netns, watched, program, 1) == ["ECONNREFUSED"]
    assert kernel_decided(helper) == 1


def test_another_program_is_never_decided_by_a_programs_cached_verdict(
    netns, helper_thread, watched, program
):
    helper = start(helper_thread, watched, default_action="deny")
    add_rule(helper, action="allow", exe=program)
    with own_program("other") as other, recorder(netns.peer, (netns.peer_v4,), PORT):
        assert connects(netns, watched, program, 2) == ["connected"] * 2
        assert connects(netns, watched, other, 2) == ["ECONNREFUSED"] * 2
    assert kernel_decided(helper) == 1


def test_a_process_that_execs_another_program_is_that_program_to_the_cache(
    netns, helper_thread, watched, program
):
    helper = start(helper_thread, watched, default_action="deny")
    add_rule(helper, action="allow", exe=program)
    with own_program("other") as other, recorder(netns.peer, (netns.peer_v4,), PORT):
        # the same process (same pid): connects as `program`, then as `other`
        then_exec = ATTEMPTS + "import os\nos.execv(sys.argv[6], sys.argv[6:7] + ['-c', " \
            "sys.argv[7], *sys.argv[1:6]])\n"  # fmt: skip
        process = start_in(netns, watched, program, "-c", then_exec, "tcp", netns.peer_v4,
                           str(PORT), "2", "3", other, ATTEMPTS)  # fmt: skip
        out, _ = process.communicate(timeout=60)
    assert [json.loads(line) for line in out.splitlines()] == [
        ["connected", "connected"], ["ECONNREFUSED", "ECONNREFUSED"]]  # fmt: skip
    assert kernel_decided(helper) == 1


@pytest.mark.parametrize("how", ["in place", "replaced"])
def test_a_binary_changed_on_disk_is_not_let_through_by_the_cache(
    netns, helper_thread, watched, program, how
):
    helper = start(helper_thread, watched, default_action="deny", prompt_timeout=5)
    add_rule(helper, action="allow", exe=program, sha256=sha256_of(program))
    with recorder(netns.peer, (netns.peer_v4,), PORT) as servers:
        assert connects(netns, watched, program, 2) == ["connected"] * 2
        if how == "in place":  # same file, new content
            with open(program, "ab") as binary:
                binary.write(b"\0tampered")
        else:  # a new file renamed over it, as upgrades do
            shutil.copyfile(program, f"{program}.new")
            with open(f"{program}.new", "ab") as binary:
                binary.write(b"\0tampered")
            os.chmod(f"{program}.new", 0o755)
            os.rename(f"{program}.new", program)
        # the pin does not match: held (an alert raised) or refused, never allowed
        assert connects(netns, watched, program, 1, timeout=2.0) != ["connected"]
        assert servers.tcp_accepts == 2
    assert kernel_decided(helper) == 1


def test_flows_no_rule_decides_are_never_cached_so_the_default_applies_at_once(
    netns, helper_thread, watched, program
):
    helper = start(helper_thread, watched, default_action="allow")
    with recorder(netns.peer, (netns.peer_v4,), PORT) as servers:
        assert connects(netns, watched, program, 2) == ["connected"] * 2
        helper.call(lambda h: h.settings.update({"default_action": "deny"}))
        assert connects(netns, watched, program, 1) == ["ECONNREFUSED"]
        assert servers.tcp_accepts == 2
    assert kernel_decided(helper) == 0


def test_a_blocklisted_flow_is_never_cached_so_a_list_update_applies_at_once(
    netns, helper_thread, watched, program
):
    helper = start(helper_thread, watched, default_action="allow")
    with recorder(netns.peer, (netns.peer_v4,), PORT) as servers:
        helper.call(lambda h: h.rule_book.set_blocklist(matcher_of(netns.peer_v4 + "/32")))
        assert connects(netns, watched, program, 2) == ["ECONNREFUSED"] * 2
        helper.call(lambda h: h.rule_book.set_blocklist(matcher_of("198.51.100.0/24")))
        assert connects(netns, watched, program, 1) == ["connected"]
        assert servers.tcp_accepts == 1
    assert kernel_decided(helper) == 0


def test_turned_off_every_flow_goes_through_the_queue(netns, helper_thread, watched, program):
    helper = start(helper_thread, watched, default_action="deny")
    add_rule(helper, action="allow", exe=program)
    helper.call(lambda h: h.settings.update({"kernel_verdicts": False}))
    status = helper.call(lambda h: h.kernel_verdicts.status)
    assert (status.on, status.reason) == (False, "turned off in the settings")
    with recorder(netns.peer, (netns.peer_v4,), PORT) as servers:
        assert connects(netns, watched, program, 3) == ["connected"] * 3
        assert servers.tcp_accepts == 3
    assert kernel_decided(helper) == 0


def test_turned_off_then_on_no_verdict_of_before_comes_back(netns, helper_thread, watched, program):
    helper = start(helper_thread, watched, default_action="deny")
    rule_id = add_rule(helper, action="allow", exe=program)
    with recorder(netns.peer, (netns.peer_v4,), PORT) as servers:
        assert connects(netns, watched, program, 2) == ["connected"] * 2
        helper.call(lambda h: h.rule_book.replace_rule(rule_id, Rule(action="deny", exe=program)))
        helper.call(lambda h: h.settings.update({"kernel_verdicts": False}))
        helper.call(lambda h: h.settings.update({"kernel_verdicts": True}))
        assert connects(netns, watched, program, 1) == ["ECONNREFUSED"]
        assert servers.tcp_accepts == 2


def test_a_flow_of_a_process_gone_before_it_was_read_is_never_cached(
    netns, helper_thread, watched, program
):
    """Of a gone process only the kernel's record is known (no unit, Flatpak or hash): a
    verdict decided on that is not one to apply to the program's live processes."""
    helper = start(helper_thread, watched, default_action="allow")
    add_rule(helper, action="deny", exe=program)
    gone = ("import os, socket, sys\n"
            "s = socket.socket(); s.setblocking(False); s.connect_ex((sys.argv[1], 8080))\n"
            "os._exit(0)")  # fmt: skip

    def sent_and_gone(_h):  # the loop waits until the sender has exited
        start_in(netns, watched, program, "-c", gone, netns.peer_v4).communicate(timeout=20)

    seen = decisions(helper)
    helper.call(sent_and_gone, timeout=30)
    wait_for(lambda: seen, 10, "the gone process's flow to be decided")
    assert seen[0][3:] == ("deny", "rule")
    # the next connect of a live process of the program goes through the queue
    assert connects(netns, watched, program, 1) == ["ECONNREFUSED"]
    assert kernel_decided(helper) == 0


def test_without_the_data_plane_kernel_verdicts_are_off_and_say_why(
    netns, helper_thread, watched, tmp_path
):
    missing = tmp_path / "missing.bpf.o"
    helper = helper_thread(prompter=False, bpf_cgroup=watched, bpf_object=missing)
    status = helper.call(lambda h: h.kernel_verdicts.status)
    assert not status.on and status.reason.startswith("no eBPF data plane")
    assert str(missing) in status.reason
