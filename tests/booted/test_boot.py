"""At boot: the helper enabled and started under its hardening, its rules in place
before the network comes up, and with fail-closed a program that started before the
helper cannot connect out until the helper has decided."""

import json
import time

import pytest

from tests.booted.conftest import ALICE, PORT, UNIT, ctl, helper_pid, reboot
from tests.fixtures.booted import Machine
from tests.fixtures.netns import PEER_V4, Sandbox
from tests.fixtures.traffic import Recorder

# Runs once network-pre.target is reached and before systemd-networkd configures the
# link: what netfilter and the link look like at that moment.
PROBE = """[Unit]
Description=What the system looks like when network-pre.target is reached
DefaultDependencies=no
Wants=network-pre.target
After=network-pre.target
Before=systemd-networkd.service network.target

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'iptables-save >/run/probe.rules; ip -4 -o addr show dev nw0 >/run/probe.addr'

[Install]
WantedBy=multi-user.target
"""
# A program that starts before the helper and tries to connect out all along.
EARLY = f"""[Unit]
Description=A program started before the firewall
DefaultDependencies=no
Before={UNIT}

[Service]
ExecStart=/bin/sh -c 'while :; do nc -z -w 1 {PEER_V4} {PORT} && echo connected; sleep 0.2; done'

[Install]
WantedBy=multi-user.target
"""
# Bits of CAP_NET_ADMIN (12), CAP_SYS_PTRACE (19), CAP_DAC_READ_SEARCH (2), and the data
# plane's CAP_PERFMON (38) and CAP_BPF (39).
CAPABILITIES = 1 << 12 | 1 << 19 | 1 << 2 | 1 << 38 | 1 << 39


@pytest.fixture(scope="module", autouse=True)
def booted_fail_closed(machine: Machine, network: Sandbox, peer: Recorder) -> None:
    """The probe and the early program installed, fail-closed with deny for unanswered
    prompts set, then a reboot."""
    machine.write("/etc/systemd/system/probe.service", PROBE)
    machine.write("/etc/systemd/system/early-client.service", EARLY)
    machine.run("systemctl", "enable", "probe.service", "early-client.service")
    ctl(machine, "settings", "set", "fail_closed=true", "default_action=deny")
    reboot(machine, network)


def test_the_helper_is_enabled_and_started_at_boot_under_its_hardening(machine):
    assert machine.run("systemctl", "is-enabled", UNIT).stdout.strip() == "enabled"
    assert machine.run("systemctl", "is-active", UNIT).stdout.strip() == "active"
    status = dict(
        line.split(":\t", 1)
        for line in machine.path(f"/proc/{helper_pid(machine)}/status").read_text().splitlines()
    )
    assert int(status["CapBnd"], 16) == int(status["CapEff"], 16) == CAPABILITIES
    assert status["NoNewPrivs"].strip() == "1" and status["Seccomp"].strip() == "2"
    mounts = machine.path(f"/proc/{helper_pid(machine)}/mountinfo").read_text().splitlines()
    read_only = {line.split()[4] for line in mounts if " ro," in f" {line.split()[5]},"}
    assert {"/usr", "/etc", "/home"} <= read_only or "/" in read_only, mounts
    assert "/var/lib/netwarden" not in read_only
    rules = machine.run("iptables-save").stdout
    assert "-A OUTPUT -j NETWARDEN_OUT" in rules
    assert "--queue-num 7700 " not in rules.replace("--queue-bypass", "")  # fail-closed
    assert "fail-closed" in machine.run("journalctl", "-b", "-u", UNIT).stdout


def test_the_rules_are_in_place_before_network_pre_target_is_reached(machine):
    assert "-A OUTPUT -j NETWARDEN_OUT" in machine.path("/run/probe.rules").read_text()
    assert machine.path("/run/probe.addr").read_text() == "", "the link was not yet up"
    assert "192.0.2.1/24" in machine.run("ip", "-4", "-o", "addr", "show", "dev", "nw0").stdout


def test_with_fail_closed_a_program_started_before_the_helper_waits_for_its_decision(machine, peer):
    def started(unit: str) -> int:
        return int(machine.run("systemctl", "show", "-p", "ExecMainStartTimestampMonotonic",
                               "--value", unit).stdout)  # fmt: skip

    assert started("early-client.service") < started(UNIT)
    time.sleep(2)  # the program keeps trying, the helper keeps denying
    flows = []
    deadline = time.monotonic() + 10
    while not flows and time.monotonic() < deadline:  # history is written in batches
        time.sleep(0.5)
        flows = json.loads(ctl(machine, "--json", "history", "--all-users", "--verdict",
                               "deny"))["flows"]  # fmt: skip
    assert flows and {flow["port"] for flow in flows} == {PORT}
    assert peer.tcp_accepts == 0, "it connected before the helper decided"
    assert "connected" not in machine.run("journalctl", "-b", "-u", "early-client").stdout

    ctl(machine, "rules", "add", "--action", "allow", "--exe", flows[0]["exe"],
        "--uid", "any", "--destination", PEER_V4)  # fmt: skip
    deadline = time.monotonic() + 10
    while peer.tcp_accepts == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert peer.tcp_accepts > 0, "allowed, it connects"


# Sends one datagram and exits at once.
SEND_ONCE = f"""import socket
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("{PEER_V4}", {PORT}))
"""


def test_the_data_plane_loads_under_the_hardening_and_names_a_program_gone_at_once(machine, peer):
    assert "attribution: exact (eBPF)" in ctl(machine, "status")
    status = json.loads(ctl(machine, "--json", "status"))
    assert (status["attribution"], status["attribution_reason"]) == ("ebpf", "")
    # The helper is stopped while alice's program sends and exits: when it reads the
    # packet, the program is gone from /proc; the kernel's record still names it.
    received = peer.udp_datagrams
    helper = helper_pid(machine)
    machine.run("kill", "-STOP", str(helper))
    try:
        # a unit of the machine's own: in its cgroup tree, where the programs are attached
        machine.run("systemd-run", "--quiet", "--wait", "--pipe", f"--uid={ALICE}",
                    "python3", "-c", SEND_ONCE)  # fmt: skip
    finally:
        machine.run("kill", "-CONT", str(helper))
    flows: list[dict] = []
    deadline = time.monotonic() + 10
    while not flows and time.monotonic() < deadline:  # history is written in batches
        time.sleep(0.5)
        flows = [flow for flow in json.loads(ctl(machine, "--json", "history", "--all-users"))
                 ["flows"] if flow["protocol"] == "udp"]  # fmt: skip
    assert [(flow["exe"], flow["uid"], flow["verdict"]) for flow in flows] == [
        (machine.run("realpath", "/usr/bin/python3").stdout.strip(), ALICE, "deny")
    ]
    assert peer.udp_datagrams == received
