"""The booted tier: Debian 13 booted with systemd as PID 1 (tests/fixtures/booted.py),
Netwarden's .deb installed by apt, the network configured by systemd-networkd.

Each module gets its own machine: the package installed on the running system (the
maintainer scripts start the helper), then a reboot, so what a test sees is what a user's
machine sees after installing and restarting. Its network is the `netns` sandbox's host
side; the peer namespace (192.0.2.2) is the only other machine it can reach.
"""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.booted import Machine, booted_machine
from tests.fixtures.netns import PEER_V4, Sandbox, sandbox
from tests.fixtures.traffic import Recorder, recorder

ALICE, BOB = 1001, 1002
PORT = 8080  # the peer's recording server
UNIT = "netwarden-helper.service"
# The link's address is systemd-networkd's to set, after network-pre.target.
NETWORK = """[Match]
Name=nw0

[Network]
Address=192.0.2.1/24
LinkLocalAddressing=no
IPv6AcceptRA=no
"""


@pytest.fixture(scope="module")
def network() -> Iterator[Sandbox]:
    with sandbox() as net:
        yield net


@pytest.fixture(scope="module")
def peer(network: Sandbox) -> Iterator[Recorder]:
    """TCP and UDP servers on the peer (192.0.2.2:8080) counting what reaches them."""
    with recorder(network.peer, (PEER_V4,), PORT) as record:
        yield record


@pytest.fixture(scope="module")
def machine(network: Sandbox, deb: Path) -> Iterator[Machine]:
    """A booted machine with the package installed (apt, offline: every dependency is in
    the reference rootfs) and users alice and bob, rebooted once since."""
    with booted_machine(network.host) as booted:
        booted.add_user("alice", ALICE)
        booted.add_user("bob", BOB)
        booted.write("/etc/systemd/network/50-nw0.network", NETWORK)
        booted.run("systemctl", "enable", "systemd-networkd")
        booted.run("apt-get", "install", "-y", booted.put(deb, f"/root/{deb.name}"),
                   timeout=180)  # fmt: skip
        reboot(booted, network)
        yield booted


def reboot(machine: Machine, network: Sandbox) -> None:
    """Power off, take the link down as a real boot finds it (unconfigured), boot."""
    machine.poweroff()
    network.host.run("ip", "addr", "flush", "dev", "nw0")
    network.host.run("ip", "link", "set", "nw0", "down")
    machine.boot()


def helper_pid(machine: Machine) -> int:
    return int(machine.run("systemctl", "show", "-p", "MainPID", "--value", UNIT).stdout)


def ctl(machine: Machine, *argv: str) -> str:
    """`netwardenctl ARGV` as root inside the machine (polkit grants root everything)."""
    return machine.run("netwardenctl", *argv).stdout


def wait_active(machine: Machine, old_pid: int, timeout: float) -> None:
    """Until a helper other than `old_pid` is running and ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = machine.run("systemctl", "is-active", UNIT, check=False).stdout.strip()
        if state == "active" and helper_pid(machine) not in (0, old_pid):
            return
        time.sleep(0.05)
    raise AssertionError(f"the helper did not come back within {timeout} s")
