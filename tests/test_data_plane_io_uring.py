"""A socket io_uring made as a direct descriptor, against the real kernel and helper: made
by IORING_OP_SOCKET into the ring's fixed files, it is in no file table, so no
/proc/PID/fd shows it (tests/fixtures/io_uring.py checks so). The data plane records it
at its creation like any other, so its flows are its program's, user's and pid's and its
rules hold, whether the operations run in the submitting system call, in the ring's
io-wq worker or in its submission thread (SQPOLL): threads of the submitting process.
Without the data plane its flows are an unknown program's: a rule for the program does
not hold. Each test attaches the programs to a cgroup of its own; the sender runs there
in the sandbox's host namespace, holding its socket until the test is done with it."""

import contextlib
import platform
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from netwarden_helper.data_plane.records import SocketOwner
from netwarden_helper.packet_path.packet import Packet
from tests.fixtures.data_plane import CGROUP2, own_cgroup, own_program, start_in
from tests.fixtures.netns import Sandbox
from tests.fixtures.processes import wait_for
from tests.fixtures.traffic import recorder
from tests.fixtures.users import NOBODY
from tests.test_data_plane import run_in, started

PORT = 8080
SENDER = "tests.fixtures.io_uring"
KINDS = ("udp", "tcp")
# SQPOLL: the fixture publishes an entry with plain stores, in order only on x86 (TSO)
SQPOLL = {"sqpoll": ("--sqpoll",)} if platform.machine() in ("x86_64", "i686") else {}
SUBMISSIONS = {"inline": (), "io-wq": ("--async",), **SQPOLL}
IO_THREADS = {"io-wq": "iou-wrk-", "sqpoll": "iou-sqp-"}  # what the kernel names them
pytestmark = pytest.mark.skipif(CGROUP2 is None, reason="no cgroup2 hierarchy")


@pytest.fixture
def cgroup_and_program() -> Iterator[tuple[Path, str]]:
    """A cgroup of the test's own to attach the programs to, and the sender's program (a
    copy of python3)."""
    with own_cgroup() as cgroup, own_program("io-uring-sender") as program:
        yield cgroup, program


@contextlib.contextmanager
def sending(net: Sandbox, cgroup: Path, program: str, kind: str,
            *options: str) -> Iterator[int]:  # fmt: skip
    """`program` running the io_uring sender of `kind` to the peer, as nobody in `cgroup`:
    its pid while the block runs (it holds its socket); once its input is closed, it must
    have exited cleanly (so its socket was in no file table)."""
    sender = start_in(net, cgroup, program, "-m", SENDER, kind, net.peer_v4, str(PORT), *options,
                      keep_stdin=True)  # fmt: skip
    assert sender.stdout is not None
    try:
        yield int(sender.stdout.readline())
    finally:
        sender.communicate(timeout=20)
    assert sender.returncode == 0, "the sender failed, or found its socket in /proc/self/fd"


@contextlib.contextmanager
def reaching(net: Sandbox, kind: str) -> Iterator[Callable[[], int]]:
    """How many of the sender's datagrams (udp) or connections (tcp) reached the peer."""
    with recorder(net.peer, (net.peer_v4,), PORT) as servers:
        yield lambda: servers.udp_datagrams if kind == "udp" else servers.tcp_accepts


def tuples(helper) -> list[tuple]:
    """The 5-tuple of every flow the helper decides from now on."""
    seen: list[tuple] = []
    helper.call(lambda h: h.verdicts.decided.connect(
        lambda _flow, five_tuple, *_rest: seen.append(five_tuple)))  # fmt: skip
    return seen


def kernel_record(helper, five_tuple: tuple) -> SocketOwner:
    """The data plane's record of the flow `five_tuple`'s socket owner."""
    protocol, src, sport, dst, dport = five_tuple
    packet = Packet(4, protocol, src, dst, sport, dport)
    recorded = helper.call(lambda h: h.data_plane.owner(packet))
    assert recorded is not None, f"no record for {five_tuple}"
    return recorded


def thread_name(pid: int, tid: int) -> str | None:
    """The name of thread `tid` of process `pid`; None once it is gone (an io-wq worker
    exits after 5 s idle)."""
    try:
        return Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
    except FileNotFoundError:
        return None


@pytest.mark.parametrize("action", ["ask", "deny", "allow"])
@pytest.mark.parametrize("submission", SUBMISSIONS)
@pytest.mark.parametrize("kind", KINDS)
def test_an_io_uring_socket_is_its_program_and_its_rule_holds(
    netns, helper_thread, cgroup_and_program, kind, submission, action
):
    """Asked: the prompt names its program, user and pid. A deny rule for the program:
    nothing reaches the peer; an allow rule under default deny: it does. The kernel's
    record names the sender's pid and name, and the thread that ran the operation: the
    sender itself inline, else the ring's thread in the sender (`iou-wrk-…`, `iou-sqp-…`)."""
    watched, program = cgroup_and_program
    helper, seen = started(netns, helper_thread, action, program, bpf_cgroup=watched)
    assert helper.call(lambda h: h.attribution.mode) == "ebpf"
    decided = tuples(helper)
    with reaching(netns, kind) as reached, sending(netns, watched, program, kind,
                                                   *SUBMISSIONS[submission]) as pid:  # fmt: skip
        if action == "ask":
            prompt = helper.wait_for_prompt()
            assert (prompt.flow.exe, prompt.flow.uid) == (program, NOBODY)
            assert prompt.process is not None and prompt.process.pid == pid
            assert reached() == 0, "held for the answer"
            return
        arriving = 1 if action == "allow" else 0
        wait_for(lambda: seen and reached() >= arriving, 20, "the flow decided")
        recorded = kernel_record(helper, decided[0])
        thread = thread_name(pid, recorded.pid)
    assert {(flow.exe, flow.uid, verdict, by) for flow, verdict, by in seen} == {
        (program, NOBODY, action, "rule")
    }
    assert reached() == arriving
    assert (recorded.tgid, recorded.uid, recorded.socket_uid) == (pid, NOBODY, NOBODY)
    assert recorded.comm == Path(program).name, "the process's name, not its thread's"
    if submission == "inline":
        assert recorded.pid == pid
    else:
        assert recorded.pid != pid
        gone = thread is None and submission == "io-wq"
        assert gone or (thread or "").startswith(IO_THREADS[submission]), thread


@pytest.mark.parametrize("kind", KINDS)
def test_without_the_data_plane_an_io_uring_socket_is_an_unknown_program(
    netns, helper_thread, cgroup_and_program, kind, tmp_path
):
    """No /proc/PID/fd holds the socket: while its program still runs, its flow is an
    unknown program's (the user from sock_diag), which a deny rule for the program does
    not match; the default action (allow) decides it."""
    watched, program = cgroup_and_program
    helper, seen = started(netns, helper_thread, "deny", program,
                           bpf_cgroup=watched, bpf_object=tmp_path / "missing.bpf.o")  # fmt: skip
    assert helper.call(lambda h: h.attribution.mode) == "procfs"
    with reaching(netns, kind) as reached, sending(netns, watched, program, kind):
        wait_for(lambda: seen and reached() >= 1, 20, "the flow decided")
    assert [(flow.exe, flow.uid, verdict, by) for flow, verdict, by in seen] == [
        ("", NOBODY, "allow", "default")
    ]
    assert reached() == 1


@pytest.mark.parametrize("submission", SUBMISSIONS)
def test_an_io_uring_sender_gone_before_its_datagram_is_read_is_its_program(
    netns, helper_thread, cgroup_and_program, submission
):
    """The helper reads the datagram once the sender has exited: the flow is what the
    kernel recorded (its executable found by the thread that made the socket), and the
    deny rule for the program holds."""
    watched, program = cgroup_and_program
    helper, seen = started(netns, helper_thread, "deny", program, bpf_cgroup=watched)
    argv = (program, "-m", SENDER, "udp", netns.peer_v4, str(PORT), *SUBMISSIONS[submission])
    with reaching(netns, "udp") as reached:
        helper.call(lambda h: run_in(netns, watched, *argv), timeout=30)
        wait_for(lambda: seen, 20, "the flow decided")
    assert [(flow.exe, flow.uid, flow.complete, verdict, by) for flow, verdict, by in seen] == [
        (program, NOBODY, False, "deny", "rule")
    ]
    assert reached() == 0
