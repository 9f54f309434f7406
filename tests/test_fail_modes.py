"""The real netwarden-helper process: what its death and restarts do to the network."""

import re
import signal

import pytest

from netwarden_common.api import BUS_NAME
from netwarden_helper.policy.settings import updated
from netwarden_helper.storage.store import Store
from tests.fixtures.helper import helper_command, helper_environment
from tests.fixtures.processes import stop, wait_for
from tests.fixtures.traffic import recorder, run_client

PORT = 8080


def netfilter_rules(ns):
    return "\n".join(
        line
        for save in ("iptables-save", "ip6tables-save")
        for line in ns.run(save).stdout.splitlines()
        if line.startswith("-A")
    )


def start(system_bus, netns, state_dir):
    """Start the helper; return once it serves (its netfilter rules are in place)."""
    log = state_dir.parent / "helper.log"
    log.write_text("")
    process = netns.host.popen(
        *helper_command(state_dir), env=helper_environment(system_bus), stderr=log.open("w")
    )
    wait_for(lambda: "serving " in log.read_text(), 15, "the helper to serve")
    return process


def kill(system_bus, process):
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    wait_for(lambda: not system_bus.has_owner(BUS_NAME), 10, "the bus name to go")


@pytest.mark.parametrize("fail_closed", [False, True])
def test_sigkill_leaves_the_network_as_configured(system_bus, netns, tmp_path, fail_closed):
    state = tmp_path / "state"
    store = Store(state)
    store.save_settings(updated(store.settings(), {"fail_closed": fail_closed}))
    store.close()
    with recorder(netns.peer, (netns.peer_v4, netns.peer_v6), PORT) as servers:
        helper = start(system_bus, netns, state)
        assert run_client(netns.host, "tcp", netns.peer_v4, PORT)["result"] == "connected"
        kill(system_bus, helper)
        expected = "timeout" if fail_closed else "connected"
        for kind, address in (("tcp", netns.peer_v4), ("udp", netns.peer_v6)):
            assert run_client(netns.host, kind, address, PORT, timeout=2)["result"] == expected
        assert servers.tcp_accepts == (1 if fail_closed else 2)

        # A restart cleans up what the crash left and works again.
        helper = start(system_bus, netns, state)
        assert run_client(netns.host, "tcp", netns.peer_v4, PORT)["result"] == "connected"
        assert stop(helper) == 0
    assert netfilter_rules(netns.host) == "", "a clean stop removes every rule"


def without_marks(rules: str) -> str:
    return re.sub(r"0x4e57[0-9a-f]{4}", "MARK", rules)


def test_no_duplicate_rules_after_five_crashes(system_bus, netns, tmp_path):
    state = tmp_path / "state"
    helper = start(system_bus, netns, state)
    once = current = netfilter_rules(netns.host)
    for _ in range(5):
        kill(system_bus, helper)
        assert netfilter_rules(netns.host) == current, "a crash leaves the rules in place"
        helper = start(system_bus, netns, state)
        current = netfilter_rules(netns.host)
        # the same rules, but for the marks each run draws anew
        assert without_marks(current) == without_marks(once)
    assert stop(helper) == 0
    assert netfilter_rules(netns.host) == ""


def test_unusable_database_stops_the_helper_and_leaves_the_network_alone(
    system_bus, netns, tmp_path
):
    state = tmp_path / "state"
    state.mkdir()
    (state / "netwarden.db").write_bytes(b"garbage" * 100)
    result = netns.host.run(*helper_command(state), check=False, env=helper_environment(system_bus))
    assert result.returncode == 1
    assert "not a readable Netwarden database" in result.stderr
    assert netfilter_rules(netns.host) == ""
    assert (state / "netwarden.db").read_bytes() == b"garbage" * 100
