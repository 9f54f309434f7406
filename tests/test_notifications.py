"""Desktop notifications from the app, received by a notification service on a real
session bus (the test plays the desktop's notification daemon)."""

import os
import shutil
import subprocess
import sys

import dbus
import dbus.mainloop.glib
import dbus.service
import pytest

from netwarden.desktop.notifications import CRITICAL, NORMAL, PATH, SERVICE, Notifier
from netwarden.models.preferences import Preferences
from netwarden.models.prompts import PromptModel
from netwarden_common.api import ACTION_ANSWER_PROMPT, ACTION_MONITOR
from netwarden_common.dbus_values import dictionary
from tests.fixtures.api import pump_until
from tests.fixtures.processes import stop
from tests.fixtures.scratch import shared_dir
from tests.fixtures.system_bus import start_daemon
from tests.fixtures.traffic import recorder, start_client
from tests.fixtures.users import NOBODY

PORT = 8080


class NotificationDaemon(dbus.service.Object):
    """The desktop's side of org.freedesktop.Notifications: records what it is asked."""

    def __init__(self, bus):
        self.name = dbus.service.BusName(SERVICE, bus)
        super().__init__(bus, PATH)
        self.shown = []

    @dbus.service.method(SERVICE, in_signature="susssasa{sv}i", out_signature="u")
    def Notify(self, app, replaces, icon, summary, body, actions, hints, timeout):
        self.shown.append({"app": str(app), "icon": str(icon), "summary": str(summary),
                           "body": str(body), "urgency": int(hints["urgency"])})  # fmt: skip
        return len(self.shown)


@pytest.fixture
def session():
    """A session bus of the test's own, and a notification daemon on it."""
    with shared_dir("session") as folder:
        socket = folder / "session_bus_socket"
        bus, process = start_daemon(["dbus-daemon", "--session", "--nofork", "--print-address=1",
                                     f"--address=unix:path={socket}"], socket)  # fmt: skip
        loop = dbus.mainloop.glib.DBusGMainLoop()
        daemon_side = dbus.bus.BusConnection(bus.address, mainloop=loop)
        app_side = dbus.bus.BusConnection(bus.address, mainloop=loop)
        try:
            yield NotificationDaemon(daemon_side), app_side
        finally:
            app_side.close()
            daemon_side.close()
            stop(process)


def test_a_prompt_nobody_answered_and_an_alert_are_notified(
    system_bus, polkitd, helper, root, netns, app_client, session, tmp_path
):
    polkitd(grant=[ACTION_ANSWER_PROMPT, ACTION_MONITOR])
    daemon, app_side = session
    root.call("SetSettings", dictionary({"prompt_timeout": 5}))
    client = app_client()
    prompts = PromptModel(client)
    Notifier(client, app_side)
    pump_until(lambda: prompts.registered)
    with recorder(netns.peer, (netns.peer_v4,), PORT):
        start_client(netns.host, "tcp", netns.peer_v4, PORT, 20, uid=NOBODY)
        pump_until(lambda: daemon.shown, timeout=15)  # after the 5 s prompt timeout
    (missed,) = daemon.shown
    program = os.path.basename(os.path.realpath(sys.executable))
    assert missed["summary"] == f"{program} wanted to connect to {netns.peer_v4}"
    assert "Nobody answered in time" in missed["body"] and missed["urgency"] == NORMAL
    assert (missed["app"], missed["icon"]) == ("Netwarden", "io.github.netwarden")

    program_path = tmp_path / "bin" / "fetcher"
    program_path.parent.mkdir()
    shutil.copyfile("/usr/bin/nc.openbsd", program_path)
    digest = subprocess.run(["sha256sum", str(program_path)], capture_output=True, text=True,
                            check=True).stdout.split()[0]  # fmt: skip
    root.call("AddRule", dictionary({"action": "allow", "exe": str(program_path),
                                     "sha256": digest, "uid": NOBODY}))  # fmt: skip
    with open(program_path, "ab") as file:
        file.write(b"\0changed")
    pump_until(lambda: len(daemon.shown) == 2, timeout=10)
    assert daemon.shown[1]["summary"] == "fetcher changed on disk"
    assert daemon.shown[1]["urgency"] == CRITICAL


def test_notifications_turned_off_in_the_settings_show_nothing(
    system_bus, app_client, session, tmp_path, monkeypatch
):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    daemon, app_side = session
    preferences = Preferences()
    notifier = Notifier(app_client(), app_side, lambda: preferences.notifications)
    preferences.setNotifications(False)
    notifier.notify("while off", "", NORMAL)
    preferences.setNotifications(True)
    notifier.notify("while on", "", NORMAL)
    pump_until(lambda: daemon.shown)
    assert [shown["summary"] for shown in daemon.shown] == ["while on"]
