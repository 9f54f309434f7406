"""A socket handed to another program over a unix socket (SCM_RIGHTS) is that program's
when it sends, against the real kernel: the data plane records whoever uses a socket, not
only whoever made it, even when both are gone before the helper reads the packet."""

from collections.abc import Iterator

import pytest

from netwarden_common.rules import Rule
from tests.fixtures.data_plane import CGROUP2, own_cgroup, own_program, start_in
from tests.fixtures.processes import wait_for
from tests.fixtures.traffic import recorder
from tests.fixtures.users import NOBODY

PORT = 8080
pytestmark = pytest.mark.skipif(CGROUP2 is None, reason="no cgroup2 hierarchy")

# argv: the taker program, the peer's address. Makes a UDP socket, starts the taker with
# one end of a unix socket pair, hands the UDP socket over, and exits without sending.
GIVER = """\
import socket, subprocess, sys
mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
taker = subprocess.Popen([sys.argv[1], "-c", sys.argv[2], str(theirs.fileno()), sys.argv[3]],
                         pass_fds=(theirs.fileno(),))
socket.send_fds(mine, [b"x"], [udp.fileno()])
sys.exit(taker.wait())
"""
# argv: the unix socket's fd, the peer's address: receives the socket, sends one datagram
TAKER = """\
import socket, sys
unix = socket.socket(fileno=int(sys.argv[1]))
_message, fds, _flags, _address = socket.recv_fds(unix, 16, 1)
socket.socket(fileno=fds[0]).sendto(b"x", (sys.argv[2], 8080))
"""


@pytest.fixture
def watched() -> Iterator:
    with own_cgroup() as path:
        yield path


@pytest.mark.parametrize(("action", "default", "arrived"), [("deny", "allow", 0),
                                                            ("allow", "deny", 1)])  # fmt: skip
def test_a_socket_handed_over_is_the_program_that_sends_on_it(
    netns, helper_thread, watched, action, default, arrived
):
    helper = helper_thread(prompter=False, default_action=default, bpf_cgroup=watched)
    seen: list[tuple] = []
    helper.call(lambda h: h.verdicts.decided.connect(
        lambda flow, _tuple, verdict, by, _rule: seen.append((flow.exe, flow.uid, verdict,
                                                               by))))  # fmt: skip
    with (own_program("giver") as giver, own_program("taker") as taker,
          recorder(netns.peer, (netns.peer_v4,), PORT) as servers):  # fmt: skip
        helper.call(lambda h: h.rule_book.add_rule(Rule(action=action, exe=taker)))

        def handed_over(_h):  # the loop waits until both have exited
            process = start_in(netns, watched, giver, "-c", GIVER, taker, TAKER, netns.peer_v4)
            process.communicate(timeout=20)
            assert process.returncode == 0

        helper.call(handed_over, timeout=30)
        wait_for(lambda: seen and servers.udp_datagrams >= arrived, 10, "the verdict")
    assert seen[0] == (taker, NOBODY, action, "rule")
    assert servers.udp_datagrams == arrived
