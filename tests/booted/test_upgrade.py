"""An upgrade over a running helper keeps the rules, settings and history; a purge
leaves no netfilter rule, unit, state or polkit file behind."""

import json
import time

from tests.booted.conftest import PORT, UNIT, ctl, helper_pid, wait_active
from tests.fixtures.netns import PEER_V4
from tests.fixtures.packaging import build_deb

NEXT = "0.1.0+upgrade1"
LEFT_BEHIND = [
    f"/usr/lib/systemd/system/{UNIT}",
    f"/etc/systemd/system/multi-user.target.wants/{UNIT}",
    "/usr/share/polkit-1/actions/io.github.netwarden.policy",
    "/usr/share/dbus-1/system.d/io.github.netwarden.Helper1.conf",
    "/usr/share/dbus-1/system-services/io.github.netwarden.Helper1.service",
    "/var/lib/netwarden",
    "/usr/bin/netwarden-helper",
]


def installed_version(machine) -> str:
    return machine.run("dpkg-query", "-W", "-f", "${Version}", "netwarden").stdout


def test_an_upgrade_keeps_everything_and_a_purge_leaves_nothing(machine, peer, tmp_path):
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
    rules = json.loads(ctl(machine, "--json", "rules", "list"))
    settings = json.loads(ctl(machine, "--json", "settings", "get"))
    old_pid = helper_pid(machine)

    deb = build_deb(tmp_path, NEXT)
    machine.run("apt-get", "install", "-y", machine.put(deb, f"/root/{deb.name}"), timeout=180)
    assert installed_version(machine) == NEXT
    wait_active(machine, old_pid, 10)  # the maintainer scripts restart it
    assert json.loads(ctl(machine, "--json", "rules", "list")) == rules
    assert json.loads(ctl(machine, "--json", "settings", "get")) == settings
    kept = json.loads(ctl(machine, "--json", "history", "--all-users"))["flows"]
    assert {flow["id"] for flow in flows} <= {flow["id"] for flow in kept}
    assert machine.run("nc", "-z", "-w", "5", PEER_V4, str(PORT)).returncode == 0

    machine.run("apt-get", "purge", "-y", "netwarden", timeout=180)
    assert "NETWARDEN" not in machine.run("iptables-save").stdout
    assert machine.run("systemctl", "is-active", UNIT, check=False).stdout.strip() != "active"
    for path in LEFT_BEHIND:
        assert not machine.path(path).exists(), path
