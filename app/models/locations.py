"""`LocationDatabase`: the helper's IP-to-location database, for the Settings page and
the world map: whether it is on and loaded, what it is, when it was updated, what went
wrong, and the credit its licence asks for.

Read with GetLocationDatabase when the helper appears and after each SettingsChanged
(turning it on starts a download), and taken from each LocationDatabaseChanged (sent
once an update is in use or failed). `update` asks for a download now.
"""

import html
import urllib.parse
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from PySide6.QtCore import Property, QObject, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtQml import QmlElement, QmlUncreatable

from netwarden.client.helper_bound import HelperBound
from netwarden.client.helper_client import HelperCallError, HelperClient

QML_IMPORT_NAME = "Netwarden.Backend"
QML_IMPORT_MAJOR_VERSION = 1

DBIP_CREDIT = '<a href="https://db-ip.com">IP Geolocation by DB-IP</a> (CC BY 4.0)'


def credit(state: Mapping[str, Any]) -> str:
    """The line that credits the loaded database (rich text), from the helper's `state`:
    DB-IP's attribution for a file downloaded from DB-IP (the URL it came from, not a
    source configured since whose download failed), else what the database says of
    itself, else the host it came from (those two escaped: they are not ours)."""
    host = urllib.parse.urlsplit(str(state.get("url", ""))).hostname or ""
    if host == "db-ip.com" or host.endswith(".db-ip.com"):
        return DBIP_CREDIT
    return html.escape(str(state.get("description", "")) or host)


def is_web_link(link: str) -> bool:
    """An http(s) link: the only kind a label of the database's opens."""
    return urllib.parse.urlsplit(link).scheme.lower() in ("http", "https")


def _time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M") if seconds else ""


@QmlElement
@QmlUncreatable("LocationDatabase is made by the app")
class LocationDatabase(HelperBound, QObject):
    """The location database's state as the helper tells it."""

    changed = Signal()
    failed = Signal(str)

    def __init__(self, client: HelperClient, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._state: dict = {}
        self._updating = False
        client.on_signal("LocationDatabaseChanged", self._load)
        client.on_signal("SettingsChanged", lambda _settings: self.reload())
        self._bind_helper(client)

    @Property(bool, notify=changed)
    def enabled(self) -> bool:
        return bool(self._state.get("enabled", False))

    @Property(bool, notify=changed)
    def loaded(self) -> bool:
        """A database is in use: addresses get places."""
        return bool(self._state.get("loaded", False))

    @Property(bool, notify=changed)
    def updating(self) -> bool:
        """A download asked for is under way (on, and not loaded nor failed yet)."""
        return self._updating or (self.enabled and not self.loaded and not self.problem)

    @Property(str, notify=changed)
    def summary(self) -> str:
        """ "DBIP-Country-Lite of 2026-12-01 00:00, updated 2026-12-02 06:10" ("" without one)."""
        if not self.loaded:
            return ""
        kind = self._state.get("database_type", "")
        built, updated = (
            _time(self._state.get("built_at", 0)),
            _time(self._state.get("updated_at", 0)),
        )
        text = f"{kind} of {built}" if built else kind
        return f"{text}, updated {updated}" if updated else text

    @Property(str, notify=changed)
    def problem(self) -> str:
        """Why the last update failed ("" when it did not)."""
        return str(self._state.get("error", ""))

    @Property(str, notify=changed)
    def credit(self) -> str:
        return credit(self._state)

    @Slot(str)
    def openLink(self, link: str) -> None:
        """Open a link of the credit in the browser (http and https only)."""
        if is_web_link(link):
            QDesktopServices.openUrl(QUrl(link))

    @Slot()
    def reload(self) -> None:
        self._client.call("GetLocationDatabase", "", (), self._load, self._failed)

    @Slot()
    def update(self) -> None:
        """Download the database again now (if it changed); needs an administrator."""
        self._updating = True
        self.changed.emit()
        self._client.call("UpdateLocationDatabase", "", (), self._load, self._failed)

    def _helper_appeared(self) -> None:
        self.reload()

    def _load(self, state: dict) -> None:
        self._state, self._updating = state, False
        self.changed.emit()

    def _failed(self, error: HelperCallError) -> None:
        self._updating = False
        self.failed.emit(error.message)
        self.changed.emit()
