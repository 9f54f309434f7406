"""Desktop notifications (org.freedesktop.Notifications) for what the user may miss.

A prompt that ended without an answer (it timed out, or the app was paused) and
hash-change alerts are told through the desktop's notification service on the session
bus, as KDE Plasma and GNOME Shell show them. Without a notification service nothing
happens: notifications are a courtesy, never the only place something is shown.
"""

import logging
import os
from collections.abc import Callable

import dbus
import dbus.bus
import dbus.mainloop.glib
from PySide6.QtCore import QObject

from netwarden.client.helper_client import HelperClient
from netwarden.models import programs

log = logging.getLogger(__name__)

SERVICE = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
APP_NAME = "Netwarden"
APP_ICON = "io.github.netwarden"
LOW, NORMAL, CRITICAL = 0, 1, 2
# PromptClosed outcomes that mean nobody decided: the default action was applied.
UNANSWERED = {"timeout": "nobody answered in time", "no_agent": "nobody was there to answer"}


def session_bus() -> dbus.bus.BusConnection:
    """The user's session bus, on the GLib loop Qt runs."""
    address = os.environ.get("DBUS_SESSION_BUS_ADDRESS", dbus.bus.BusConnection.TYPE_SESSION)
    return dbus.bus.BusConnection(address, mainloop=dbus.mainloop.glib.DBusGMainLoop())


class Notifier(QObject):
    """Sends a notification for each missed prompt and each new alert."""

    def __init__(
        self,
        client: HelperClient,
        bus: dbus.bus.BusConnection,
        wanted: Callable[[], bool] = lambda: True,
        parent: QObject | None = None,
    ) -> None:
        """`wanted`: whether the user wants notifications now (Settings, "This app")."""
        super().__init__(parent)
        self._bus = bus
        self._wanted = wanted
        self._prompts: dict[int, dict] = {}
        client.on_signal("PromptRaised", self._raised)
        client.on_signal("PromptClosed", self._closed)
        client.on_signal("AlertRaised", self._alert)

    def _raised(self, prompt: dict) -> None:
        self._prompts[prompt["id"]] = prompt

    def _closed(self, prompt_id: int, outcome: str) -> None:
        prompt = self._prompts.pop(prompt_id, None)
        if prompt is None or outcome not in UNANSWERED:
            return
        exe = prompt.get("exe", "")
        program = programs.identity(exe)[0] if exe else "An unknown program"
        hosts = prompt.get("hosts") or [prompt.get("destination", "")]
        self.notify(
            f"{program} wanted to connect to {hosts[0]}",
            f"{UNANSWERED[outcome].capitalize()}, so the default action was applied "
            f"(port {prompt.get('port')}, {prompt.get('protocol', '').upper()}).",
            NORMAL,
        )

    def _alert(self, alert: dict) -> None:
        program = programs.identity(alert.get("exe", ""))[0]
        if alert.get("kind") == "packet_socket":
            self.notify(f"{program} opened a packet socket",
                        "Its frames pass below the firewall. Allow it, or block every "
                        "connection it makes (Alerts page).", CRITICAL)  # fmt: skip
        elif alert.get("state") == "auto_trusted":
            self.notify(f"{program} was updated",
                        f"{alert.get('package')} verified by the package manager; its rules "
                        "now allow the new version.", LOW)  # fmt: skip
        else:
            self.notify(f"{program} changed on disk",
                        "Its connections are blocked until you trust or block the new "
                        "binary (Alerts page).", CRITICAL)  # fmt: skip

    def notify(self, summary: str, body: str, urgency: int) -> None:
        """Show one notification (asynchronously; a missing service is only logged)."""
        if not self._wanted():
            return
        hints = {"urgency": dbus.Byte(urgency), "desktop-entry": APP_ICON}
        self._bus.call_async(
            SERVICE, PATH, SERVICE, "Notify", "susssasa{sv}i",
            (APP_NAME, 0, APP_ICON, summary, body, [], hints, -1),
            lambda _id: None,
            lambda exc: log.info("no notification shown: %s", exc.get_dbus_message()),
        )  # fmt: skip
