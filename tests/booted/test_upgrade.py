"""An upgrade over a running helper keeps the rules, settings and history, an established
connection and gives a held flow its verdict; a downgrade to a release that does not
know the database's schema is refused without touching it or restarting in a loop; a
purge leaves no netfilter rule, unit, state or polkit file behind. In file order: each
test starts where the one before left the machine."""

import json
import time
from collections.abc import Iterator

import pytest

from netwarden_helper.storage.store import SCHEMA_VERSION
from tests.booted.conftest import PORT, UNIT, ctl, helper_pid, wait_active
from tests.fixtures.booted import Machine
from tests.fixtures.netns import PEER_V4, Sandbox
from tests.fixtures.packaging import build_deb

NEXT = "0.1.0+upgrade1"
ECHO_PORT = 8082
DATABASE = "/var/lib/netwarden/netwarden.db"
LEFT_BEHIND = [
    f"/usr/lib/systemd/system/{UNIT}",
    f"/etc/systemd/system/multi-user.target.wants/{UNIT}",
    "/usr/share/polkit-1/actions/io.github.netwarden.policy",
    "/usr/share/dbus-1/system.d/io.github.netwarden.Helper1.conf",
    "/usr/share/dbus-1/system-services/io.github.netwarden.Helper1.service",
    "/var/lib/netwarden",
    "/usr/bin/netwarden-helper",
]
# Connected before the upgrade; after it, the same connection carries one more line.
ESTABLISHED = f"""import os, socket, time
connection = socket.create_connection(("{PEER_V4}", {ECHO_PORT}), timeout=5)
connection.sendall(b"before\\n")
assert connection.recv(64) == b"before\\n"
open("/run/established.ready", "w").close()
while not os.path.exists("/run/established.go"):
    time.sleep(0.05)
connection.sendall(b"after\\n")
open("/run/established.out", "wb").write(connection.recv(64))
"""
# A program no rule decides: held for the prompt agent's answer while the upgrade runs.
HELD = f"""import socket
try:
    socket.create_connection(("{PEER_V4}", {PORT}), timeout=8)
    print("connected")
except OSError as exc:
    print("refused:", exc)
"""


@pytest.fixture(scope="module")
def echo(network: Sandbox) -> Iterator[None]:
    """A TCP echo server on the peer (socat, a process for each connection)."""
    server = network.peer.popen("socat", f"TCP-LISTEN:{ECHO_PORT},bind={PEER_V4},fork,reuseaddr",
                                "PIPE")  # fmt: skip
    time.sleep(0.3)  # listening
    yield
    server.terminate()
    server.wait(10)


def installed_version(machine: Machine) -> str:
    return machine.run("dpkg-query", "-W", "-f", "${Version}", "netwarden").stdout


def wait_for(machine: Machine, path: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not machine.path(path).exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def journaled(machine: Machine, *matches: str) -> list[dict]:
    lines = machine.run("journalctl", "-o", "json", "-t", "netwarden-helper", *matches).stdout
    return [json.loads(line) for line in lines.splitlines()]


def test_an_upgrade_keeps_everything_connected_and_decides_held_flows(machine, peer, echo,
                                                                      tmp_path):  # fmt: skip
    ctl(machine, "rules", "add", "--action", "allow", "--exe", "/usr/bin/nc.openbsd",
        "--uid", "any", "--destination", PEER_V4, "--note", "before the upgrade")  # fmt: skip
    ctl(machine, "settings", "set", "history_days=7", "fail_closed=true")
    machine.run("nc", "-z", "-w", "5", PEER_V4, str(PORT))
    flows: list[dict] = []
    deadline = time.monotonic() + 10
    while not flows and time.monotonic() < deadline:  # history is written in batches
        time.sleep(0.5)
        flows = json.loads(ctl(machine, "--json", "history", "--all-users"))["flows"]
    assert flows, "recorded before the upgrade"
    # An established connection (no agent, the default action allow), then unanswered
    # prompts denied, a prompt agent and a flow held for it.
    machine.write("/root/established.py", ESTABLISHED)
    machine.run("systemd-run", "--unit=established", "python3", "/root/established.py")
    wait_for(machine, "/run/established.ready")
    ctl(machine, "settings", "set", "default_action=deny")
    rules = json.loads(ctl(machine, "--json", "rules", "list"))
    settings = json.loads(ctl(machine, "--json", "settings", "get"))
    old_pid = helper_pid(machine)
    machine.run("systemd-run", "--unit=agent", "netwardenctl", "monitor", "--all-users")
    time.sleep(1)  # registered
    machine.write("/root/held.py", HELD)
    machine.run("systemd-run", "--unit=held", "python3", "/root/held.py")
    deadline = time.monotonic() + 10
    while not json.loads(ctl(machine, "--json", "prompt", "list")):
        assert time.monotonic() < deadline, "the flow was not held for a prompt"
        time.sleep(0.1)
    accepted = peer.tcp_accepts

    deb = build_deb(tmp_path, NEXT)
    machine.run("apt-get", "install", "-y", machine.put(deb, f"/root/{deb.name}"), timeout=180)
    assert installed_version(machine) == NEXT
    wait_active(machine, old_pid, 10)  # the maintainer scripts restart it
    assert json.loads(ctl(machine, "--json", "rules", "list")) == rules
    assert json.loads(ctl(machine, "--json", "settings", "get")) == settings
    kept = json.loads(ctl(machine, "--json", "history", "--all-users"))["flows"]
    assert {flow["id"] for flow in flows} <= {flow["id"] for flow in kept}

    # The held flow got what an unanswered prompt gets (deny here) when the old helper
    # stopped, and did not get through the restart.
    stopped = journaled(machine, "NETWARDEN_DECIDED_BY=shutdown", f"NETWARDEN_PORT={PORT}")
    assert [entry["NETWARDEN_VERDICT"] for entry in stopped] == ["deny"], stopped
    machine.run("systemctl", "stop", "agent")
    deadline = time.monotonic() + 15
    while machine.run("systemctl", "is-active", "held", check=False).stdout.strip() == "active":
        assert time.monotonic() < deadline, "the held program is still waiting"
        time.sleep(0.2)
    assert "refused" in machine.run("journalctl", "-u", "held", "-o", "cat").stdout
    assert peer.tcp_accepts == accepted
    # The connection established before the upgrade is the same one after it.
    machine.write("/run/established.go", "")
    wait_for(machine, "/run/established.out")
    assert machine.path("/run/established.out").read_bytes() == b"after\n", "the same socket"
    assert machine.run("nc", "-z", "-w", "5", PEER_V4, str(PORT)).returncode == 0


def test_a_downgrade_the_database_is_too_new_for_is_refused_untouched(machine, deb):
    # The database as the next release's migration would leave it: one schema on.
    machine.run("systemctl", "stop", UNIT)
    machine.run("python3", "-c", "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); "
                f"db.execute('PRAGMA user_version = {SCHEMA_VERSION + 1}'); db.close()",
                DATABASE)  # fmt: skip
    before = machine.run("sha256sum", DATABASE).stdout
    since = machine.run("date", "+%s").stdout.strip()

    machine.run("apt-get", "install", "-y", "--allow-downgrades",
                machine.put(deb, f"/root/{deb.name}"), timeout=180)  # fmt: skip
    assert installed_version(machine) == "0.1.0"
    assert "install ok installed" in machine.run(
        "dpkg-query", "-W", "-f", "${Status}", "netwarden").stdout  # fmt: skip

    def state() -> dict[str, str]:
        shown = machine.run("systemctl", "show", "-p", "ActiveState,Result,NRestarts", UNIT)
        return dict(line.split("=", 1) for line in shown.stdout.split())

    deadline = time.monotonic() + 30
    while state()["ActiveState"] != "failed":
        assert time.monotonic() < deadline, f"still trying: {state()}"
        time.sleep(0.2)
    settled = state()
    time.sleep(3)
    assert state() == settled, "it does not restart in a loop"
    print(f"refused: {settled}")
    # the unit's StartLimitBurst: 5 starts in 10 s (systemd may count the restart the
    # limit refused too)
    assert int(settled["NRestarts"]) <= 5
    messages = machine.run("journalctl", "-u", UNIT, "-o", "cat", f"--since=@{since}").stdout
    assert (f"was written by a newer Netwarden (schema {SCHEMA_VERSION + 1}, this one knows "
            f"{SCHEMA_VERSION}); it was left untouched") in messages  # fmt: skip
    assert machine.run("sha256sum", DATABASE).stdout == before
    assert "NETWARDEN" not in machine.run("iptables-save").stdout, "the network still works"


def test_a_purge_leaves_nothing(machine):
    machine.run("apt-get", "purge", "-y", "netwarden", timeout=180)
    assert "NETWARDEN" not in machine.run("iptables-save").stdout
    assert machine.run("systemctl", "is-active", UNIT, check=False).stdout.strip() != "active"
    for path in LEFT_BEHIND:
        assert not machine.path(path).exists(), path
