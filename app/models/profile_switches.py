"""The switches of the active profile the helper's history recorded, as rows: "Profile
Work (network: Office)", when, and the profile before.

`SwitchRows` holds rows only (the History page's, of its range, synced by
`TrafficHistory`); `ProfileSwitchesModel`, the Profiles page's recent switches, loads the
latest with QueryProfileSwitches when the helper appears and adds each ProfileSwitched
at the top as it comes (a row insert, never a reset). The signal does not tell who
switched (it is broadcast), so each one is followed by QueryProfileSwitches again, which
tells the caller's own and, to an administrator, everyone's.
"""

from PySide6.QtCore import QObject, Signal
from PySide6.QtQml import QmlElement, QmlUncreatable

from netwarden.client.helper_bound import HelperBound
from netwarden.client.helper_client import HelperCallError, HelperClient, to_dbus_options
from netwarden.models.row_model import RowModel
from netwarden.models.rules import format_time
from netwarden_common.profiles import switch_cause

QML_IMPORT_NAME = "Netwarden.Backend"
QML_IMPORT_MAJOR_VERSION = 1

RECENT = 20  # switches the Profiles page lists


def switch_row(switch: dict) -> dict:
    """A switch of QueryProfileSwitches as the pages show it."""
    after, before = str(switch.get("to_profile", "")), str(switch.get("from_profile", ""))
    return {
        "id": int(switch["id"]),
        "time": format_time(float(switch["time"])),
        "text": f"{f'Profile {after}' if after else 'No profile'} ({switch_cause(switch)})",
        "previous": f"from {before}" if before else "from no profile",
    }


class SwitchRows(RowModel):
    """Switches of the active profile, newest first."""

    ROLES = ("id", "time", "text", "previous")
    KEY = "id"


@QmlElement
@QmlUncreatable("ProfileSwitchesModel is made by the app")
class ProfileSwitchesModel(HelperBound, SwitchRows):
    """The latest `RECENT` switches of the active profile, newest first, kept current."""

    failed = Signal(str)

    def __init__(self, client: HelperClient, parent: QObject | None = None) -> None:
        super().__init__(parent)
        client.on_signal("ProfileSwitched", self._switched)
        self._bind_helper(client)

    def _helper_appeared(self) -> None:
        self._load()

    def _load(self) -> None:
        self._client.call("QueryProfileSwitches", "a{sv}", (to_dbus_options({"limit": RECENT}),),
                          self._loaded, self._failed)  # fmt: skip

    def _loaded(self, page: dict) -> None:
        """The latest switches as read, below those signalled since the read (newer)."""
        rows = [switch_row(switch) for switch in page["switches"]]
        newest = max((row["id"] for row in rows), default=0)
        self.sync([*(row for row in self.rows() if row["id"] > newest), *rows][:RECENT])

    def _helper_gone(self) -> None:
        self.sync([])

    def _switched(self, switch: dict) -> None:
        """Shown at once, then read again for who made it; unless a read had it already."""
        row = switch_row(switch)
        if self.find(row["id"]) is None:
            self.sync([row, *self.rows()][:RECENT])
            self._load()

    def _failed(self, error: HelperCallError) -> None:
        if not error.helper_absent:  # the page says so (NotConnected)
            self.failed.emit(error.message)
