"""`HelperState`: what the app knows of the helper (running, version, since when), for QML."""

from PySide6.QtCore import Property, QDateTime, QObject, Signal, Slot
from PySide6.QtQml import QmlElement, QmlUncreatable

from netwarden.client.helper_bound import HelperBound
from netwarden.client.helper_client import HelperCallError, HelperClient

QML_IMPORT_NAME = "Netwarden.Backend"
QML_IMPORT_MAJOR_VERSION = 1


@QmlElement
@QmlUncreatable("HelperState is made by the app and handed to the window")
class HelperState(HelperBound, QObject):
    """The helper's state as the window shows it.

    `state` is one of: "connecting" (first answer pending), "running", "absent" (not
    running and not startable), "denied" (polkit refused this user), "error".
    """

    changed = Signal()

    def __init__(self, client: HelperClient, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._state = "connecting"
        self._version = ""
        self._started_at = QDateTime()
        self._attribution = ""
        self._kernel_verdicts = ""
        self._error_message = ""
        self._bind_helper(client)
        self.refresh()

    @Property(str, notify=changed)
    def state(self) -> str:
        return self._state

    @Property(str, notify=changed)
    def version(self) -> str:
        return self._version

    @Property(QDateTime, notify=changed)
    def startedAt(self) -> QDateTime:
        return self._started_at

    @Property(str, notify=changed)
    def attribution(self) -> str:
        """How programs are known: exactly at the syscall (eBPF), or after the fact."""
        return self._attribution

    @Property(str, notify=changed)
    def kernelVerdicts(self) -> str:
        """Whether decided flows are decided again in the kernel, and why not."""
        return self._kernel_verdicts

    @Property(str, notify=changed)
    def errorMessage(self) -> str:
        return self._error_message

    @Slot()
    def refresh(self) -> None:
        """Ask the helper for its status again (starts it through D-Bus activation)."""
        self._client.call("GetStatus", "", (), self._on_status, self._on_error)

    def _helper_appeared(self) -> None:
        self.refresh()

    def _helper_gone(self) -> None:
        if self._state == "running":
            self._set("absent", "The helper stopped.")
            self.changed.emit()

    def _on_status(self, status: dict) -> None:
        self._set("running", "")
        self._version = status.get("version", "")
        self._started_at = QDateTime.fromSecsSinceEpoch(status.get("started_at", 0))
        self._attribution = (
            "exact, at the syscall (eBPF)" if status.get("attribution") == "ebpf"
            else f"best effort, from /proc ({status.get('attribution_reason') or 'no eBPF'})"
        )  # fmt: skip
        self._kernel_verdicts = (
            "on: flows like ones a rule decided are decided at the syscall"
            if status.get("kernel_verdicts")
            else f"off ({status.get('kernel_verdicts_reason') or 'not available'})"
        )
        self.changed.emit()

    def _on_error(self, error: HelperCallError) -> None:
        if error.helper_absent:
            self._set("absent", error.message)
        elif error.not_authorized:
            self._set("denied", error.message)
        else:
            self._set("error", f"{error.name}: {error.message}")
        self.changed.emit()

    def _set(self, state: str, message: str) -> None:
        self._state = state
        self._error_message = message
