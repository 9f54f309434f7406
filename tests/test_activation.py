"""netwarden-helper is started by D-Bus activation from the installed files."""

import os
import signal

import dbus

from netwarden_common.api import BUS_NAME
from tests.fixtures import polkit
from tests.fixtures.activation import activating_bus
from tests.fixtures.api import ApiClient
from tests.fixtures.processes import wait_for


def test_a_call_starts_the_installed_helper(netns):
    with activating_bus(netns.host) as bus, polkit.polkitd(bus, polkit.rules()):
        assert not bus.has_owner(BUS_NAME)
        client = ApiClient(bus, uid=0)
        status = client.call("GetStatus")  # the bus starts the helper for this call
        pid = int(client.connection.call_blocking(
            "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
            "GetConnectionUnixProcessID", "s", (BUS_NAME,)))  # fmt: skip
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                argv = cmdline.read().split(b"\0")
            assert b"/usr/bin/netwarden-helper" in argv, argv
            assert os.stat(f"/proc/{pid}").st_uid == 0, "activated as root (User=root)"
            assert status["version"]
            assert "NFQUEUE" in netns.host.run("iptables-save").stdout
        finally:
            os.kill(pid, signal.SIGTERM)  # the helper this test had started
            wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 10, "the helper to stop")
            client.close()
        assert "NFQUEUE" not in netns.host.run("iptables-save").stdout
    assert isinstance(status, dbus.Dictionary)
