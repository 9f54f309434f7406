"""`RulesModel`: every rule the helper holds, and the changes the Rules page makes to them.

Loaded with ListRules when the helper appears and again on each RulesChanged; the new
list is applied by rule id (`RowModel.sync`), so only changed rows are touched. Saving a
form is AddRule or UpdateRule (which replaces the whole rule: fields the form does not
show are sent back as they were); a refusal comes back as `saveFailed` with the helper's
message. A deleted rule is kept until the next delete so that `undoDelete` can add it
again.
"""

import os
from datetime import datetime
from fnmatch import fnmatchcase

from PySide6.QtCore import Property, QObject, Signal, Slot
from PySide6.QtQml import QmlElement, QmlUncreatable

from netwarden.client.helper_bound import HelperBound
from netwarden.client.helper_client import HelperCallError, HelperClient, to_dbus_options
from netwarden.models import programs
from netwarden.models.programs import forwarded_name
from netwarden.models.row_model import RowModel
from netwarden_common.rules import forwarded_matches, members, summary
from netwarden_common.users import user_name as login_name

QML_IMPORT_NAME = "Netwarden.Backend"
QML_IMPORT_MAJOR_VERSION = 1

# Kept by the helper, never sent back: counters, and the administrator's file a rule
# comes from (`source`; such rules cannot be changed over D-Bus).
READ_ONLY = ("id", "hits", "last_hit", "created", "source")
FORM_FIELDS = ("action", "exe", "destination", "ports", "protocol", "priority", "note", "profile")
TIP_ENTRIES = 25  # of a set of destinations, in the Rules page's tooltip


def user_name(uid: int | None) -> str:
    """A uid as its user name ("every user" for none)."""
    return "every user" if uid is None else login_name(uid)


def format_time(timestamp: float | None) -> str:
    """A Unix time as local "YYYY-MM-DD HH:MM" ("" for none)."""
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M") if timestamp else ""


def rule_program(rule: dict) -> str:
    """What a rule names as its program, shortly."""
    if rule.get("forwarded_from"):
        return forwarded_name(rule["forwarded_from"])
    if rule.get("exe"):
        name = programs.identity(rule["exe"])[0]
        return f"{os.path.basename(rule['script'])} via {name}" if rule.get("script") else name
    return rule.get("unit") or rule.get("flatpak") or "any program"


def set_tip(text: str, shown: int = TIP_ENTRIES) -> str:
    """A set's entries a line each, up to `shown` (the rest counted); "" for one entry."""
    entries = members(text)
    if len(entries) < 2:
        return ""
    more = len(entries) - shown
    return "\n".join(entries[:shown] + ([f"and {more} more (open the rule for all)"]
                                         if more > 0 else []))  # fmt: skip


def lifetime_text(rule: dict) -> str:
    lifetime = rule.get("lifetime", "forever")
    if lifetime == "until":
        return f"until {format_time(rule.get('expires_at'))}"
    return {"until_quit": "until it quits"}.get(lifetime, lifetime)


def rule_row(rule: dict) -> dict:
    """A rule from the helper as the row the Rules page shows."""
    return {
        "ruleId": rule["id"],
        "ruleAction": rule["action"],
        "program": rule_program(rule),
        "exe": rule.get("exe") or rule.get("unit") or rule.get("flatpak") or "",
        "user": user_name(rule.get("uid")),
        "destination": rule.get("destination", ""),  # in full, for the filter
        "destinationSummary": summary(rule.get("destination", "")),
        "destinationTip": set_tip(rule.get("destination", "")),
        "ports": rule.get("ports", ""),
        "portsSummary": summary(rule.get("ports", ""), shown=4),
        "protocol": rule.get("protocol", ""),
        "lifetime": lifetime_text(rule),
        "priority": rule.get("priority", 0),
        "hits": rule.get("hits", 0),
        "lastHit": format_time(rule.get("last_hit")),
        "lastHitTime": rule.get("last_hit", 0.0),
        "pinned": bool(rule.get("sha256")),
        "pinnedHash": rule.get("sha256", ""),
        "ruleEnabled": bool(rule.get("enabled", True)),
        "note": rule.get("note", ""),
        "managedBy": rule.get("source", ""),
        "profile": rule.get("profile", ""),  # "" for every profile
    }


def describe(rule: dict) -> str:
    """One line naming a rule, for messages."""
    where = summary(rule.get("destination", "")) or "anywhere"
    if rule.get("ports"):
        where += f" port {summary(rule['ports'], shown=4)}"
    return f"{rule['action']} {rule_program(rule)} to {where}"


def rule_from_form(values: dict, base: dict, uid: int | None) -> dict:
    """The rule to send: `base`'s settable fields with the form's `values` over them.

    Empty text fields mean "any" and are left out; `uid` None means every user.
    """
    rule = {k: v for k, v in base.items() if k not in READ_ONLY and k not in FORM_FIELDS}
    rule.pop("uid", None)
    for name in FORM_FIELDS:
        value = values.get(name, "")
        if isinstance(value, str):
            value = value.strip()
            if not value:
                continue
        rule[name] = int(value) if name == "priority" else value
    if uid is not None:
        rule["uid"] = uid
    return rule


@QmlElement
@QmlUncreatable("RulesModel is made by the app")
class RulesModel(HelperBound, RowModel):
    """All rules, in the helper's precedence order."""

    ROLES = (
        "ruleId", "ruleAction", "program", "exe", "user", "destination", "destinationSummary",
        "destinationTip", "ports", "portsSummary", "protocol",
        "lifetime", "priority", "hits", "lastHit", "lastHitTime", "pinned", "pinnedHash",
        "ruleEnabled", "note", "managedBy", "profile",
    )  # fmt: skip
    KEY = "ruleId"

    failed = Signal(str)  # a change the helper refused (enable, delete, undo)
    saveFailed = Signal(str)  # the form's save, refused: the helper's message
    saved = Signal(int)  # the form's save was stored: the rule's id
    deleted = Signal(str)  # a rule was deleted: what it was, for "Undo"
    canUndoChanged = Signal()

    def __init__(self, client: HelperClient, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rules: dict[int, dict] = {}
        self._deleted: dict | None = None
        self._uid = client.caller_uid()
        client.on_signal("RulesChanged", self.reload)
        client.on_signal("RuleHitsChanged", self._hits_changed)
        self._bind_helper(client)

    @Property(int, constant=True)
    def myUid(self) -> int:
        """The uid the helper knows this app by (rules "only for me" carry it)."""
        return self._uid

    @Property(bool, notify=canUndoChanged)
    def canUndo(self) -> bool:
        return self._deleted is not None

    @Slot()
    def reload(self) -> None:
        """Read the rules again (RulesChanged says they changed)."""
        self._client.call("ListRules", "", (), self._load, self._failed)

    def _hits_changed(self, counts: list) -> None:
        """The hit counts and last-hit times of the rules hit lately, in place."""
        changes = {}
        for rule_id, hits, last_hit in counts:
            rule = self._rules.get(rule_id)
            if rule is not None:
                rule.update(hits=hits, last_hit=last_hit)
                changes[rule_id] = {"hits": hits, "lastHit": format_time(last_hit),
                                    "lastHitTime": last_hit}  # fmt: skip
        self.update(changes)

    @Slot(int, result="QVariantMap")
    def rule(self, rule_id: int) -> dict:
        """Rule `rule_id` as the helper sent it (for the edit form)."""
        return dict(self._rules.get(rule_id, {}))

    @Slot(str, str, result=list)
    def rulesFor(self, exe: str, forwarded_from: str = "") -> list[dict]:
        """The rows of the rules that name program `exe` (by path or glob) or any program;
        with `forwarded_from`, the rules for the forwarded traffic from there."""
        found = []
        for row in self._rows:
            rule = self._rules.get(row["ruleId"], {})
            if forwarded_from:
                pattern = rule.get("forwarded_from", "")
                applies = bool(pattern) and forwarded_matches(pattern, forwarded_from)
            else:
                named = rule.get("exe", "")
                applies = not (rule.get("unit") or rule.get("flatpak")
                               or rule.get("forwarded_from")) and (
                    not named or fnmatchcase(exe, named))  # fmt: skip
            if applies:
                found.append(dict(row))
        return found

    @Slot(int, bool)
    def setEnabled(self, rule_id: int, enabled: bool) -> None:
        self._client.call("SetRuleEnabled", "tb", (rule_id, enabled), lambda: None,
                          self._failed)  # fmt: skip

    @Slot(int, "QVariantMap", bool)
    def save(self, rule_id: int, values: dict, every_user: bool) -> None:
        """Store the form: a new rule when `rule_id` < 0, else replace rule `rule_id`."""
        base = self._rules.get(rule_id, {})
        # Not for every user: for the user the rule was for (another's, edited by an
        # administrator, stays theirs), or for this user when it is new.
        # Forwarded traffic has no user at all.
        owner = None if every_user or base.get("forwarded_from") else base.get("uid", self.myUid)
        rule = rule_from_form(values, base, owner)
        try:
            options = to_dbus_options(rule)
        except (TypeError, ValueError) as exc:
            self.saveFailed.emit(str(exc))
            return
        if rule_id < 0:
            self._client.call("AddRule", "a{sv}", (options,), self._stored, self._save_failed)
        else:
            self._client.call("UpdateRule", "ta{sv}", (rule_id, options), self._stored,
                              self._save_failed)  # fmt: skip

    @Slot(int)
    def remove(self, rule_id: int) -> None:
        """Delete a rule; `deleted` then offers to undo it."""
        rule = self._rules.get(rule_id)
        if rule is None:
            return

        def done() -> None:
            self._deleted = rule
            self.canUndoChanged.emit()
            self.deleted.emit(describe(rule))

        self._client.call("DeleteRule", "t", (rule_id,), done, self._failed)

    @Slot()
    def undoDelete(self) -> None:
        """Add the last deleted rule again (its hit counter starts afresh)."""
        if self._deleted is None:
            return
        rule = {k: v for k, v in self._deleted.items() if k not in READ_ONLY}
        self._deleted = None
        self.canUndoChanged.emit()
        self._client.call("AddRule", "a{sv}", (to_dbus_options(rule),), lambda _rule: None,
                          self._failed)  # fmt: skip

    def _stored(self, rule: dict) -> None:
        self.saved.emit(rule["id"])

    def _save_failed(self, error: HelperCallError) -> None:
        self.saveFailed.emit(error.message)

    def _failed(self, error: HelperCallError) -> None:
        if error.helper_absent:  # the page says so (NotConnected)
            return
        self.failed.emit(error.message)

    def _helper_appeared(self) -> None:
        self.reload()

    def _helper_gone(self) -> None:
        self._load([])

    def _load(self, rules: list[dict]) -> None:
        self._rules = {rule["id"]: rule for rule in rules}
        self.sync([rule_row(rule) for rule in rules])
