"""The helper's D-Bus object: `io.github.netwarden.Helper1` at `/io/github/netwarden/Helper1`.

Each method is exported through `authorized_method`, so polkit answers before it runs;
every argument is checked (`dbus_values`, `rules.validate`, `settings.updated`) before
anything changes. The service is also the firewall's prompter: apps register as prompt
agents, and a prompt is sent only to the agents of the user whose program it is (and to
agents an administrator registered for all users), never broadcast. The interface is
documented in docs/dbus-api.md.
"""

import time
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import dbus
import dbus.service

from netwarden_helper import __version__
from netwarden_helper.alerts import RESOLUTIONS, Alert, alert_record, block_rule
from netwarden_helper.answers import Answer, AnswerError
from netwarden_helper.api import (
    ACTION_ANSWER_PROMPT,
    ACTION_MANAGE_OWN_RULES,
    ACTION_MANAGE_RULES,
    ACTION_MONITOR,
    ACTION_SETTINGS,
    INTERFACE,
    OBJECT_PATH,
)
from netwarden_helper.authorization import Caller, authorized_method
from netwarden_helper.bus_peers import BusPeers
from netwarden_helper.daemon import Helper
from netwarden_helper.dbus_values import dictionary, options, plain
from netwarden_helper.errors import InvalidArgument, NotFound
from netwarden_helper.firewall import Prompt, UnknownPrompt
from netwarden_helper.pins import AlertResolved, UnknownAlert
from netwarden_helper.polkit import PolkitAuthority
from netwarden_helper.rule_files import RuleFileError, dump_rules, load_rules
from netwarden_helper.rules import RULE_FIELDS, Rule, RuleError, validate
from netwarden_helper.service_blocklists import BlocklistMethods
from netwarden_helper.service_history import HistoryMethods
from netwarden_helper.settings import SettingsError


@dataclass(frozen=True)
class PromptAgent:
    """An app that answers prompts: for its user's programs, or for everyone's."""

    uid: int
    all_users: bool

    def answers_for(self, uid: int) -> bool:
        return self.all_users or self.uid == uid


def rule_record(rule: Rule, source: str = "") -> dict[str, Any]:
    """A rule as its a{sv} fields (None fields left out), with the administrator's file
    it comes from as `source` ("" for the user's rules)."""
    return {**{name: getattr(rule, name) for name in RULE_FIELDS}, "source": source}


def prompt_record(prompt: Prompt) -> dict[str, Any]:
    """A prompt as the app shows it."""
    flow, process = prompt.flow, prompt.process
    return {
        "id": prompt.id,
        "reason": prompt.reason,
        "created": prompt.created,
        "deadline": prompt.deadline,
        "exe": flow.exe,
        "sha256": flow.sha256,
        "uid": flow.uid,
        "destination": flow.dst,
        "hosts": list(flow.hosts),
        "port": flow.dport,
        "protocol": flow.protocol,
        "unit": flow.unit,
        "flatpak": flow.flatpak,
        "script": flow.script,
        "script_sha256": flow.script_sha256,
        "pid": process.pid if process else None,
        "user": process.user if process else None,
        "cmdline": list(process.cmdline) if process else [],
        "exe_deleted": process.exe_deleted if process else False,
        "parents": [f"{pid} {exe}" for pid, exe in process.parents] if process else [],
        "pinned_rule": prompt.pinned_rule.id if prompt.pinned_rule else None,
    }


def _rule_fields(values: Mapping) -> Rule:
    try:
        return validate(plain(values))
    except RuleError as exc:
        raise InvalidArgument(str(exc)) from None


def _for_rules(caller: Caller, *rules: Rule) -> str:
    """Rules only for the caller's own programs need less than anyone else's."""
    own = all(rule.uid is not None and rule.uid == caller.uid for rule in rules)
    return ACTION_MANAGE_OWN_RULES if own else ACTION_MANAGE_RULES


class HelperService(BlocklistMethods, HistoryMethods):
    """The object clients talk to; it delegates every decision to the helper's parts."""

    def __init__(self, bus: dbus.Bus, authority: PolkitAuthority, helper: Helper) -> None:
        super().__init__(bus, OBJECT_PATH)
        self.authority = authority
        self._helper = helper
        self._firewall = helper.firewall
        self._started_at = time.time()
        self._agents: BusPeers[PromptAgent] = BusPeers(
            self.connection, lambda name: self._firewall.prompters_changed()
        )
        self._told: dict[int, set[str]] = {}  # prompt id -> agents it was sent to
        self._firewall.prompter = self
        self._firewall.on_rules_changed = self.RulesChanged
        self._serve_history(helper.history, helper.history.loop)
        self._serve_blocklists(helper.blocklists)
        helper.pins.listener = self

    def close(self) -> None:
        """Stop serving: no more prompts or traffic signals, the object leaves the bus."""
        self._firewall.prompter = None
        self._firewall.on_rules_changed = None
        self._helper.pins.listener = None
        self.stop_serving_history()
        self.remove_from_connection()

    # Status and settings

    @authorized_method(ACTION_MONITOR, out_signature="a{sv}")
    def GetStatus(self, caller: Caller) -> dbus.Dictionary:
        """Version, start time, uptime, netfilter backend, failure mode, counters."""
        helper = self._helper
        return dictionary(
            {
                "version": __version__,
                "started_at": int(self._started_at),
                "uptime": time.time() - self._started_at,
                "backend": helper.backend.name,
                "fail_closed": helper.interception.fail_closed,
                "counters": dict(self._firewall.status()),
            }
        )

    @authorized_method(ACTION_MONITOR, out_signature="a{sv}")
    def GetSettings(self, caller: Caller) -> dbus.Dictionary:
        """Every setting with its value."""
        return self._settings_record()

    def _settings_record(self) -> dbus.Dictionary:
        settings = self._firewall.settings
        return dictionary({f.name: getattr(settings, f.name) for f in fields(settings)})

    @authorized_method(ACTION_SETTINGS, in_signature="a{sv}", out_signature="a{sv}")
    def SetSettings(self, caller: Caller, values: dbus.Dictionary) -> dbus.Dictionary:
        """Change some settings; returns all of them. All or nothing."""
        try:
            self._helper.change_settings(plain(values))
        except SettingsError as exc:
            raise InvalidArgument(str(exc)) from None
        current = self._settings_record()
        self.SettingsChanged(current)
        return current

    @dbus.service.signal(INTERFACE, signature="a{sv}")
    def SettingsChanged(self, settings: dbus.Dictionary) -> None:
        """Broadcast after a settings change, with every setting."""

    # Rules

    @authorized_method(ACTION_MONITOR, out_signature="aa{sv}")
    def ListRules(self, caller: Caller) -> dbus.Array:
        """Every rule, in precedence order: the administrator's (with their `source`
        file), then the user's."""
        firewall = self._firewall
        return dbus.Array([dictionary(rule_record(r, firewall.admin_source(r.id)))
                           for r in firewall.rules()], signature="a{sv}")  # fmt: skip

    @authorized_method(
        lambda self, caller, values: _for_rules(caller, _rule_fields(values)),
        in_signature="a{sv}",
        out_signature="a{sv}",
    )
    def AddRule(self, caller: Caller, values: dbus.Dictionary) -> dbus.Dictionary:
        """Add a rule; returns it as stored (with its id)."""
        stored = self._firewall.add_rule(_rule_fields(values))
        return dictionary(rule_record(stored))

    def _rule(self, rule_id: int) -> Rule:
        for rule in self._firewall.rules():
            if rule.id == rule_id:
                return rule
        raise NotFound(f"there is no rule {rule_id}")

    def _user_rule(self, rule_id: int) -> Rule:
        """Rule `rule_id`, if it is the user's to change (not the administrator's)."""
        rule = self._rule(rule_id)
        source = self._firewall.admin_source(rule.id)
        if source:
            folder = self._helper.rules_dir.folder.parent
            raise InvalidArgument(f"rule {rule_id} is managed by the administrator in "
                                  f"{folder / source}; it cannot be changed here")  # fmt: skip
        return rule

    def _user_rules(self) -> list[Rule]:
        return [r for r in self._firewall.rules() if not self._firewall.admin_source(r.id)]

    @authorized_method(
        lambda self, caller, rule_id, values: _for_rules(
            caller, self._user_rule(rule_id), _rule_fields(values)
        ),
        in_signature="ta{sv}",
        out_signature="a{sv}",
    )
    def UpdateRule(self, caller: Caller, rule_id: int, values: dbus.Dictionary) -> dbus.Dictionary:
        """Replace rule `rule_id`'s fields (its counters stay); returns it."""
        self._user_rule(rule_id)
        self._firewall.replace_rule(rule_id, _rule_fields(values))
        return dictionary(rule_record(self._rule(rule_id)))

    @authorized_method(
        lambda self, caller, rule_id, enabled: _for_rules(caller, self._user_rule(rule_id)),
        in_signature="tb",
    )
    def SetRuleEnabled(self, caller: Caller, rule_id: int, enabled: bool) -> None:
        """Enable or disable a rule."""
        rule = self._user_rule(rule_id)
        self._firewall.replace_rule(rule_id, replace(rule, enabled=bool(enabled)))

    @authorized_method(
        lambda self, caller, rule_id: _for_rules(caller, self._user_rule(rule_id)),
        in_signature="t",
    )
    def DeleteRule(self, caller: Caller, rule_id: int) -> None:
        """Delete a rule."""
        self._user_rule(rule_id)
        self._firewall.delete_rule(rule_id)

    @authorized_method(ACTION_MONITOR, out_signature="s")
    def ExportRules(self, caller: Caller) -> str:
        """Every rule of the user's (not the administrator's) as a Netwarden rules file
        (JSON, see docs/dbus-api.md)."""
        return dump_rules(sorted(self._user_rules(), key=lambda rule: rule.id))

    @authorized_method(ACTION_MANAGE_RULES, in_signature="sa{sv}", out_signature="a{sv}")
    def ImportRules(
        self, caller: Caller, text: str, import_options: dbus.Dictionary
    ) -> dbus.Dictionary:
        """Import a rules file, all or nothing. Options: replace (b) deletes every rule
        first; dry_run (b) only checks and counts. Returns added and removed counts."""
        chosen = options(import_options, {"replace": bool, "dry_run": bool})
        try:
            rules = load_rules(plain(text))
        except RuleFileError as exc:
            raise InvalidArgument(str(exc)) from None
        replace_existing = chosen.get("replace", False)
        if chosen.get("dry_run", False):
            removed = len(self._user_rules()) if replace_existing else 0
            return dictionary({"added": len(rules), "removed": removed, "dry_run": True})
        added, removed = self._firewall.import_rules(rules, replace_existing)
        return dictionary({"added": added, "removed": removed, "dry_run": False})

    @dbus.service.signal(INTERFACE, signature="")
    def RulesChanged(self) -> None:
        """Broadcast after any rule was added, changed or deleted (by a call, an answer,
        expiry or the administrator's files)."""

    # Prompts

    @authorized_method(
        lambda self, caller, agent_options: (
            ACTION_MANAGE_RULES
            if options(agent_options, {"all_users": bool}).get("all_users")
            else ACTION_ANSWER_PROMPT
        ),
        in_signature="a{sv}",
    )
    def RegisterPromptAgent(self, caller: Caller, agent_options: dbus.Dictionary) -> None:
        """Receive PromptRaised/PromptClosed for the caller's own programs, or with
        all_users (b) for every user's (an administrator's action). Ends when the
        caller leaves the bus or calls UnregisterPromptAgent."""
        all_users = options(agent_options, {"all_users": bool}).get("all_users", False)
        name = caller.bus_name
        self._agents.add(name, PromptAgent(caller.uid, all_users))
        self._firewall.prompters_changed()
        for prompt in self._firewall.pending_prompts():
            self._tell(name, prompt)

    @authorized_method(ACTION_ANSWER_PROMPT)
    def UnregisterPromptAgent(self, caller: Caller) -> None:
        """Stop receiving prompts."""
        self._agents.remove(caller.bus_name)

    @authorized_method(ACTION_ANSWER_PROMPT, out_signature="aa{sv}")
    def ListPrompts(self, caller: Caller) -> dbus.Array:
        """Pending prompts the caller may answer: its own programs' (all of them for an
        agent registered for all users)."""
        agent = self._agents.get(caller.bus_name) or PromptAgent(caller.uid, all_users=False)
        return dbus.Array(
            [dictionary(prompt_record(p)) for p in self._firewall.pending_prompts()
             if agent.answers_for(p.flow.uid)],
            signature="a{sv}",
        )  # fmt: skip

    def _prompt(self, prompt_id: int) -> Prompt:
        for prompt in self._firewall.pending_prompts():
            if prompt.id == prompt_id:
                return prompt
        raise NotFound(f"there is no pending prompt {prompt_id} (answered or timed out)")

    @authorized_method(
        lambda self, caller, prompt_id, answer: (
            ACTION_ANSWER_PROMPT
            if self._prompt(prompt_id).flow.uid == caller.uid
            else ACTION_MANAGE_RULES
        ),
        in_signature="ta{sv}",
        out_signature="a{sv}",
    )
    def AnswerPrompt(
        self, caller: Caller, prompt_id: int, answer: dbus.Dictionary
    ) -> dbus.Dictionary:
        """Answer a prompt: action (s: allow, deny), scope (s: host, domain, port, any),
        lifetime (s: once, until_quit, hour, forever), pin (b, default true). Returns
        the rule it made, or an empty dictionary for "once"."""
        chosen = options(answer, {"action": str, "scope": str, "lifetime": str, "pin": bool})
        self._prompt(prompt_id)
        try:
            rule = self._firewall.answer(prompt_id, Answer(**chosen))
        except (AnswerError, TypeError) as exc:
            raise InvalidArgument(str(exc)) from None
        except UnknownPrompt:
            raise NotFound(f"prompt {prompt_id} was decided meanwhile") from None
        return dictionary(rule_record(rule) if rule else {})

    @dbus.service.signal(INTERFACE, signature="a{sv}")
    def PromptRaised(self, prompt: dbus.Dictionary) -> None:
        """A held connection waits for an answer. Declared here for introspection; it is
        sent only to the prompt agents that answer for the program's user (unicast)."""

    @dbus.service.signal(INTERFACE, signature="ts")
    def PromptClosed(self, prompt_id: int, outcome: str) -> None:
        """A prompt is over: answered, rule, timeout, no_agent or shutdown. Sent to the
        agents that were told of the prompt (unicast)."""

    # Hash-change alerts

    @authorized_method(ACTION_MONITOR, out_signature="aa{sv}")
    def ListAlerts(self, caller: Caller) -> dbus.Array:
        """Every hash-change alert, newest first."""
        return dbus.Array(
            [dictionary(alert_record(a)) for a in self._helper.pins.alerts()], signature="a{sv}"
        )

    def _alert_action(self, caller: Caller, alert_id: int) -> str:
        alert = next((a for a in self._helper.pins.alerts() if a.id == alert_id), None)
        if alert is None:
            raise NotFound(f"there is no alert {alert_id}")
        rules = [rule for rule in self._firewall.rules() if rule.id in alert.rules]
        return _for_rules(caller, *rules, block_rule(alert, rules))

    @authorized_method(
        lambda self, caller, alert_id, resolution: self._alert_action(caller, alert_id),
        in_signature="ts",
        out_signature="a{sv}",
    )
    def ResolveAlert(self, caller: Caller, alert_id: int, resolution: str) -> dbus.Dictionary:
        """Resolve an open alert: "trust" re-pins every affected rule to the new binary,
        "block" adds a deny rule for it. (To decide later, do nothing: the alert stays
        open and the new binary gets no connection meanwhile.) Returns the alert."""
        if resolution not in RESOLUTIONS:
            raise InvalidArgument("resolution: must be trust or block")
        try:
            alert = self._helper.pins.resolve(int(alert_id), str(resolution))
        except UnknownAlert:
            raise NotFound(f"there is no alert {alert_id}") from None
        except AlertResolved as exc:
            raise InvalidArgument(str(exc)) from None
        return dictionary(alert_record(alert))

    @dbus.service.signal(INTERFACE, signature="a{sv}")
    def AlertRaised(self, alert: dbus.Dictionary) -> None:
        """A pinned program's binary changed (state open, or auto_trusted for a verified
        package update). Sent to prompt agents and watchers (unicast)."""

    @dbus.service.signal(INTERFACE, signature="a{sv}")
    def AlertResolved(self, alert: dbus.Dictionary) -> None:
        """An alert was trusted or blocked. Sent to prompt agents and watchers (unicast)."""

    def alert_raised(self, alert: Alert) -> None:
        self._tell_everyone("AlertRaised", dictionary(alert_record(alert)))

    def alert_resolved(self, alert: Alert) -> None:
        self._tell_everyone("AlertResolved", dictionary(alert_record(alert)))

    def _tell_everyone(self, member: str, record: dbus.Dictionary) -> None:
        for peers in (self._agents, self._watchers):
            for name, _value in peers.items():
                peers.send(name, member, "a{sv}", record)

    # The firewall's prompter

    def can_ask(self, uid: int) -> bool:
        return any(agent.answers_for(uid) for _name, agent in self._agents.items())

    def prompt_raised(self, prompt: Prompt) -> None:
        for name, agent in self._agents.items():
            if agent.answers_for(prompt.flow.uid):
                self._tell(name, prompt)

    def _tell(self, name: str, prompt: Prompt) -> None:
        self._told.setdefault(prompt.id, set()).add(name)
        self._agents.send(name, "PromptRaised", "a{sv}", dictionary(prompt_record(prompt)))

    def prompt_closed(self, prompt_id: int, outcome: str) -> None:
        for name in self._told.pop(prompt_id, set()):
            self._agents.send(name, "PromptClosed", "ts", dbus.UInt64(prompt_id), outcome)
