"""The unit's hardening, rated by `systemd-analyze security`, and the helper still doing
each of its jobs under it: hashing programs under /home, reading other users' /proc
entries, switching on conntrack accounting, writing its state, downloading blocklists
through its marked sockets."""

import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.booted.conftest import ALICE, PORT, UNIT, ctl
from tests.fixtures.booted import Machine
from tests.fixtures.netns import PEER_V4, Sandbox

HTTP_PORT = 8081
MAX_EXPOSURE = 3.0  # docs/hardening.md
NC = "/home/alice/bin/nc"  # a program in alice's private home folder
BLOCKLIST = b"0.0.0.0 tracker.example\n0.0.0.0 ads.example\n"


@pytest.fixture(scope="module")
def list_server(network: Sandbox) -> Iterator[list[str]]:
    """An HTTP server on the peer serving a hosts file; yields the paths requested."""
    requested: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            requested.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(BLOCKLIST)))
            self.end_headers()
            self.wfile.write(BLOCKLIST)

        def log_message(self, *args):
            pass

    with network.peer.entered():
        server = ThreadingHTTPServer((PEER_V4, HTTP_PORT), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield requested
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module", autouse=True)
def deny_unless_allowed(machine: Machine) -> None:
    """Unanswered connections denied, fail-closed: nothing passes that the helper did not
    allow, so every job below shows whether the helper could do it."""
    ctl(machine, "settings", "set", "fail_closed=true", "default_action=deny")


def test_the_exposure_score_is_at_most_3(machine):
    report = machine.run("systemd-analyze", "security", "--no-pager", UNIT).stdout
    score = float(re.search(rf"exposure level for {UNIT}: ([0-9.]+)", report)[1])
    print(f"systemd-analyze security: {score}")
    assert score <= MAX_EXPOSURE, report


def test_it_switches_on_conntrack_accounting(machine):
    # The machine's network namespace is new: the kernel's default is off.
    assert machine.run("sysctl", "-n", "net.netfilter.nf_conntrack_acct").stdout.strip() == "1"


def test_a_pinned_program_in_a_private_home_folder_is_hashed_and_attributed(machine, peer):
    machine.run("install", "-d", "-o", "alice", "-g", "alice", "-m", "0700", "/home/alice/bin")
    machine.run("install", "-o", "alice", "-m", "0755", "/usr/bin/nc.openbsd", NC)
    sha256 = hashlib.sha256(machine.path(NC).read_bytes()).hexdigest()
    alice = machine.login("alice")
    try:
        added = alice.run("netwardenctl", "rules", "add", "--action", "allow", "--exe", NC,
                          "--sha256", sha256, "--uid", "me", "--destination", PEER_V4)  # fmt: skip
        assert added.returncode == 0, added.stderr
        accepted = peer.tcp_accepts
        connect = alice.run(NC, "-z", "-w", "5", PEER_V4, str(PORT))
        assert connect.returncode == 0, "the pin matched: the helper read the file"
        assert peer.tcp_accepts == accepted + 1
        flows: list[dict] = []
        deadline = time.monotonic() + 10
        while not flows and time.monotonic() < deadline:  # history is written in batches
            time.sleep(0.5)
            flows = json.loads(alice.run("netwardenctl", "--json", "history", "--program",
                                         NC).stdout)["flows"]  # fmt: skip
        assert flows, "recorded"
        assert (flows[0]["exe"], flows[0]["uid"], flows[0]["sha256"]) == (NC, ALICE, sha256)
    finally:
        alice.close()


def test_its_state_survives_a_restart(machine):
    ctl(machine, "rules", "add", "--action", "deny", "--exe", "/usr/bin/wget", "--uid", "any",
        "--note", "kept")  # fmt: skip
    machine.run("systemctl", "restart", UNIT)
    rules = json.loads(ctl(machine, "--json", "rules", "list"))
    assert [rule["note"] for rule in rules if rule["exe"] == "/usr/bin/wget"] == ["kept"]
    assert json.loads(ctl(machine, "--json", "settings", "get"))["fail_closed"] is True
    assert machine.run("stat", "-c", "%a", "/var/lib/netwarden").stdout.strip() == "700"


def test_it_downloads_blocklists_through_its_own_sockets(machine, list_server):
    ctl(machine, "blocklists", "add", f"http://{PEER_V4}:{HTTP_PORT}/hosts.txt")
    lists: list[dict] = []
    deadline = time.monotonic() + 15
    while not (lists and lists[0]["accepted"]) and time.monotonic() < deadline:
        time.sleep(0.5)
        lists = json.loads(ctl(machine, "--json", "blocklists"))
    assert list_server == ["/hosts.txt"], "the download was not held: its socket was marked"
    assert (lists[0]["accepted"], lists[0]["domains"], lists[0]["error"]) == (2, 2, "")
