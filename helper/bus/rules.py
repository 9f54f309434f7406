"""Rules over the bus: list, add, update, enable, delete, export and import.

A rule only for the caller's own programs needs `manage-own-rules`; any other rule (for
everyone, for another user) needs `manage-rules`. The administrator's rules (rules.d) are
listed with their `source` file and cannot be changed here. `RulesChanged` is broadcast
after every change, whoever made it (a call, an answer, expiry, the administrator's
files). A rule's `profile` must be "" (every profile) or an existing profile's name (else
NotFound); an export carries the profiles, an import adds those missing.
`RuleHitsChanged` is broadcast every few seconds while rules are hit: their new
hit counts and last-hit times.
"""

from collections.abc import Mapping
from dataclasses import replace

import dbus

from netwarden_common.api import ACTION_MANAGE_OWN_RULES, ACTION_MANAGE_RULES, ACTION_MONITOR
from netwarden_common.dbus_values import dictionary, options, plain
from netwarden_common.errors import BadValue, Missing
from netwarden_common.rule_files import MAX_BYTES, dump_rules, load_rules_file
from netwarden_common.rules import Rule, validate
from netwarden_helper.bus.authorization import Caller, authorized_method
from netwarden_helper.bus.peers import Signals
from netwarden_helper.bus.records import hit_counts, rule_record
from netwarden_helper.policy.profiles import Profiles
from netwarden_helper.policy.resolvers import BUILTIN_SOURCE
from netwarden_helper.policy.rule_book import RuleBook


def for_rules(caller: Caller, *rules: Rule) -> str:
    """Rules only for the caller's own programs need less than anyone else's."""
    own = all(rule.uid is not None and rule.uid == caller.uid for rule in rules)
    return ACTION_MANAGE_OWN_RULES if own else ACTION_MANAGE_RULES


def _rule_fields(values: Mapping) -> Rule:
    return validate(plain(values))


class RulesMethods:
    def __init__(
        self, rule_book: RuleBook, profiles: Profiles, admin_folder: str, signals: Signals
    ) -> None:
        self._book = rule_book
        self._profiles = profiles
        self._admin_folder = admin_folder
        self._signals = signals

    def _in_profile(self, rule: Rule) -> Rule:
        """`rule`, if the profile it names exists (`Missing` otherwise)."""
        self._profiles.check_rule_profile(rule.profile)
        return rule

    def rules_changed(self) -> None:
        self._signals.send("RulesChanged", "")

    def hits_changed(self, totals: dict[int, tuple[int, float]]) -> None:
        self._signals.send("RuleHitsChanged", "a(txd)", hit_counts(totals))

    @authorized_method(ACTION_MONITOR, out_signature="aa{sv}")
    def ListRules(self, caller: Caller) -> dbus.Array:
        """Every rule, in precedence order: the administrator's (with their `source`
        file), then the user's."""
        book = self._book
        return dbus.Array([dictionary(rule_record(book.counted(r), book.admin_source(r.id or 0)))
                           for r in book.rules()], signature="a{sv}")  # fmt: skip

    @authorized_method(
        lambda self, caller, values: for_rules(caller, _rule_fields(values)),
        in_signature="a{sv}",
        out_signature="a{sv}",
    )
    def AddRule(self, caller: Caller, values: dbus.Dictionary) -> dbus.Dictionary:
        """Add a rule; returns it as stored (with its id)."""
        rule = self._in_profile(_rule_fields(values))
        return dictionary(rule_record(self._book.add_rule(rule)))

    def user_rule(self, rule_id: int) -> Rule:
        """Rule `rule_id`, if it is the user's to change (not the administrator's)."""
        rule = self._book.rule(rule_id)
        if rule is None:
            raise Missing(f"there is no rule {rule_id}")
        source = self._book.admin_source(rule_id)
        if source == BUILTIN_SOURCE:
            raise BadValue(f"rule {rule_id} is built in (DNS to this computer's DNS "
                           "servers); turn it off with the setting dns_to_resolvers")  # fmt: skip
        if source:
            raise BadValue(f"rule {rule_id} is managed by the administrator in "
                           f"{self._admin_folder}/{source}; it cannot be changed here")  # fmt: skip
        return rule

    @authorized_method(
        lambda self, caller, rule_id, values: for_rules(
            caller, self.user_rule(rule_id), _rule_fields(values)
        ),
        in_signature="ta{sv}",
        out_signature="a{sv}",
    )
    def UpdateRule(self, caller: Caller, rule_id: int, values: dbus.Dictionary) -> dbus.Dictionary:
        """Replace rule `rule_id`'s fields (its counters stay); returns it."""
        self.user_rule(rule_id)
        self._book.replace_rule(rule_id, self._in_profile(_rule_fields(values)))
        return dictionary(rule_record(self.user_rule(rule_id)))

    @authorized_method(
        lambda self, caller, rule_id, enabled: for_rules(caller, self.user_rule(rule_id)),
        in_signature="tb",
    )
    def SetRuleEnabled(self, caller: Caller, rule_id: int, enabled: bool) -> None:
        """Enable or disable a rule."""
        rule = self.user_rule(rule_id)
        self._book.replace_rule(rule_id, replace(rule, enabled=bool(enabled)))

    @authorized_method(
        lambda self, caller, rule_id: for_rules(caller, self.user_rule(rule_id)),
        in_signature="t",
    )
    def DeleteRule(self, caller: Caller, rule_id: int) -> None:
        """Delete a rule."""
        self.user_rule(rule_id)
        self._book.delete_rule(rule_id)

    @authorized_method(ACTION_MONITOR, out_signature="s")
    def ExportRules(self, caller: Caller) -> str:
        """Every rule of the user's (not the administrator's) as a Netwarden rules file
        (JSON, see docs/dbus-api.md)."""
        rules = [self._book.counted(rule) for rule in self._book.user_rules()]
        return dump_rules(rules, self._profiles.all())

    @authorized_method(ACTION_MANAGE_RULES, in_signature="sa{sv}", out_signature="a{sv}")
    def ImportRules(
        self, caller: Caller, text: str, import_options: dbus.Dictionary
    ) -> dbus.Dictionary:
        """Import a rules file, all or nothing. Options: replace (b) deletes every rule
        first; dry_run (b) only checks and counts. Returns added and removed counts."""
        chosen = options(import_options, {"replace": bool, "dry_run": bool})
        loaded = load_rules_file(plain(text, max_string=MAX_BYTES))  # a file may be long
        replace_existing = chosen.get("replace", False)
        if chosen.get("dry_run", False):
            removed = len(self._book.user_rules()) if replace_existing else 0
            return dictionary({"added": len(loaded.rules), "removed": removed, "dry_run": True})
        self._profiles.add(loaded.profiles, caller.uid)
        added, removed = self._book.import_rules(loaded.rules, replace_existing)
        return dictionary({"added": added, "removed": removed, "dry_run": False})
