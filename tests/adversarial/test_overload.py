"""A flood the helper cannot keep up with fails the way the user chose.

The helper is stopped (SIGSTOP: as stuck as a helper can be) with a small queue, and 300
new UDP flows are sent. With fail-open, the kernel lets what does not fit through; with
fail-closed it drops it. Before the queue was told its fail mode, both dropped: an
overloaded helper cut the machine off whatever the setting.
"""

import os
import signal
import socket
import time

import pytest

from netwarden_common.api import ACTION_SETTINGS
from netwarden_common.dbus_values import dictionary
from tests.fixtures.api import ApiClient
from tests.fixtures.helper import running_helper
from tests.fixtures.traffic import recorder

PORT = 8080
FLOWS = 300
QUEUE = 64


def flood(netns) -> None:
    """FLOWS new UDP flows (one socket, one datagram each), from the host namespace."""
    with netns.host.entered():
        senders = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(FLOWS)]
    for sender in senders:
        sender.sendto(b"flood", (netns.peer_v4, PORT))
        sender.close()


@pytest.mark.parametrize("fail_closed", [False, True], ids=["fail-open", "fail-closed"])
def test_a_stuck_helper_fails_as_the_user_chose(system_bus, polkitd, netns, tmp_path, fail_closed):
    polkitd(grant=[ACTION_SETTINGS])
    state = tmp_path / "state"
    with running_helper(system_bus, netns.host, state, f"--queue-length={QUEUE}") as helper:
        root = ApiClient(system_bus, 0)
        root.call("AddRule", dictionary({"action": "allow"}))  # every flow, once decided
        root.call("SetSettings", dictionary({"fail_closed": fail_closed}))
        root.close()
        with recorder(netns.peer, (netns.peer_v4,), PORT) as servers:
            os.kill(helper.pid, signal.SIGSTOP)
            try:
                flood(netns)
                time.sleep(1)
                through_while_stuck = servers.udp_datagrams
            finally:
                os.kill(helper.pid, signal.SIGCONT)
    if fail_closed:
        assert through_while_stuck == 0
    else:  # all but what the queue and its socket hold got through
        assert through_while_stuck >= FLOWS - 2 * QUEUE, through_while_stuck
