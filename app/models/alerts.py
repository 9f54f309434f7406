"""`AlertModel`: the helper's alerts (a pinned binary changed; a program opened a packet
socket), and what the person decides about them.

Loaded with ListAlerts whenever the helper (re)appears; AlertRaised inserts a row at the
top, AlertResolved updates its row in place. Trusting or blocking is a ResolveAlert call;
"decide later" is no call at all. The optional hash look-up (`reputation`) runs on a
thread of its own, only when the person asks, with the key from their keyring.
"""

import threading
from datetime import datetime

import keyring.errors
from PySide6.QtCore import Property, QObject, Signal, Slot
from PySide6.QtQml import QmlElement, QmlUncreatable

from netwarden.client import reputation
from netwarden.client.helper_bound import HelperBound
from netwarden.client.helper_client import HelperCallError, HelperClient
from netwarden.models import programs
from netwarden.models.row_model import RowModel
from netwarden_common.users import user_name

QML_IMPORT_NAME = "Netwarden.Backend"
QML_IMPORT_MAJOR_VERSION = 1


def alert_row(alert: dict) -> dict:
    """An alert from the helper as the card the Alerts page shows."""
    exe = alert.get("exe", "")
    changed = datetime.fromtimestamp(alert.get("changed_at", 0.0))
    return {
        "alertId": alert["id"],
        "kind": alert.get("kind", "hash_changed"),
        "program": programs.identity(exe)[0],
        "exe": exe,
        "oldHash": alert.get("old_sha256", ""),
        "newHash": alert.get("new_sha256", ""),
        "changedAt": changed.strftime("%Y-%m-%d %H:%M:%S"),
        "size": alert.get("size", 0),
        "packageName": alert.get("package", ""),
        "verified": bool(alert.get("verified", False)),
        "state": alert.get("state", "open"),
        "ruleCount": len(alert.get("rules", [])),
        "pid": alert.get("pid", 0),
        "user": user_name(alert["uid"]) if alert.get("uid", -1) >= 0 else "",
        "lookup": "",
    }


def describe(found: reputation.Reputation | None) -> str:
    if found is None:
        return "VirusTotal has never seen this file."
    clean = found.harmless + found.undetected
    return (
        f"VirusTotal: {found.malicious} engines call it malicious, {found.suspicious} "
        f"suspicious, {clean} found nothing. {found.link}"
    )


@QmlElement
@QmlUncreatable("AlertModel is made by the app")
class AlertModel(HelperBound, RowModel):
    """Alerts, newest first."""

    ROLES = (
        "alertId", "kind", "program", "exe", "oldHash", "newHash", "changedAt", "size",
        "packageName", "verified", "state", "ruleCount", "pid", "user", "lookup",
    )  # fmt: skip
    KEY = "alertId"

    openCountChanged = Signal()
    failed = Signal(str)
    hasApiKeyChanged = Signal()
    _lookedUp = Signal(int, str)  # from the look-up thread to the model's

    def __init__(self, client: HelperClient, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lookedUp.connect(self._set_lookup)
        client.on_signal("AlertRaised", self._upsert)
        client.on_signal("AlertResolved", self._upsert)
        self._bind_helper(client)

    @Property(int, notify=openCountChanged)
    def openCount(self) -> int:
        """Alerts nobody has decided on yet."""
        return sum(row["state"] == "open" for row in self._rows)

    @Slot(int, result=int)
    def get_id(self, row: int) -> int:
        """The alert id of row `row` (-1 past the end)."""
        return self._rows[row]["alertId"] if 0 <= row < len(self._rows) else -1

    @Slot(int, str)
    def resolve(self, alert_id: int, resolution: str) -> None:
        """ "trust" the binary or "block" it; the row updates on AlertResolved."""
        self._client.call("ResolveAlert", "ts", (alert_id, resolution), self._upsert,
                          self._failed)  # fmt: skip

    @Property(bool, notify=hasApiKeyChanged)
    def hasApiKey(self) -> bool:
        return bool(reputation.api_key())

    @Slot(str)
    def saveApiKey(self, key: str) -> None:
        try:
            if key.strip():
                reputation.save_api_key(key)
            else:
                reputation.forget_api_key()
        except keyring.errors.KeyringError as exc:
            self.failed.emit(f"The key could not be stored in your keyring: {exc}")
            return
        self.hasApiKeyChanged.emit()

    @Slot(int)
    def lookUp(self, alert_id: int) -> None:
        """Ask VirusTotal about the new binary's hash (only ever on this click)."""
        row = self.find(alert_id)
        key = reputation.api_key()
        if row is None or not key:
            self.failed.emit("Store a VirusTotal API key first.")
            return
        sha256 = self._rows[row]["newHash"]

        def run() -> None:
            try:
                text = describe(reputation.lookup(sha256, key))
            except reputation.ReputationError as exc:
                text = str(exc)
            self._lookedUp.emit(alert_id, text)

        threading.Thread(target=run, name="reputation", daemon=True).start()

    def _set_lookup(self, alert_id: int, text: str) -> None:
        self._update(alert_id, {"lookup": text})

    def _failed(self, error: HelperCallError) -> None:
        if error.helper_absent:  # the page says so (NotConnected)
            return
        self.failed.emit(error.message)

    def _helper_appeared(self) -> None:
        self._client.call("ListAlerts", "", (), self._load, self._failed)

    def _helper_gone(self) -> None:
        self._load([])

    def _load(self, alerts: list[dict]) -> None:
        self.sync([alert_row(alert) for alert in alerts])
        self.openCountChanged.emit()

    def _upsert(self, alert: dict) -> None:
        if self.find(alert["id"]) is None:
            self.sync([alert_row(alert), *self._rows])
        else:
            fresh = alert_row(alert)
            self._update(alert["id"], {k: v for k, v in fresh.items() if k != "lookup"})
        self.openCountChanged.emit()

    def _update(self, alert_id: int, values: dict) -> None:
        self.sync([{**row, **values} if row["alertId"] == alert_id else row for row in self._rows])
