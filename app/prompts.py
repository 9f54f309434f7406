"""`PromptModel`: the helper's pending prompts for this user, and how to answer them.

The app registers with the helper as a prompt agent (again whenever the helper
restarts); the helper then sends PromptRaised and PromptClosed for this user's programs
only. Rows are inserted and removed one by one as those signals arrive.
"""

import os

from PySide6.QtCore import (
    Property,
    QAbstractListModel,
    QByteArray,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtQml import QmlElement, QmlUncreatable

from netwarden.helper_client import HelperCallError, HelperClient

QML_IMPORT_NAME = "Netwarden.Backend"
QML_IMPORT_MAJOR_VERSION = 1

_ROLES = (
    "promptId", "program", "exe", "commandLine", "user", "host", "address", "port",
    "protocol", "deadline", "reason", "script",
)  # fmt: skip
Index = QModelIndex | QPersistentModelIndex


def prompt_row(prompt: dict) -> dict:
    """A prompt from the helper as the row the window shows."""
    hosts = prompt.get("hosts") or []
    exe, script = prompt.get("exe", ""), prompt.get("script", "")
    program = os.path.basename(exe) if exe else ""
    if script:  # "script via interpreter"
        program = f"{os.path.basename(script)} via {program}"
    return {
        "promptId": prompt["id"],
        "program": program,
        "exe": exe,
        "commandLine": " ".join(prompt.get("cmdline", [])),
        "user": prompt.get("user", str(prompt.get("uid", ""))),
        "host": hosts[0] if hosts else prompt.get("destination", ""),
        "address": prompt.get("destination", ""),
        "port": prompt.get("port", 0),
        "protocol": prompt.get("protocol", ""),
        "deadline": prompt.get("deadline", 0.0),
        "reason": prompt.get("reason", "no_rule"),
        "script": script,
    }


@QmlElement
@QmlUncreatable("PromptModel is made by the app")
class PromptModel(QAbstractListModel):
    """Pending prompts, oldest first."""

    countChanged = Signal()
    registeredChanged = Signal()
    pausedChanged = Signal()
    answerFailed = Signal(str)

    def __init__(self, client: HelperClient, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._client = client
        self._rows: list[dict] = []
        self._registered = False
        self._paused = False
        self._helper_running = False
        client.on_signal("PromptRaised", self._raised)
        client.on_signal("PromptClosed", self._closed)
        client.watch_helper(self._on_helper_presence)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt API)
        return 0 if parent.isValid() else len(self._rows)

    def roleNames(self) -> dict[int, QByteArray]:
        return {Qt.ItemDataRole.UserRole + i: QByteArray(n.encode()) for i, n in enumerate(_ROLES)}

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        offset = role - Qt.ItemDataRole.UserRole
        return self._rows[index.row()][_ROLES[offset]] if 0 <= offset < len(_ROLES) else None

    @Property(int, notify=countChanged)
    def count(self) -> int:
        return len(self._rows)

    @Property(bool, notify=registeredChanged)
    def registered(self) -> bool:
        """The helper knows this app answers prompts (until it stops or restarts)."""
        return self._registered

    @Property(bool, notify=pausedChanged)
    def paused(self) -> bool:
        """Prompts are paused: the helper applies the default action instead of asking."""
        return self._paused

    @Slot(bool)
    def setPaused(self, paused: bool) -> None:
        if paused == self._paused:
            return
        self._paused = paused
        self.pausedChanged.emit()
        if paused and self._registered:
            self._client.call("UnregisterPromptAgent", "", (), lambda: None, self._failed)
            self._set_registered(False)
            self._remove_all()
        elif not paused and self._helper_running:
            self._register()

    def _set_registered(self, registered: bool) -> None:
        if registered != self._registered:
            self._registered = registered
            self.registeredChanged.emit()

    @Slot(int, result="QVariantMap")
    def get(self, row: int) -> dict:
        """Row `row` as a map of its roles (an empty map past the end)."""
        return dict(self._rows[row]) if 0 <= row < len(self._rows) else {}

    @Slot(int, str, str, str)
    def answer(self, prompt_id: int, action: str, scope: str, lifetime: str) -> None:
        """Answer a prompt; the helper closes it (PromptClosed) when it is applied."""
        answer = {"action": action, "scope": scope, "lifetime": lifetime}
        self._client.call(
            "AnswerPrompt", "ta{sv}", (prompt_id, answer), lambda _rule: None, self._failed
        )

    def _failed(self, error: HelperCallError) -> None:
        self.answerFailed.emit(error.message)

    def _register(self) -> None:
        self._client.call(
            "RegisterPromptAgent", "a{sv}", ({},), lambda: self._set_registered(True),
            self._failed,
        )  # fmt: skip

    def _on_helper_presence(self, running: bool) -> None:
        self._helper_running = running
        if running and not self._paused:
            self._register()
        elif not running:
            self._set_registered(False)
            self._remove_all()

    def _raised(self, prompt: dict) -> None:
        if any(row["promptId"] == prompt["id"] for row in self._rows):
            return
        self.beginInsertRows(QModelIndex(), len(self._rows), len(self._rows))
        self._rows.append(prompt_row(prompt))
        self.endInsertRows()
        self.countChanged.emit()

    def _closed(self, prompt_id: int, _outcome: str) -> None:
        for row, entry in enumerate(self._rows):
            if entry["promptId"] == prompt_id:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._rows[row]
                self.endRemoveRows()
                self.countChanged.emit()
                return

    def _remove_all(self) -> None:
        if self._rows:
            self.beginResetModel()
            self._rows.clear()
            self.endResetModel()
            self.countChanged.emit()
