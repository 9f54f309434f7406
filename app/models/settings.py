"""`SettingsModel`: the helper's settings for the Settings page, and saving them.

Read with GetSettings when the helper appears and taken from each SettingsChanged.
Saving is SetSettings, which polkit lets only an administrator do: a refusal comes back
as `failed` with the helper's message, and the page shows the stored values again.
"""

from dataclasses import asdict, dataclass, fields, replace

from PySide6.QtCore import Property, QObject, Signal, Slot
from PySide6.QtQml import QmlElement, QmlUncreatable

from netwarden.client.helper_bound import HelperBound
from netwarden.client.helper_client import HelperCallError, HelperClient, to_dbus_options

QML_IMPORT_NAME = "Netwarden.Backend"
QML_IMPORT_MAJOR_VERSION = 1


@dataclass(frozen=True)
class Settings:
    """The settings the page shows, by the helper's names (the defaults until it answers)."""

    default_action: str = "allow"
    prompt_timeout: int = 60
    fail_closed: bool = False
    history_days: int = 30
    trust_package_updates: bool = True
    forwarded: str = "allow"
    dns_to_resolvers: bool = True
    kernel_verdicts: bool = True
    silent_mode: str = "off"
    locations: bool = False
    locations_source: str = ""

    def merged(self, values: dict) -> "Settings":
        """These values with those that `values` names over them, each of its field's type."""
        names = [f.name for f in fields(self) if f.name in values]
        return replace(self, **{name: type(getattr(self, name))(values[name]) for name in names})


@QmlElement
@QmlUncreatable("SettingsModel is made by the app")
class SettingsModel(HelperBound, QObject):
    """The settings as the helper stores them."""

    changed = Signal()
    failed = Signal(str)
    saved = Signal()

    def __init__(self, client: HelperClient, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._values = Settings()
        self._loaded = False
        client.on_signal("SettingsChanged", self._load)
        self._bind_helper(client)

    @Property(bool, notify=changed)
    def loaded(self) -> bool:
        return self._loaded

    @Property(str, notify=changed)
    def defaultAction(self) -> str:
        return self._values.default_action

    @Property(int, notify=changed)
    def promptTimeout(self) -> int:
        return self._values.prompt_timeout

    @Property(bool, notify=changed)
    def failClosed(self) -> bool:
        return self._values.fail_closed

    @Property(int, notify=changed)
    def historyDays(self) -> int:
        return self._values.history_days

    @Property(bool, notify=changed)
    def trustPackageUpdates(self) -> bool:
        return self._values.trust_package_updates

    @Property(str, notify=changed)
    def forwarded(self) -> str:
        """What a forwarded connection (a container's, a VM's) no rule covers gets."""
        return self._values.forwarded

    @Property(bool, notify=changed)
    def dnsToResolvers(self) -> bool:
        """The built-in rule: programs may ask this computer's DNS servers."""
        return self._values.dns_to_resolvers

    @Property(bool, notify=changed)
    def kernelVerdicts(self) -> bool:
        """Flows like ones a rule decided are decided again in the kernel."""
        return self._values.kernel_verdicts

    @Property(str, notify=changed)
    def silentMode(self) -> str:
        """Silent Mode: "off" (ask), or "allow" / "deny" what would have asked."""
        return self._values.silent_mode

    @Property(bool, notify=changed)
    def locations(self) -> bool:
        """Whether the helper keeps an IP-to-location database (for the world map)."""
        return self._values.locations

    @Property(str, notify=changed)
    def locationsSource(self) -> str:
        """Where it downloads it from ({year} and {month}: the current month's)."""
        return self._values.locations_source

    @Slot(str)
    def setSilentMode(self, mode: str) -> None:
        """Turn Silent Mode on ("allow" or "deny") or "off" (at once, like the tray's)."""
        self.save({"silent_mode": mode})

    @Slot("QVariantMap")
    def save(self, values: dict) -> None:
        """Store the settings in `values` (helper names: default_action, ...)."""
        stored, wanted = asdict(self._values), asdict(self._values.merged(values))
        changes = {k: v for k, v in wanted.items() if stored[k] != v}
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

    def _helper_appeared(self) -> None:  # when it goes, the page keeps the last values
        self.reload()

    def _load(self, settings: dict) -> None:
        self._values = self._values.merged(settings)
        self._loaded = True
        self.changed.emit()

    def _failed(self, error: HelperCallError) -> None:
        self.failed.emit(error.message)
        self.changed.emit()  # the page shows the stored values again
