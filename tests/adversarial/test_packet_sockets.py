"""A program that sends frames on a packet socket is noticed, named, and can be stopped.

Frames on an AF_PACKET socket pass below netfilter: no rule sees them. The helper lists
packet sockets twice a second and raises an alert naming the program (path, pid, user)
while it still runs; blocking the alert refuses every further connection of that binary,
trusting it ends the alerts for it.
"""

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from netwarden_helper.pinning.alerts import BLOCKED, OPEN, PACKET_SOCKET, TRUSTED, Alert
from tests.fixtures.frames import FRAME_SENDER, PYTHON, frame_sender
from tests.fixtures.traffic import run_client

PORT = 8470


def packet_alerts(thread) -> list[Alert]:
    return [a for a in thread.call(lambda h: h.pins.alerts()) if a.kind == PACKET_SOCKET]


def wait_for_alert(thread, sender: subprocess.Popen, timeout: float = 5) -> Alert:
    deadline = time.monotonic() + timeout
    while not (found := packet_alerts(thread)):
        assert time.monotonic() < deadline, "no packet socket alert"
        time.sleep(0.05)
    assert sender.poll() is None, "the alert came only after the program had gone"
    return found[0]


@pytest.fixture
def listener(netns) -> Iterator[None]:
    with netns.peer.entered():
        server = socket.create_server((netns.peer_v4, PORT))
    server.settimeout(0.2)
    yield
    server.close()


def connects(netns) -> str:
    """Connect to the peer with the same binary as the frame sender."""
    return run_client(netns.host, "tcp", netns.peer_v4, PORT)["result"]


def test_a_packet_socket_raises_an_alert_naming_the_program(netns, helper_thread):
    thread = helper_thread(prompter=False)
    with frame_sender(netns, hold_s=5) as sender:
        alert = wait_for_alert(thread, sender)
    assert (alert.exe, alert.pid, alert.uid, alert.state) == (PYTHON, sender.pid, 0, OPEN)
    assert alert.new_sha256 and alert.facts.size == os.stat(PYTHON).st_size


def test_blocking_it_refuses_the_programs_further_connections(netns, helper_thread, listener):
    thread = helper_thread(prompter=False)
    assert connects(netns) == "connected"
    with frame_sender(netns, hold_s=5) as sender:
        alert = wait_for_alert(thread, sender)
    resolved = thread.call(lambda h: h.pins.resolve(alert.id, "block"))
    assert resolved.state == BLOCKED
    assert connects(netns) == "refused"


def test_a_trusted_program_is_not_alerted_again(netns, helper_thread, listener):
    thread = helper_thread(prompter=False)
    with frame_sender(netns, hold_s=5) as sender:
        alert = wait_for_alert(thread, sender)
    thread.call(lambda h: h.pins.resolve(alert.id, "trust"))
    with frame_sender(netns, hold_s=1.5):
        time.sleep(1.2)  # two and more looks at the packet sockets
    assert [(a.id, a.state) for a in packet_alerts(thread)] == [(alert.id, TRUSTED)]
    assert connects(netns) == "connected"


def test_a_deleted_binary_is_still_named_and_hashed(netns, helper_thread, tmp_path):
    """The hostile pattern: start a copy, delete it, then open the socket."""
    copy = tmp_path / "frames"
    shutil.copyfile(PYTHON, copy)
    copy.chmod(0o755)
    thread = helper_thread(prompter=False)
    script = (
        "import os, sys; os.unlink(sys.argv[1]); code = sys.argv[2]; "
        "sys.argv[1:] = ['5']; exec(code)"
    )
    sender = netns.host.popen(str(copy), "-c", script, str(copy), FRAME_SENDER,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert sender.stdout is not None and sender.stdout.readline().strip() == "sent"
        alert = wait_for_alert(thread, sender)
    finally:
        sender.kill()
        sender.wait()
    assert alert.exe == str(copy) and len(alert.new_sha256) == 64
