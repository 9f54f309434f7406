"""The eBPF data plane against the real kernel: programs that are gone before the helper
reads their packet are still attributed to their exact program and user, and their
rules hold. Each test attaches the programs to a cgroup of its own (never the machine's
root), moves its senders into it from outside `ip netns exec`, and removes it after.
Without the data plane (sock_diag and /proc), ping and raw sockets are attributed while
their program runs; with or without it, what the kernel sends by itself (a reset, an
ICMP error) is the kernel's."""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from netwarden_common.rules import KERNEL, Rule
from netwarden_helper.packet_path.held_flows import GAVE_UP_CHECK_S
from tests.fixtures.data_plane import CGROUP2, own_cgroup, own_program, start_in
from tests.fixtures.netns import Sandbox
from tests.fixtures.processes import wait_for
from tests.fixtures.senders import RAW_PROTOCOL
from tests.fixtures.traffic import CHECKOUT, arriving, as_user, recorder
from tests.fixtures.users import NOBODY

PORT = 8080
pytestmark = pytest.mark.skipif(CGROUP2 is None, reason="no cgroup2 hierarchy")

# Each sends and exits at once: the helper reads the queued packet after the process is gone.
UDP_ONCE = (
    "import socket, sys\n"
    "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', (sys.argv[1], 8080))"
)
TCP_ONCE = ("import os, socket, sys\n"
            "s = socket.socket(); s.setblocking(False); s.connect_ex((sys.argv[1], 8080))\n"
            "os._exit(0)")  # fmt: skip


@pytest.fixture
def watched() -> Iterator[Path]:
    with own_cgroup() as path:
        yield path


@pytest.fixture
def program() -> Iterator[str]:
    with own_program() as path:
        yield path


def run_in(netns, cgroup: Path, *argv: str, user: int | None = NOBODY,
           check: bool = True) -> list[int]:  # fmt: skip
    """Run `argv` (as `user`; None: as it says itself) inside `netns.host`, in `cgroup`
    (`start_in`); once it has exited, the pids it printed, one a line."""
    placed = start_in(netns, cgroup, *argv, user=user)
    printed, _ = placed.communicate(timeout=30)
    assert placed.returncode == 0 or not check, f"{argv} exited {placed.returncode}"
    return [int(line) for line in printed.split() if line.isdigit()]


def decisions(helper) -> list[tuple]:
    """Every flow the helper decides from now on: (flow, action, decided_by)."""
    seen: list[tuple] = []
    helper.call(lambda h: h.verdicts.decided.connect(
        lambda flow, _tuple, action, by, _rule: seen.append((flow, action, by))))  # fmt: skip
    return seen


@pytest.mark.parametrize(("action", "default", "arrived"), [("deny", "allow", 0),
                                                            ("allow", "deny", 1)])  # fmt: skip
def test_a_udp_sender_gone_at_once_is_its_program_and_its_rule_holds(
    netns, helper_thread, watched, program, action, default, arrived
):
    helper = helper_thread(prompter=False, default_action=default, bpf_cgroup=watched)
    assert helper.call(lambda h: h.attribution.mode) == "ebpf"
    helper.call(lambda h: h.rule_book.add_rule(Rule(action=action, exe=program)))
    seen = decisions(helper)
    with recorder(netns.peer, (netns.peer_v4,), PORT) as servers:
        # the helper's loop waits until the sender has exited: its packet is read after
        helper.call(lambda h: run_in(netns, watched, program, "-c", UDP_ONCE,
                                     netns.peer_v4), timeout=30)  # fmt: skip
        wait_for(lambda: seen and servers.udp_datagrams >= arrived, 10, "the verdict")
    flow, decided, by = seen[0]
    assert (flow.exe, flow.uid, decided, by) == (program, NOBODY, action, "rule")
    assert servers.udp_datagrams == arrived


def test_a_tcp_connect_from_a_process_gone_at_once_is_its_program(
    netns, helper_thread, watched, program
):
    helper = helper_thread(prompter=False, default_action="allow", bpf_cgroup=watched)
    helper.call(lambda h: h.rule_book.add_rule(Rule(action="deny", exe=program)))
    seen = decisions(helper)
    with recorder(netns.peer, (netns.peer_v4,), PORT) as servers:
        helper.call(lambda h: run_in(netns, watched, program, "-c", TCP_ONCE,
                                     netns.peer_v4), timeout=30)  # fmt: skip
        wait_for(lambda: seen, 10, "the flow to be decided")
    flow, decided, by = seen[0]
    assert (flow.exe, flow.uid, decided, by) == (program, NOBODY, "deny", "rule")
    assert servers.tcp_accepts == 0


def test_without_the_object_attribution_falls_back_to_proc(
    netns, helper_thread, watched, program, tmp_path
):
    missing = tmp_path / "missing.bpf.o"
    helper = helper_thread(prompter=False, default_action="allow", bpf_cgroup=watched,
                           bpf_object=missing)  # fmt: skip
    attribution = helper.call(lambda h: h.attribution)
    assert attribution.mode == "procfs" and str(missing) in attribution.reason
    helper.call(lambda h: h.rule_book.add_rule(Rule(action="deny", exe=program)))
    with recorder(netns.peer, (netns.peer_v4,), PORT) as servers:
        client = netns.host.popen(program, "-m", "tests.fixtures.client", "tcp",
                                  netns.peer_v4, str(PORT), cwd=CHECKOUT,
                                  stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert json.loads(client.communicate(timeout=20)[0])["result"] == "refused"
    assert servers.tcp_accepts == 0


SENDERS = "tests.fixtures.senders"
BURST = 16
RAW_CAPABLE = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
               "--inh-caps=+net_raw", "--ambient-caps=+net_raw"]  # fmt: skip
# In a mount namespace of its own: a tmpfs over `folder` (empty from here), the program
# copied into it and run from there.
IN_OWN_MOUNTS = (
    'mount -t tmpfs -o mode=0755 tmpfs "$1" && cp "$2" "$1/sender" && shift 2 && exec "$@"'
)


@dataclass(frozen=True)
class Case:
    """A sender, gone before the helper reads its packets: what it runs (as whom), the
    program the rules name, and what reaches the peer when it is allowed."""

    command: Callable[[Sandbox, str, Path], tuple[list[str], str]]  # (argv, exe)
    reaching: int
    counted: str = "udp"  # "udp" datagrams, ICMP "echo" requests, "raw" IP packets
    user: int | None = NOBODY  # None: the command switches user itself


def _udp6(net: Sandbox, program: str, _folder: Path) -> tuple[list[str], str]:
    return [program, "-m", SENDERS, "udp", net.peer_v6, str(PORT)], program


def _sendmmsg(net: Sandbox, program: str, _folder: Path) -> tuple[list[str], str]:
    return [program, "-m", SENDERS, "sendmmsg", net.peer_v4, str(PORT)], program


def _burst(net: Sandbox, program: str, _folder: Path) -> tuple[list[str], str]:
    each = f'"$0" -m {SENDERS} udp {net.peer_v4} {PORT}'
    return ["sh", "-c", f"for i in $(seq {BURST}); do {each} & done; wait", program], program


def _ping(net: Sandbox, _program: str, _folder: Path) -> tuple[list[str], str]:
    ping = os.path.realpath(shutil.which("ping") or "ping")
    return ["sh", "-c", 'echo $$ && exec "$@"', "ping",
            ping, "-n", "-c", "1", "-W", "1", net.peer_v4], ping  # fmt: skip


def _raw(net: Sandbox, program: str, _folder: Path) -> tuple[list[str], str]:
    return [*RAW_CAPABLE, program, "-m", SENDERS, "raw", net.peer_v4, "0", "--hold"], program


def _raw_icmp(net: Sandbox, program: str, _folder: Path) -> tuple[list[str], str]:
    return [*RAW_CAPABLE, program, "-m", SENDERS, "raw-icmp", net.peer_v4, str(PORT),
            "--hold"], program  # fmt: skip


def _deleted(net: Sandbox, program: str, folder: Path) -> tuple[list[str], str]:
    """A copy of the program in a folder its user may write: it deletes itself, then sends."""
    copy = folder / "deleted-sender"
    shutil.copy(program, copy)
    return [str(copy), "-m", SENDERS, "deleted", net.peer_v4, str(PORT)], str(copy)


def _own_mounts(net: Sandbox, program: str, folder: Path) -> tuple[list[str], str]:
    exe = f"{folder}/sender"
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", IN_OWN_MOUNTS,
            "mounts", str(folder), program, *as_user(NOBODY), exe, "-m", SENDERS, "udp",
            net.peer_v4, str(PORT)], exe  # fmt: skip


CASES = {
    "udp6-closed-at-once": Case(_udp6, 1),
    "sendmmsg": Case(_sendmmsg, 8),
    "burst-of-processes": Case(_burst, BURST),
    "ping": Case(_ping, 1, counted="echo"),
    "raw-ip-socket": Case(_raw, 1, counted="raw", user=None),
    "raw-icmp-socket": Case(_raw_icmp, 1, counted="echo", user=None),
    "deleted-executable": Case(_deleted, 1),
    "own-mount-namespace": Case(_own_mounts, 1, user=None),
}


@pytest.fixture
def folder() -> Iterator[Path]:
    """A folder of the test's own that user nobody may write in."""
    path = Path(tempfile.mkdtemp(prefix="netwarden-senders-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path)


def echo_request(packet: bytes) -> bool:
    return packet[(packet[0] & 0xF) * 4] == 8  # the ICMP type, past the IP header


@contextlib.contextmanager
def peer_counter(net: Sandbox, counted: str) -> Iterator[Callable[[], int]]:
    """What reaches the peer of the kind `counted`, counted while the block runs."""
    if counted == "udp":
        with recorder(net.peer, (net.peer_v4, net.peer_v6), PORT) as servers:
            yield lambda: servers.udp_datagrams
    elif counted == "echo":
        with arriving(net.peer, socket.IPPROTO_ICMP, echo_request) as requests:
            yield lambda: len(requests)
    else:
        with arriving(net.peer, RAW_PROTOCOL) as packets:
            yield lambda: len(packets)


def started(netns, helper_thread, action: str, exe: str, **options: object):
    """A helper for the test of `action`: "ask" (a prompt agent, no rule), "deny" (a deny
    rule for `exe`, allow by default) or "allow" (an allow rule, deny by default); and
    the list of the flows it decides."""
    netns.host.run("sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647")  # ping as nobody
    helper = helper_thread(
        prompter=action == "ask", default_action="allow" if action == "deny" else "deny", **options
    )
    if action != "ask":
        helper.call(lambda h: h.rule_book.add_rule(Rule(action=action, exe=exe)))
    return helper, decisions(helper)


@pytest.mark.parametrize("action", ["ask", "deny", "allow"])
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_sender_gone_before_its_packets_are_read_is_its_program_and_its_rule_holds(
    netns, helper_thread, watched, program, folder, case, action
):
    """Asked: the prompt names its program, user and pid. A deny rule for the program:
    nothing reaches the peer. An allow rule under default deny: everything does."""
    argv, exe = case.command(netns, program, folder)
    helper, seen = started(netns, helper_thread, action, exe, bpf_cgroup=watched)
    with peer_counter(netns, case.counted) as reached:
        # the helper's loop waits until the sender has exited: its packets are read after
        pids = helper.call(lambda h: run_in(netns, watched, *argv, user=case.user,
                                            check=case.counted != "echo"), timeout=60)  # fmt: skip
        assert pids, "the sender ran"
        if action == "ask":
            prompt = helper.wait_for_prompt()
            assert (prompt.flow.exe, prompt.flow.uid) == (exe, NOBODY)
            assert prompt.process is not None and prompt.process.pid in pids
            assert reached() == 0, "held for the answer"
            return
        arriving = case.reaching if action == "allow" else 0
        wait_for(lambda: len(seen) >= case.reaching and reached() >= arriving, 20,
                 "every packet decided")  # fmt: skip
    assert {(flow.exe, flow.uid, decided, by) for flow, decided, by in seen} == {
        (exe, NOBODY, action, "rule")
    }
    assert reached() == arriving


FALLBACK = ("ping", "raw-ip-socket", "raw-icmp-socket")


@pytest.mark.parametrize("action", ["ask", "deny", "allow"])
@pytest.mark.parametrize("name", FALLBACK)
def test_without_bpf_ping_and_raw_sockets_are_their_program_and_their_rule_holds(
    netns, helper_thread, program, folder, name, action
):
    """With the data plane disabled, a ping socket (by its echo identifier) and a raw
    socket (raw_diag) are found while their program runs, and their rules hold."""
    case = CASES[name]
    argv, exe = case.command(netns, program, folder)
    helper, seen = started(netns, helper_thread, action, exe)
    assert helper.call(lambda h: h.attribution.mode) == "procfs"
    with peer_counter(netns, case.counted) as reached:
        sender = netns.host.popen(
            *as_user(case.user),
            *argv,
            cwd=CHECKOUT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            if action == "ask":
                prompt = helper.wait_for_prompt()
            else:
                arriving = case.reaching if action == "allow" else 0
                wait_for(lambda: seen and reached() >= arriving, 20, "the flow decided")
        finally:
            printed, _ = sender.communicate("", timeout=20)  # raw senders: close now
    pids = [int(line) for line in printed.split() if line.isdigit()]
    if action == "ask":
        assert (prompt.flow.exe, prompt.flow.uid) == (exe, NOBODY)
        assert prompt.process is not None and prompt.process.pid in pids
        return
    assert {(flow.exe, flow.uid, decided, by) for flow, decided, by in seen} == {
        (exe, NOBODY, action, "rule")
    }
    assert reached() == arriving


CLOSED_PORT = 9  # nothing listens there on the host


def _provoke(net: Sandbox, kind: str) -> None:
    """From the peer, what makes the host's kernel answer by itself: a TCP connect to a
    closed port (a reset), a UDP datagram to one (ICMP port unreachable)."""
    with net.peer.entered():
        sock_type = socket.SOCK_STREAM if kind == "tcp-reset" else socket.SOCK_DGRAM
        with socket.socket(socket.AF_INET, sock_type) as sock:
            sock.settimeout(1)
            if kind == "tcp-reset":
                sock.connect_ex((net.host_v4, CLOSED_PORT))
            else:
                sock.sendto(b"x", (net.host_v4, CLOSED_PORT))


def _kernel_answer(kind: str) -> Callable[[bytes], bool]:
    """Whether a packet (IPv4, TCP or ICMP) is the kernel's answer of that kind."""
    if kind == "tcp-reset":
        return lambda packet: bool(packet[(packet[0] & 0xF) * 4 + 13] & 0x04)
    return lambda packet: packet[(packet[0] & 0xF) * 4] == 3  # destination unreachable


@pytest.mark.parametrize("action", ["ask", "deny", "allow"])
@pytest.mark.parametrize("plane", ["ebpf", "procfs"])
@pytest.mark.parametrize("kind", ["tcp-reset", "icmp-error"])
def test_what_the_kernel_sends_by_itself_is_the_kernels_and_its_rule_holds(
    netns, helper_thread, watched, kind, plane, action
):
    """A reset or an ICMP error no socket sent (queued: conntrack does not track what it
    answers) is the kernel's: asked, the prompt names the kernel and never says it gave up
    waiting; a rule for the kernel decides it."""
    protocol = socket.IPPROTO_TCP if kind == "tcp-reset" else socket.IPPROTO_UDP
    # the peer's packet untracked, so the answer belongs to no connection: queued
    netns.host.run("iptables", "-t", "raw", "-A", "PREROUTING", "-p", str(protocol), "--dport",
                   str(CLOSED_PORT), "-j", "CT", "--notrack")  # fmt: skip
    options = {"bpf_cgroup": watched} if plane == "ebpf" else {}
    helper, seen = started(netns, helper_thread, action, KERNEL, **options)
    assert helper.call(lambda h: h.attribution.mode) == plane
    answered = socket.IPPROTO_TCP if kind == "tcp-reset" else socket.IPPROTO_ICMP
    with arriving(netns.peer, answered, _kernel_answer(kind)) as answers:
        _provoke(netns, kind)
        if action == "ask":
            prompt = helper.wait_for_prompt()
            time.sleep(2 * GAVE_UP_CHECK_S)  # a program's closed socket is noticed by now
            prompt = helper.call(lambda h: h.held_flows.pending_prompts())[0]
            assert (prompt.flow.exe, prompt.flow.uid, prompt.gave_up) == (KERNEL, -1, False)
            assert answers == [], "held for the answer"
            return
        wait_for(lambda: seen, 10, "the kernel's answer decided")
        if action == "allow":
            wait_for(lambda: answers, 10, "the answer at the peer")
        else:
            time.sleep(0.3)  # would have arrived by now
    flow, decided, by = seen[0]
    assert (flow.exe, flow.uid, flow.dst, decided, by) == (KERNEL, -1, netns.peer_v4, action,
                                                           "rule")  # fmt: skip
    assert len(answers) == (1 if action == "allow" else 0)
