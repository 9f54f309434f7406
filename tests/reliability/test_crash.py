"""Crash safety: the helper SIGKILLed at random moments while rules and history are
written. The CI variant kills it 20 times; `make soak` 100 times."""

import random
import re
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from netwarden_common.api import BUS_NAME
from netwarden_common.dbus_values import dictionary
from netwarden_helper.records.history_db import DB_NAME as HISTORY_DB
from netwarden_helper.storage.store import DB_NAME as RULES_DB
from tests.fixtures.api import ApiClient
from tests.fixtures.helper import helper_command, helper_environment, wait_until_serving
from tests.fixtures.processes import wait_for
from tests.fixtures.traffic import CHECKOUT, recorder

PORT = 8080


def without_marks(rules):
    return [re.sub(r"0x4e57[0-9a-f]{4}", "MARK", rule) for rule in rules]


def netfilter_rules(netns):
    """Netwarden's netfilter rules now, in order."""
    saved = netns.host.run("iptables-save").stdout.splitlines()
    return [line for line in saved if "NETWARDEN" in line and not line.startswith("#")]


LOAD = """
import socket, sys
while True:
    try:
        socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close()
    except OSError:
        pass
"""


def integrity(path):
    with sqlite3.connect(path) as db:
        return db.execute("PRAGMA integrity_check").fetchone()[0]


def kill_repeatedly(system_bus, netns, state_dir, cycles):
    """Start the helper, add a rule, SIGKILL it at a random moment while a load makes
    history: `cycles` times. After each kill both databases pass integrity_check and
    hold every acknowledged rule; after each restart the netfilter rules are there once."""
    acknowledged = []
    chance = random.Random(cycles)
    netfilter_rules_once = None
    with recorder(netns.peer, (netns.peer_v4,), PORT):
        load = netns.host.popen(sys.executable, "-c", LOAD, netns.peer_v4, str(PORT),
                                cwd=CHECKOUT)  # fmt: skip
        try:
            for cycle in range(cycles):
                helper = netns.host.popen(*helper_command(state_dir),
                                          env=helper_environment(system_bus),
                                          stderr=subprocess.DEVNULL)  # fmt: skip
                wait_until_serving(system_bus)
                netfilter_rules_once = netfilter_rules_once or netfilter_rules(netns)
                # the same rules once, but for the marks each run draws anew
                assert without_marks(netfilter_rules(netns)) == without_marks(
                    netfilter_rules_once), f"cycle {cycle}: stale"  # fmt: skip
                root = ApiClient(system_bus, uid=0)
                rule = root.call(
                    "AddRule", dictionary({"action": "allow", "ports": str(cycle + 1)})
                )
                acknowledged.append(int(rule["id"]))
                time.sleep(chance.uniform(0.5, 1.5))  # history is written every second
                helper.send_signal(signal.SIGKILL)
                helper.wait(10)
                root.close()
                wait_for(lambda: not system_bus.has_owner(BUS_NAME), 10, "the name released")
                assert integrity(state_dir / HISTORY_DB) == "ok", f"cycle {cycle}"
                assert integrity(state_dir / RULES_DB) == "ok", f"cycle {cycle}"
                with sqlite3.connect(state_dir / RULES_DB) as db:
                    stored = {row[0] for row in db.execute("SELECT id FROM rules")}
                assert set(acknowledged) <= stored, f"cycle {cycle}: a rule was lost"
        finally:
            load.kill()
            load.wait()
    with sqlite3.connect(state_dir / HISTORY_DB) as db:
        flows = db.execute("SELECT count(*) FROM flows").fetchone()[0]
    assert flows > 20, "the load really wrote history"


def test_twenty_kills_during_heavy_writing_never_corrupt_or_lose_a_rule(
    system_bus, polkitd, netns, tmp_path
):
    polkitd()
    kill_repeatedly(system_bus, netns, tmp_path / "state", cycles=20)


@pytest.mark.soak
def test_a_hundred_kills(system_bus, polkitd, netns, tmp_path):
    polkitd()
    kill_repeatedly(system_bus, netns, tmp_path / "state", cycles=100)
