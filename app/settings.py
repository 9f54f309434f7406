"""`SettingsModel`: the helper's settings for the Settings page, and saving them.

Read with GetSettings when the helper appears and taken from each SettingsChanged.
Saving is SetSettings, which polkit lets only an administrator do: a refusal comes back
as `failed` with the helper's message, and the page shows the stored values again.
"""

from PySide6.QtCore import Property, QObject, Signal, Slot
from PySide6.QtQml import QmlElement, QmlUncreatable

from netwarden.helper_client import HelperCallError, HelperClient, to_dbus_options

QML_IMPORT_NAME = "Netwarden.Backend"
QML_IMPORT_MAJOR_VERSION = 1

DEFAULTS = {
    "default_action": "allow",
    "prompt_timeout": 60,
    "fail_closed": False,
    "history_days": 30,
    "trust_package_updates": True,
}


@QmlElement
@QmlUncreatable("SettingsModel is made by the app")
class SettingsModel(QObject):
    """The settings as the helper stores them."""

    changed = Signal()
    failed = Signal(str)
    saved = Signal()

    def __init__(self, client: HelperClient, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._client = client
        self._values = dict(DEFAULTS)
        self._loaded = False
        client.on_signal("SettingsChanged", self._load)
        client.watch_helper(self._on_helper_presence)

    @Property(bool, notify=changed)
    def loaded(self) -> bool:
        return self._loaded

    @Property(str, notify=changed)
    def defaultAction(self) -> str:
        return self._values["default_action"]

    @Property(int, notify=changed)
    def promptTimeout(self) -> int:
        return self._values["prompt_timeout"]

    @Property(bool, notify=changed)
    def failClosed(self) -> bool:
        return self._values["fail_closed"]

    @Property(int, notify=changed)
    def historyDays(self) -> int:
        return self._values["history_days"]

    @Property(bool, notify=changed)
    def trustPackageUpdates(self) -> bool:
        return self._values["trust_package_updates"]

    @Slot("QVariantMap")
    def save(self, values: dict) -> None:
        """Store the settings in `values` (helper names: default_action, ...)."""
        typed = {k: type(DEFAULTS[k])(v) for k, v in values.items() if k in DEFAULTS}
        changes = {k: v for k, v in typed.items() if self._values[k] != v}
        if not changes:
            self.saved.emit()
            return
        self._client.call("SetSettings", "a{sv}", (to_dbus_options(changes),), self._stored,
                          self._failed)  # fmt: skip

    @Slot()
    def reload(self) -> None:
        self._client.call("GetSettings", "", (), self._load, self._failed)

    def _stored(self, settings: dict) -> None:
        self._load(settings)
        self.saved.emit()

    def _on_helper_presence(self, running: bool) -> None:
        if running:
            self.reload()

    def _load(self, settings: dict) -> None:
        self._values.update({k: v for k, v in settings.items() if k in DEFAULTS})
        self._loaded = True
        self.changed.emit()

    def _failed(self, error: HelperCallError) -> None:
        self.failed.emit(error.message)
        self.changed.emit()  # the page shows the stored values again
