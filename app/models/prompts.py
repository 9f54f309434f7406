"""`PromptModel`: the helper's pending prompts for this user, and how to answer them.

The app registers with the helper as a prompt agent (again whenever the helper
restarts); the helper then sends PromptRaised and PromptClosed for this user's programs
only. Rows are inserted and removed one by one as those signals arrive (`RowModel.sync`).
"""

import os

from PySide6.QtCore import Property, QObject, Signal, Slot
from PySide6.QtQml import QmlElement, QmlUncreatable

from netwarden.client.helper_bound import HelperBound
from netwarden.client.helper_client import HelperCallError, HelperClient
from netwarden.models import programs
from netwarden.models.programs import forwarded_name
from netwarden.models.row_model import RowModel

QML_IMPORT_NAME = "Netwarden.Backend"
QML_IMPORT_MAJOR_VERSION = 1


def prompt_row(prompt: dict) -> dict:
    """A prompt from the helper as the row the window shows."""
    hosts = prompt.get("hosts") or []
    exe, script = prompt.get("exe", ""), prompt.get("script", "")
    forwarded_from = prompt.get("forwarded_from", "")
    program = programs.identity(exe)[0] if exe else ""
    if script:  # "script via interpreter"
        program = f"{os.path.basename(script)} via {program}"
    if forwarded_from:
        program = forwarded_name(forwarded_from)
    return {
        "promptId": prompt["id"],
        "program": program,
        "exe": exe,
        "commandLine": " ".join(prompt.get("cmdline", [])),
        "user": "" if forwarded_from else prompt.get("user", str(prompt.get("uid", ""))),
        "forwardedFrom": forwarded_from,
        "gaveUp": bool(prompt.get("gave_up")),
        "host": hosts[0] if hosts else prompt.get("destination", ""),
        "domain": prompt.get("domain", ""),
        "address": prompt.get("destination", ""),
        "port": prompt.get("port", 0),
        "protocol": prompt.get("protocol", ""),
        "deadline": prompt.get("deadline", 0.0),
        "reason": prompt.get("reason", "no_rule"),
        "script": script,
    }


@QmlElement
@QmlUncreatable("PromptModel is made by the app")
class PromptModel(HelperBound, RowModel):
    """Pending prompts, oldest first."""

    ROLES = (
        "promptId", "program", "exe", "commandLine", "user", "host", "address", "port",
        "protocol", "deadline", "reason", "script", "domain", "forwardedFrom", "gaveUp",
    )  # fmt: skip
    KEY = "promptId"

    registeredChanged = Signal()
    pausedChanged = Signal()
    answerFailed = Signal(str)

    def __init__(self, client: HelperClient, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._registered = False
        self._paused = False
        client.on_signal("PromptRaised", self._raised)
        client.on_signal("PromptChanged", self._changed)
        client.on_signal("PromptClosed", self._closed)
        self._bind_helper(client)

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

    @Slot(int, str, str, str, bool)
    def answer(
        self, prompt_id: int, action: str, scope: str, lifetime: str, pin: bool = True
    ) -> None:
        """Answer a prompt; the helper closes it (PromptClosed) when it is applied. `pin`:
        the rule holds for this binary only (its sha256), else for any version."""
        answer = {"action": action, "scope": scope, "lifetime": lifetime, "pin": pin}
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

    def _helper_appeared(self) -> None:
        if not self._paused:
            self._register()

    def _helper_gone(self) -> None:
        self._set_registered(False)
        self._remove_all()

    def _raised(self, prompt: dict) -> None:
        if self.find(prompt["id"]) is None:
            self.sync([*self._rows, prompt_row(prompt)])

    def _changed(self, prompt: dict) -> None:
        """The program gave up waiting: the prompt says so (it can still be answered)."""
        self.update({prompt["id"]: {"gaveUp": bool(prompt.get("gave_up"))}})

    def _closed(self, prompt_id: int, _outcome: str) -> None:
        self.sync([row for row in self._rows if row["promptId"] != prompt_id])

    def _remove_all(self) -> None:
        self.sync([])
