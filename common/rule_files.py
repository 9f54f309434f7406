"""Netwarden's rules file format (JSON), for export and import. Pure: no I/O.

    {"format": "netwarden-rules", "version": 1,
     "profiles": [{"name": "Work", "uuid": "", "ssid": "corp-wifi"}, ...],
     "rules": [{"action": "allow", "exe": "/usr/bin/curl", ..., "hits": 3}, ...]}

Every rule field is written (None fields left out), including the counters `hits`,
`last_hit` and `created`, so an export imported again gives the same rules. A rule's
`profile` names one of the file's `profiles` (the list is optional: a profile a rule
names that the file does not list is one with no network). Reading validates every rule
and profile before returning any; an error names the rule or profile and the field.
"""

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

from netwarden_common.errors import BadValue
from netwarden_common.profiles import Profile, ProfileError, checked
from netwarden_common.rules import RULE_FIELDS, Rule, RuleError, validate

FORMAT = "netwarden-rules"
VERSION = 1
MAX_BYTES = 16 << 20
COUNTERS = {"hits": (int,), "last_hit": (int, float), "created": (int, float)}


class RuleFileError(BadValue):
    """The file cannot be imported; the message says where and why."""


@dataclass(frozen=True)
class RulesFile:
    """What a rules file holds: rules, and the profiles they belong to."""

    rules: list[Rule]
    profiles: list[Profile]


def dump_rules(rules: list[Rule], profiles: Sequence[Profile] = ()) -> str:
    """The rules (and the profiles, if any) as a rules file."""
    records = [
        {name: getattr(rule, name) for name in RULE_FIELDS
         if name != "id" and getattr(rule, name) is not None}
        for rule in rules
    ]  # fmt: skip
    document: dict = {"format": FORMAT, "version": VERSION}
    if profiles:
        document["profiles"] = [asdict(profile) for profile in profiles]
    return json.dumps({**document, "rules": records}, indent=2)


def load_rules(text: str) -> list[Rule]:
    """The rules of a rules file, all validated, or `RuleFileError`."""
    return load_rules_file(text).rules


def load_rules_file(text: str) -> RulesFile:
    """The rules and profiles of a rules file, all validated, or `RuleFileError`. Every
    profile a rule names is among `profiles`."""
    if len(text) > MAX_BYTES:
        raise RuleFileError(f"the file is larger than {MAX_BYTES >> 20} MiB")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RuleFileError(f"not JSON: {exc}") from None
    except RecursionError:
        raise RuleFileError("not a rules file: nested too deeply") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise RuleFileError(f'not a Netwarden rules file (no "format": "{FORMAT}")')
    if document.get("version") != VERSION:
        raise RuleFileError(f"version {document.get('version')!r} is not {VERSION}")
    records = document.get("rules")
    if not isinstance(records, list):
        raise RuleFileError('"rules" must be a list')
    rules = [_rule(index, record) for index, record in enumerate(records)]
    profiles = _profiles(document.get("profiles", []))
    listed = {profile.name for profile in profiles}
    named = dict.fromkeys(rule.profile for rule in rules if rule.profile not in listed)
    return RulesFile(rules, profiles + [Profile(name) for name in named if name])


def _profiles(records: object) -> list[Profile]:
    if not isinstance(records, list):
        raise RuleFileError('"profiles" must be a list')
    profiles: dict[str, Profile] = {}
    for index, record in enumerate(records):
        if not isinstance(record, dict) or set(record) - {"name", "uuid", "ssid"}:
            raise RuleFileError(f"profiles[{index}]: must be an object of name, uuid, ssid")
        try:
            profile = checked(record.get("name"), record.get("uuid", ""), record.get("ssid", ""))
        except ProfileError as exc:
            raise RuleFileError(f"profiles[{index}].{exc}") from None
        if profile.name in profiles:
            raise RuleFileError(f"profiles[{index}]: {profile.name!r} is listed twice")
        profiles[profile.name] = profile
    return list(profiles.values())


def _rule(index: int, record: object) -> Rule:
    if not isinstance(record, dict):
        raise RuleFileError(f"rules[{index}]: must be an object")
    values = dict(record)
    counters = {name: values.pop(name) for name in COUNTERS if name in values}
    for name, value in counters.items():
        if not isinstance(value, COUNTERS[name]) or isinstance(value, bool) or value < 0:
            raise RuleFileError(f"rules[{index}].{name}: must be a number, not negative")
    try:
        return replace(validate(values), **counters)
    except RuleError as exc:
        raise RuleFileError(f"rules[{index}].{exc}") from None
