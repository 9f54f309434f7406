"""`BlocklistModel`: the blocklist subscriptions and how their lists were read: the format
detected, the names and networks in use, the lines accepted, ignored (by kind) and
rejected, and what went wrong.

Loaded with ListBlocklists whenever the helper (re)appears. The helper sends no signal
when a list changes, so the page reads them again when shown (`refresh`); `update` asks
for every list to be read again now (UpdateBlocklists replies once they are in use).
"""

from datetime import datetime

from PySide6.QtCore import Property, QObject, Signal, Slot
from PySide6.QtQml import QmlElement, QmlUncreatable

from netwarden.client.helper_bound import HelperBound
from netwarden.client.helper_client import HelperCallError, HelperClient
from netwarden.models.row_model import RowModel

QML_IMPORT_NAME = "Netwarden.Backend"
QML_IMPORT_MAJOR_VERSION = 1

IGNORED_KINDS = {
    "comment": "comments",
    "local": "local names",
    "not_blocking": "not blocking",
    "adblock_rule": "other adblock rules",
    "directive": "settings",
}


def ignored_text(ignored: dict[str, int]) -> str:
    """ "12 comments, 3 other adblock rules", most first."""
    kinds = sorted(ignored.items(), key=lambda item: -item[1])
    return ", ".join(f"{count:,} {IGNORED_KINDS.get(kind, kind)}" for kind, count in kinds)


def _row(blocklist: dict) -> dict:
    ignored = blocklist.get("ignored") or {}
    updated = blocklist.get("updated_at")
    return {
        "blocklistId": blocklist["id"],
        "name": blocklist.get("name", ""),
        "source": blocklist.get("source", ""),
        "enabled": bool(blocklist.get("enabled", True)),
        "format": blocklist.get("format", ""),
        "names": blocklist.get("domains", 0),
        "networks": blocklist.get("networks", 0),
        "accepted": blocklist.get("accepted", 0),
        "ignored": sum(ignored.values()),
        "ignoredKinds": ignored_text(ignored),
        "rejected": blocklist.get("rejected", 0),
        "updatedAt": datetime.fromtimestamp(updated).strftime("%Y-%m-%d %H:%M") if updated else "",
        "problem": blocklist.get("error", ""),
    }


@QmlElement
@QmlUncreatable("BlocklistModel is made by the app")
class BlocklistModel(HelperBound, RowModel):
    """Blocklist subscriptions, oldest first."""

    ROLES = (
        "blocklistId", "name", "source", "enabled", "format", "names", "networks", "accepted",
        "ignored", "ignoredKinds", "rejected", "updatedAt", "problem",
    )  # fmt: skip
    KEY = "blocklistId"

    failed = Signal(str)
    updated = Signal()
    updatingChanged = Signal()

    def __init__(self, client: HelperClient, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._updating = False
        self._bind_helper(client)

    @Property(bool, notify=updatingChanged)
    def updating(self) -> bool:
        """The helper is downloading and reading the lists again (`update`)."""
        return self._updating

    def _set_updating(self, updating: bool) -> None:
        if updating != self._updating:
            self._updating = updating
            self.updatingChanged.emit()

    @Slot()
    def refresh(self) -> None:
        """Read the subscriptions again."""
        if self._helper_running:
            self._helper_appeared()

    @Slot()
    def update(self) -> None:
        """Read every list again now; `updating` meanwhile, `updated` once they are in use."""
        self._set_updating(True)
        self._client.call("UpdateBlocklists", "", (), self._updated, self._failed)

    def _updated(self, blocklists: list[dict]) -> None:
        self._set_updating(False)
        self._load(blocklists)
        self.updated.emit()

    def _failed(self, error: HelperCallError) -> None:
        self._set_updating(False)
        if error.helper_absent:  # the page says so (NotConnected)
            return
        self.failed.emit(error.message)

    def _helper_appeared(self) -> None:
        self._client.call("ListBlocklists", "", (), self._load, self._failed)

    def _helper_gone(self) -> None:
        self._load([])

    def _load(self, blocklists: list[dict]) -> None:
        self.sync([_row(blocklist) for blocklist in blocklists])
