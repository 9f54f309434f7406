"""Packets from a socket the kernel made for itself, against the real kernel and helper: a
VXLAN device wraps each frame it sends in UDP to port 4789 of its remote end, from the
tunnel's own socket. With the data plane such a flow is the kernel's (not that of the
program whose datagram it wraps), shown and ruled like its resets and ICMP errors (a rule
for `kernel` holds); without it no process can be found for it: an unknown program, which
only the default action decides."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from netwarden_common.rules import KERNEL, Rule
from netwarden_helper.packet_path.held_flows import GAVE_UP_CHECK_S
from tests.fixtures.data_plane import CGROUP2, own_cgroup, own_program
from tests.fixtures.netns import Sandbox
from tests.fixtures.processes import wait_for
from tests.fixtures.traffic import recorder
from tests.fixtures.users import NOBODY
from tests.test_data_plane import UDP_ONCE, decisions, run_in

VXLAN_PORT = 4789
# vx0's subnet (a documentation range); the tunnel's far end is the peer's address
INNER_HOST, INNER_PEER = "198.51.100.1", "198.51.100.2"
pytestmark = pytest.mark.skipif(CGROUP2 is None, reason="no cgroup2 hierarchy")


@pytest.fixture
def sender() -> Iterator[tuple[Path, str]]:
    """A cgroup of the test's own, watched by the data plane, and a program to run there."""
    with own_cgroup() as cgroup, own_program() as program:
        yield cgroup, program


def add_tunnel(net: Sandbox) -> None:
    """vx0 in the host namespace, tunnelled over the veth to the peer's address; INNER_PEER
    a fixed neighbour on it, so a datagram there is wrapped at once (no ARP first). No IPv6
    on it: nothing of the kernel's own (router solicitations) goes through it unasked. It
    goes with the namespace."""
    net.host.run("ip", "link", "add", "vx0", "type", "vxlan", "id", "42", "remote", net.peer_v4,
                 "dstport", str(VXLAN_PORT), "dev", "nw0")  # fmt: skip
    net.host.run("sysctl", "-qw", "net.ipv6.conf.vx0.disable_ipv6=1")
    net.host.run("ip", "addr", "add", f"{INNER_HOST}/24", "dev", "vx0")
    net.host.run("ip", "neigh", "add", INNER_PEER, "lladdr", "02:00:00:00:00:02", "dev", "vx0",
                 "nud", "permanent")  # fmt: skip
    net.host.run("ip", "link", "set", "vx0", "up")


def to_the_tunnel(net: Sandbox, action: str) -> Rule:
    """A rule for the kernel's flows to the tunnel's far end."""
    return Rule(action=action, exe=KERNEL, destination=net.peer_v4, ports=str(VXLAN_PORT),
                protocol="udp")  # fmt: skip


def started(netns, helper_thread, action: str, **options: object):
    """A helper for the test of `action` ("ask": a prompt agent and no rule for the
    kernel; "deny" under default allow; "allow" under default deny), the datagram inside
    the tunnel allowed by a rule; and the flows it decides."""
    helper = helper_thread(
        prompter=action == "ask", default_action="allow" if action == "deny" else "deny", **options
    )
    helper.call(lambda h: h.rule_book.add_rule(Rule(action="allow", destination=INNER_PEER)))
    if action != "ask":
        helper.call(lambda h: h.rule_book.add_rule(to_the_tunnel(netns, action)))
    return helper, decisions(helper)


@pytest.mark.parametrize("action", ["ask", "deny", "allow"])
def test_a_tunnels_packets_are_the_kernels_and_its_rule_holds(netns, helper_thread, sender, action):
    """The datagram a watched program sends into the tunnel is its own; the tunnel's packet
    that carries it is the kernel's. Asked: the prompt names the kernel, with no user, and
    never says it gave up. A deny rule for the kernel: nothing reaches the tunnel's far end;
    an allow rule under default deny: the datagram does."""
    watched, program = sender
    add_tunnel(netns)
    helper, seen = started(netns, helper_thread, action, bpf_cgroup=watched)
    assert helper.call(lambda h: h.attribution.mode) == "ebpf"
    with recorder(netns.peer, (netns.peer_v4,), VXLAN_PORT) as far_end:
        run_in(netns, watched, program, "-c", UDP_ONCE, INNER_PEER)
        if action == "ask":
            helper.wait_for_prompt()
            time.sleep(2 * GAVE_UP_CHECK_S)  # a program's closed socket is noticed by now
            prompt = helper.call(lambda h: h.held_flows.pending_prompts())[0]
            assert (prompt.flow.exe, prompt.flow.uid, prompt.flow.dst, prompt.flow.dport,
                    prompt.gave_up) == (KERNEL, -1, netns.peer_v4, VXLAN_PORT, False)  # fmt: skip
            assert far_end.udp_datagrams == 0, "held for the answer"
            return
        arrived = 1 if action == "allow" else 0
        wait_for(lambda: len(seen) == 2 and far_end.udp_datagrams >= arrived, 10,
                 "both flows decided")  # fmt: skip
        time.sleep(0.3)  # a datagram let through would have arrived by now
    inner, outer = seen
    assert (inner[0].exe, inner[0].uid, inner[0].dst, inner[1:]) == (
        program, NOBODY, INNER_PEER, ("allow", "rule"))  # fmt: skip
    flow, decided, by = outer
    assert (flow.exe, flow.uid, flow.dst, flow.dport, flow.protocol, decided, by) == (
        KERNEL, -1, netns.peer_v4, VXLAN_PORT, "udp", action, "rule")  # fmt: skip
    assert far_end.udp_datagrams == arrived
    assert helper.call(lambda h: h.status().get("unattributed", 0)) == 0, "named: the kernel"


def test_without_the_data_plane_a_tunnels_packets_are_unknown(netns, helper_thread):
    """sock_diag and /proc find no process for the tunnel's socket: its flow is an unknown
    program's, and the default action (here allow) decides it, not a rule for the kernel."""
    add_tunnel(netns)
    helper, seen = started(netns, helper_thread, "deny")
    assert helper.call(lambda h: h.attribution.mode) == "procfs"
    with recorder(netns.peer, (netns.peer_v4,), VXLAN_PORT) as far_end:
        netns.host.run("python3", "-c", UDP_ONCE, INNER_PEER)
        wait_for(lambda: len(seen) == 2 and far_end.udp_datagrams, 10, "both flows decided")
    flow, decided, by = seen[1]
    assert (flow.exe, flow.uid, flow.dst, flow.dport, decided, by) == (
        "", -1, netns.peer_v4, VXLAN_PORT, "allow", "default")  # fmt: skip
    assert far_end.udp_datagrams == 1
    assert helper.call(lambda h: h.status()["unattributed"]) >= 1
