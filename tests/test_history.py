"""Connection history and traffic, end to end: real helper, real conntrack in a netns,
real dbus-daemon and polkitd, queried as an unprivileged user would."""

import csv
import json
import os
import sys
import tempfile
import time

import dbus
import dbus.mainloop.glib
import pytest

from netwarden_common.api import ACTION_MONITOR, INTERFACE
from netwarden_common.dbus_values import dictionary
from tests.fixtures.api import ApiClient, error_name, pump_until
from tests.fixtures.processes import wait_for
from tests.fixtures.traffic import bulk_server, recorder, start_fetch
from tests.fixtures.users import NOBODY

PORT = 8080
SIZE = 3_000_000  # bytes the test download moves


@pytest.fixture
def monitor(system_bus, helper, polkitd):
    """An unprivileged user allowed to monitor, its connection able to receive signals."""
    polkitd(grant=[ACTION_MONITOR])
    client = ApiClient(system_bus, NOBODY, mainloop=dbus.mainloop.glib.DBusGMainLoop())
    yield client
    client.close()


def open_downloads(client):
    return [c for c in client.call("ListConnections", dictionary({})) if c["port"] == PORT]


def test_a_download_is_live_while_open_then_counted_in_its_programs_minute(netns, monitor):
    with bulk_server(netns.peer, netns.peer_v4, PORT, SIZE):
        start = time.time()
        fetch = start_fetch(netns.host, netns.peer_v4, PORT, SIZE, uid=NOBODY)
        try:
            assert json.loads(fetch.stdout.readline())["received"] == SIZE
            wait_for(lambda: any(c["bytes_in"] >= SIZE for c in open_downloads(monitor)),
                     10, "the download in the live connections with its bytes")  # fmt: skip
            live = open_downloads(monitor)[0]
            assert (live["destination"], live["protocol"]) == (netns.peer_v4, "tcp")
            assert live["exe"] == os.path.realpath(sys.executable) and live["uid"] == NOBODY
        finally:
            fetch.communicate("\n", timeout=10)  # the client closes its connection
        wait_for(lambda: not open_downloads(monitor), 10, "the closed download to leave")
    end = time.time()

    series = []

    def counted():
        series[:] = monitor.call("TrafficSeries", dictionary(
            {"since": start - 60, "until": end + 60, "exe": live["exe"]}))  # fmt: skip
        return sum(point[2] for point in series) >= SIZE

    wait_for(counted, 10, "the download's bytes in the program's series")
    received = sum(point[2] for point in series)
    assert SIZE <= received <= SIZE * 1.05, "payload plus TCP/IP headers"
    first_minute, last_minute = int(start) // 60 * 60, int(end) // 60 * 60
    assert all(first_minute <= point[0] <= last_minute for point in series)

    flows = monitor.call("QueryHistory", dictionary({"exe": live["exe"]}))["flows"]
    download = next(f for f in flows if f["port"] == PORT)
    assert (download["verdict"], download["decided_by"]) == ("allow", "default")
    assert download["bytes_in"] == received
    top = monitor.call("TopTraffic", dictionary({"since": start - 60, "until": end + 60}))
    assert top["programs"][0]["exe"] == live["exe"]
    assert top["hosts"][0]["host"] == netns.peer_v4  # no DNS name was learnt for it


def test_watchers_hear_each_decided_flow_and_the_bytes_each_second(netns, monitor, system_bus):
    events, samples = [], []
    monitor.connection.add_signal_receiver(events.append, "ConnectionEvent", INTERFACE)
    monitor.connection.add_signal_receiver(samples.append, "TrafficSample", INTERFACE)
    bystander = ApiClient(system_bus, NOBODY, mainloop=dbus.mainloop.glib.DBusGMainLoop())
    unwatched = []
    bystander.connection.add_signal_receiver(unwatched.append, "ConnectionEvent", INTERFACE)
    monitor.call("WatchConnections", dictionary({}))
    with bulk_server(netns.peer, netns.peer_v4, PORT, SIZE):
        fetch = start_fetch(netns.host, netns.peer_v4, PORT, SIZE, uid=NOBODY)
        fetch.stdout.readline()
        pump_until(lambda: any(e["port"] == PORT for e in events))
        pump_until(lambda: sum(p["bytes_in"] for s in samples for p in s["programs"]) >= SIZE)
        fetch.communicate("\n", timeout=10)
    event = next(e for e in events if e["port"] == PORT)
    assert (event["destination"], event["verdict"]) == (netns.peer_v4, "allow")
    assert unwatched == [], "connection events are not broadcast to the whole bus"
    monitor.call("UnwatchConnections")
    seen = len(events)
    with recorder(netns.peer, (netns.peer_v4,), PORT):
        start_fetch(netns.host, netns.peer_v4, PORT, 0, uid=NOBODY).communicate("\n", timeout=10)
    deadline = time.monotonic() + 2
    pump_until(lambda: time.monotonic() > deadline, timeout=5)
    assert len(events) == seen
    bystander.close()


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_writes_the_range_into_the_callers_own_file(netns, monitor, fmt):
    with recorder(netns.peer, (netns.peer_v4,), PORT):
        start_fetch(netns.host, netns.peer_v4, PORT, 0, uid=NOBODY).communicate("\n", timeout=10)

    def exported():
        with tempfile.TemporaryFile("w+") as out:
            count = monitor.call("ExportHistory", dbus.types.UnixFd(out),
                                 dictionary({"format": fmt}))  # fmt: skip
            out.seek(0)
            return count, out.read()

    wait_for(lambda: exported()[0] >= 1, 10, "the flow in the history")
    count, text = exported()
    rows = json.loads(text) if fmt == "json" else list(csv.DictReader(text.splitlines()))
    assert len(rows) == count
    assert any(int(r["port"]) == PORT and r["destination"] == netns.peer_v4 for r in rows)


def test_bad_queries_get_clear_errors(monitor):
    cases = [
        ("QueryHistory", ({"limit": 5000},), "limit: must be between 1 and 1000"),
        ("QueryHistory", ({"since": 10.0, "until": 5.0},), "since: must not be after until"),
        ("QueryHistory", ({"verdict": "maybe"},), "verdict: must be allow or deny"),
        ("TrafficSeries", ({"bucket": 90},), "bucket: must be a multiple of 60"),
        ("TrafficSeries", ({"since": 0.0, "bucket": 60},), "at most 10000 buckets"),
        ("TopTraffic", ({"limit": "ten"},), "limit: must be int"),
    ]
    for method, arguments, message in cases:
        with pytest.raises(dbus.DBusException) as error:
            monitor.call(method, *map(dictionary, arguments))
        assert error_name(error.value) == "InvalidArgument"
        assert message in error.value.get_dbus_message()
    with open(os.devnull, "w") as not_a_file, pytest.raises(dbus.DBusException) as error:
        monitor.call("ExportHistory", dbus.types.UnixFd(not_a_file), dictionary({}))
    assert "regular file open for writing" in error.value.get_dbus_message()
