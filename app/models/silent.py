"""`SilentModel`: what Silent Mode decided without asking ("would have asked"), one row
per program and destination, and the rules made from it with one click.

Read with QueryHistory (`decided_by: silent`, the last `REVIEW_DAYS`) when the page asks
(`refresh`, every few seconds while it is shown). A row's Allow or Deny adds the rule a
prompt's "this host, forever" answer would have made (AddRule, for the program's user)
and leaves the list; the flows stay in the history.
"""

import time
from typing import Any

from PySide6.QtCore import Property, QObject, Signal, Slot
from PySide6.QtQml import QmlElement, QmlUncreatable

from netwarden.client.helper_bound import HelperBound
from netwarden.client.helper_client import HelperCallError, HelperClient, to_dbus_options
from netwarden.models import programs
from netwarden.models.connections import destination_text, program_key
from netwarden.models.row_model import RowModel
from netwarden.models.rules import format_time, user_name

QML_IMPORT_NAME = "Netwarden.Backend"
QML_IMPORT_MAJOR_VERSION = 1

REVIEW_DAYS = 7
LIMIT = 1000  # flows read, newest first


def grouped(flows: list[dict]) -> list[dict]:
    """One row per program, user and destination of `flows` (newest first), with how
    often and when last."""
    rows: dict[str, dict] = {}
    for flow in flows:
        where = destination_text(flow)
        key = f"{flow.get('uid', -1)}:{program_key(flow)}:{where}"
        row = rows.get(key)
        if row is not None:
            row["count"] += 1
            continue
        exe, forwarded = flow.get("exe", ""), flow.get("forwarded_from", "")
        uid = flow.get("uid", -1)
        rows[key] = {
            "entryKey": key,
            "program": programs.identity(exe, flow.get("flatpak", ""), forwarded)[0] or "?",
            "user": user_name(uid) if uid >= 0 and not forwarded else "",
            "destination": where,
            "verdict": flow.get("verdict", ""),
            "lastTime": format_time(flow.get("time")),
            "count": 1,
            "canRule": bool(exe or forwarded),
            "flow": flow,
        }
    return list(rows.values())


def rule_for(flow: dict, action: str) -> dict[str, Any]:
    """The rule a "this host, forever" answer makes for `flow`."""
    rule: dict[str, Any] = {"action": action, "protocol": flow.get("protocol", "")}
    if flow.get("forwarded_from"):
        rule["forwarded_from"] = flow["forwarded_from"]
    else:
        rule["exe"] = flow["exe"]
        if flow.get("uid", -1) >= 0:
            rule["uid"] = flow["uid"]
    rule["destination"] = flow.get("host") or flow.get("destination", "")
    if flow.get("port"):
        rule["ports"] = str(flow["port"])
    return rule


@QmlElement
@QmlUncreatable("SilentModel is made by the app")
class SilentModel(HelperBound, RowModel):
    """What would have asked, most recent first."""

    ROLES = ("entryKey", "program", "user", "destination", "verdict", "lastTime", "count",
             "canRule")  # fmt: skip
    KEY = "entryKey"

    failed = Signal(str)
    allUsersChanged = Signal()

    def __init__(self, client: HelperClient, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._all_users = False
        self._ruled: set[str] = set()
        self._bind_helper(client)

    @Property(bool, notify=allUsersChanged)
    def allUsers(self) -> bool:
        """Every user's programs (an administrator's view), not only this user's."""
        return self._all_users

    @Slot(bool)
    def setAllUsers(self, all_users: bool) -> None:
        if all_users != self._all_users:
            self._all_users = all_users
            self.allUsersChanged.emit()
            self.refresh()

    @Slot()
    def refresh(self) -> None:
        """Read the list again."""
        if not self._helper_running:
            return
        query: dict[str, Any] = {"decided_by": "silent", "limit": LIMIT,
                                 "since": time.time() - REVIEW_DAYS * 86400}  # fmt: skip
        if self._all_users:
            query["all_users"] = True
        self._client.call("QueryHistory", "a{sv}", (to_dbus_options(query),), self._load,
                          self._failed)  # fmt: skip

    @Slot(str, str)
    def makeRule(self, key: str, action: str) -> None:
        """Allow or deny row `key`'s program that destination from now on."""
        row = self.find(key)
        if row is None or not self._rows[row]["canRule"]:
            return
        options = to_dbus_options(rule_for(self._rows[row]["flow"], action))

        def stored(_rule: dict) -> None:
            self._ruled.add(key)
            self.sync([r for r in self._rows if r["entryKey"] != key])

        self._client.call("AddRule", "a{sv}", (options,), stored, self._failed)

    def _load(self, page: dict) -> None:
        self.sync([row for row in grouped(page["flows"]) if row["entryKey"] not in self._ruled])

    def _failed(self, error: HelperCallError) -> None:
        if not error.helper_absent:  # the page says so (NotConnected)
            self.failed.emit(error.message)

    def _helper_appeared(self) -> None:
        self.refresh()

    def _helper_gone(self) -> None:
        self.sync([])
