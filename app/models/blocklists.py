"""`BlocklistModel`: the blocklist subscriptions and how their lists were read: the format
detected, the names and networks in use, the lines accepted, ignored (by kind) and
rejected, what went wrong, and how many flows each blocked.

Loaded with ListBlocklists whenever the helper (re)appears; the hit counts are updated in
place from BlocklistHitsChanged. The helper sends no signal when a list changes
otherwise, so the page reads them again when shown (`refresh`); `update` asks for every
list to be read again now (UpdateBlocklists replies once they are in use), `setEnabled`
turns one on or off (SetBlocklistEnabled replies once the lists in use follow).
"""

from PySide6.QtCore import Property, QObject, Signal, Slot
from PySide6.QtQml import QmlElement, QmlUncreatable

from netwarden.client.helper_bound import HelperBound
from netwarden.client.helper_client import HelperCallError, HelperClient
from netwarden.models.row_model import RowModel
from netwarden.models.rules import format_time

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
        "updatedAt": format_time(blocklist.get("updated_at")),
        "problem": blocklist.get("error", ""),
        "hits": blocklist.get("hits", 0),
        "lastHit": format_time(blocklist.get("last_hit")),
    }


@QmlElement
@QmlUncreatable("BlocklistModel is made by the app")
class BlocklistModel(HelperBound, RowModel):
    """Blocklist subscriptions, oldest first."""

    ROLES = (
        "blocklistId", "name", "source", "enabled", "format", "names", "networks", "accepted",
        "ignored", "ignoredKinds", "rejected", "updatedAt", "problem", "hits", "lastHit",
    )  # fmt: skip
    KEY = "blocklistId"

    failed = Signal(str)
    updated = Signal()
    updatingChanged = Signal()

    def __init__(self, client: HelperClient, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._updating = False
        client.on_signal("BlocklistHitsChanged", self._hits_changed)
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

    @Slot(int, bool)
    def setEnabled(self, blocklist_id: int, enabled: bool) -> None:
        """Turn list `blocklist_id` on or off (off: it blocks nothing, is not downloaded)."""

        def stored(changed: dict) -> None:
            self._set_rows([_row(changed)])

        self._client.call("SetBlocklistEnabled", "tb", (blocklist_id, enabled), stored,
                          self._failed)  # fmt: skip

    def _hits_changed(self, counts: list) -> None:
        """The flows blocked by the lists that blocked lately, in place."""
        self._set_rows([{"blocklistId": list_id, "hits": hits, "lastHit": format_time(last)}
                        for list_id, hits, last in counts])  # fmt: skip

    def _set_rows(self, rows: list[dict]) -> None:
        """Change these rows' values in place (`RowModel.update`: `update` is the slot
        that reads the lists again)."""
        RowModel.update(self, {row["blocklistId"]: row for row in rows})

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
