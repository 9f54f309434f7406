"""A storm of new connections: the helper stays up, its memory stays bounded, and every
connection gets a verdict (an overflowing kernel queue drops SYNs, which are sent again;
see docs/packet-path.md, "Overload"). The long variant runs with `make soak`."""

import json
import os
import subprocess
import sys
import time

import pytest

from netwarden_common.dbus_values import dictionary
from tests.fixtures.traffic import CHECKOUT, recorder

PORT = 8080


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1])


def storm(netns, helper, root, processes, seconds):
    root.call("AddRule", dictionary({"action": "allow", "destination": netns.peer_v4}))
    with recorder(netns.peer, (netns.peer_v4,), PORT):
        before = rss_kib(helper.pid)
        started = time.monotonic()
        argv = ["-m", "tests.fixtures.storm", netns.peer_v4, str(PORT), str(seconds)]
        clients = [
            netns.host.popen(sys.executable, *argv, stdout=subprocess.PIPE, text=True, cwd=CHECKOUT)
            for _ in range(processes)
        ]
        results = [json.loads(client.communicate(timeout=seconds + 60)[0]) for client in clients]
        elapsed = time.monotonic() - started
    after = rss_kib(helper.pid)
    total = {key: sum(r[key] for r in results) for key in results[0]}
    status = root.call("GetStatus")["counters"]
    rate = total["connected"] / elapsed
    print(f"storm: {total} in {elapsed:.1f} s ({rate:.0f}/s), RSS {before} -> {after} KiB")
    assert helper.poll() is None, "the helper died"
    assert total["timeout"] == 0 and total["refused"] == 0, total
    assert status["allowed"] >= total["connected"], "every connection was decided by the helper"
    assert after - before < 64 * 1024, "memory grew by more than 64 MiB"
    return total


def test_a_short_storm_from_four_processes(netns, helper, root, polkitd):
    polkitd()
    assert storm(netns, helper, root, processes=4, seconds=3)["connected"] > 1000


@pytest.mark.soak
def test_a_ten_second_storm_from_many_processes(netns, helper, root, polkitd):
    polkitd()
    storm(netns, helper, root, processes=4 * (os.cpu_count() or 2), seconds=10)
