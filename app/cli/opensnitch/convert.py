"""OpenSnitch rules converted to Netwarden rules, whole or not at all, and the allow rules
held back so that an import never lets through what OpenSnitch denied.

A rule's operator becomes alternatives of Netwarden fields (`operators`); a `list`
operator needs all of its operators, so their alternatives are combined. Each alternative
is one Netwarden rule (a destination or port set stays one rule, split only where a
rule's limits require). Any operator that cannot be converted skips the rule with every
reason: dropping a condition would make an allow rule let more through.
"""

import fnmatch
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from netwarden.cli.opensnitch.destinations import Context, Unconvertible
from netwarden.cli.opensnitch.operators import Fields, operator_fields, port_ranges
from netwarden.cli.opensnitch.programs import command_program
from netwarden.cli.opensnitch.reading import (
    DEFAULT_ALIASES,
    Unreadable,
    network_aliases,
    rule_documents,
)
from netwarden_common.rules import (
    MAX_ENTRIES,
    MAX_LIST_TEXT,
    MAX_TEXT,
    RuleError,
    is_glob,
    validate,
)

ACTIONS = {"allow": ("allow", False), "deny": ("deny", True), "reject": ("deny", False)}
MAX_RULES_PER_FILE = 256
_GO_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")


@dataclass(frozen=True)
class Converted:
    """One Netwarden rule made from an OpenSnitch rule file (a file may make several)."""

    source: str  # the file name
    name: str
    rule: dict[str, Any]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Skipped:
    """An OpenSnitch rule that cannot be converted, with every reason. `denies`: for a
    deny or reject rule in force, the programs it names (paths or globs; () for every
    program), whose allow rules it holds back."""

    source: str
    name: str
    reasons: tuple[str, ...]
    denies: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Looser:
    """A deny rule in force that was not converted, and the allow rules of its programs:
    imported alone, they would let through what OpenSnitch denied."""

    deny: Skipped
    allows: tuple[Converted, ...]


@dataclass
class Conversion:
    """A rules folder converted: what to import, what was skipped, and the deny rules
    that did not convert with the allow rules they hold back."""

    converted: list[Converted] = field(default_factory=list)  # what to import
    skipped: list[Skipped] = field(default_factory=list)
    looser: list[Looser] = field(default_factory=list)
    held_back: list[Converted] = field(default_factory=list)  # not imported: see `looser`

    def rules_file(self, profile: str = "") -> str:
        """The converted rules as a compact Netwarden rules file (the ImportRules format),
        each in `profile` ("" for every profile; a profile not there yet is made)."""
        rules = [{**item.rule, "profile": profile} if profile else item.rule
                 for item in self.converted]  # fmt: skip
        document: dict[str, Any] = {"format": "netwarden-rules", "version": 1, "rules": rules}
        if profile:
            document["profiles"] = [{"name": profile}]
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def convert_folder(folder: Path, allow_looser: bool = False) -> Conversion:
    """Every `*.json` rule of an OpenSnitch rules folder, converted or skipped; the
    allow rules a skipped deny rule holds back are imported only with `allow_looser`."""
    aliases = network_aliases(folder)
    return convert_documents(rule_documents(folder), aliases, allow_looser)


def convert_documents(
    documents: Iterable[tuple[str, Any]],
    aliases: dict[str, tuple[str, ...]] = DEFAULT_ALIASES,
    allow_looser: bool = False,
) -> Conversion:
    """(file name, parsed JSON) pairs converted; see `convert_folder`."""
    conversion = Conversion()
    for source, document in documents:
        result = convert_rule(source, document, aliases)
        if isinstance(result, Skipped):
            conversion.skipped.append(result)
        else:
            conversion.converted += result
    _hold_back(conversion, allow_looser)
    return conversion


def convert_rule(
    source: str, document: Any, aliases: dict[str, tuple[str, ...]] = DEFAULT_ALIASES
) -> list[Converted] | Skipped:
    """One OpenSnitch rule (parsed JSON) as Netwarden rules, or why it cannot be."""
    if isinstance(document, Unreadable):
        return Skipped(source, "", (f"not a JSON file: {document.why}",))
    if not isinstance(document, dict):
        return Skipped(source, "", ("not an OpenSnitch rule (a JSON object)",))
    name = str(document.get("name") or Path(source).stem)
    reasons: list[str] = []
    base = _base(document, name, reasons)
    ctx = Context("deny" if base.get("action") == "deny" else "allow", dict(aliases))
    alternatives = _conditions(document.get("operator"), "operator", ctx, reasons)
    in_force = base["enabled"] and document.get("duration", "always") == "always"
    denying = base.get("action") == "deny"
    denies = _denied_programs(document) if in_force and denying else None
    if reasons:
        return Skipped(source, name, tuple(reasons), denies)
    rules = [{**base, **_rendered(chunk)} for fields in alternatives for chunk in _chunks(fields)]
    if len(rules) > len(alternatives):
        ctx.note(f"split into {len(rules)} rules: a rule holds {MAX_ENTRIES} destinations at most")
    try:
        for rule in rules:
            validate(rule)
    except RuleError as exc:
        return Skipped(source, name, (f"the converted rule is invalid: {exc}",), denies)
    created = _timestamp(document.get("created"))
    for rule in rules if created is not None else ():
        rule["created"] = created
    return [Converted(source, name, rule, tuple(ctx.notes)) for rule in rules]


def _base(document: dict, name: str, reasons: list[str]) -> dict[str, Any]:
    """The fields every rule made from `document` has."""
    base: dict[str, Any] = {}
    action = document.get("action")
    if action in ACTIONS:
        base["action"], drop = ACTIONS[action]
        if drop:
            base["drop"] = True
    else:
        reasons.append(f"action {action!r}: must be allow, deny or reject")
    _duration(document.get("duration", "always"), reasons)
    enabled = document.get("enabled", False)
    if not isinstance(enabled, bool):
        reasons.append("enabled: must be true or false")
    base["enabled"] = enabled is True
    if document.get("precedence") is True:
        base["priority"] = 1
    description = str(document.get("description") or "")
    note = f"OpenSnitch: {name}" + (f" — {description}" if description else "")
    base["note"] = note[:MAX_TEXT]
    return base


def _duration(duration: Any, reasons: list[str]) -> None:
    if duration == "always":
        return
    if duration == "once":
        reasons.append("duration once: a one-time decision, not a rule to keep")
    elif duration == "until restart":
        reasons.append(
            "duration 'until restart': it ended when OpenSnitch restarted; "
            "Netwarden's temporary rules end with one process or at a time"
        )
    elif isinstance(duration, str) and _GO_DURATION.match(duration):
        reasons.append(f"duration {duration}: a temporary rule, over by now or soon")
    else:
        reasons.append(f"duration {duration!r}: unknown")


def _conditions(operator: Any, where: str, ctx: Context, reasons: list[str]) -> list[Fields]:
    """The alternatives `operator` stands for; reasons added when it cannot convert."""
    if not isinstance(operator, dict):
        reasons.append(f"{where}: missing or not an object")
        return [{}]
    kind = operator.get("type", "simple")
    operand = str(operator.get("operand", ""))
    if kind == "list" or operand == "list":
        return _list(operator, where, ctx, reasons)
    data = operator.get("data", "")
    try:
        if not isinstance(data, str):
            raise Unconvertible("data must be a string")
        return operator_fields(kind, operand, data, ctx)
    except Unconvertible as exc:
        reasons.append(f"{where} ({kind} {operand or '?'}): {exc}")
        return [{}]


def _list_items(operator: dict) -> Any:
    """A list operator's operators: `list`, or in the older format a JSON string in
    `data` (with `list` empty or null)."""
    items = operator.get("list")
    if not items and isinstance(operator.get("data"), str) and operator["data"]:
        try:
            return json.loads(operator["data"])
        except json.JSONDecodeError:
            return None
    return items


def _list(operator: dict, where: str, ctx: Context, reasons: list[str]) -> list[Fields]:
    items = _list_items(operator)
    if not isinstance(items, list) or not items:
        reasons.append(f"{where}: a list operator without operators")
        return [{}]
    combined: list[Fields] = [{}]
    origins: dict[str, str] = {}
    for index, item in enumerate(items):
        at = f"{where}.list[{index}]"
        found = _conditions(item, at, ctx, reasons)
        operand = str(item.get("operand", "?")) if isinstance(item, dict) else "?"
        try:
            merged = (_merge(done, more, origins) for done in combined for more in found)
            combined = [fields for fields in merged if fields is not None]
        except Unconvertible as exc:
            reasons.append(f"{at} ({item.get('type', 'simple')} {operand}): {exc}")
            continue
        for key in {key for fields in found for key in fields}:
            origins.setdefault(key, operand)
        if len(combined) > MAX_RULES_PER_FILE:
            reasons.append(f"{where}: more than {MAX_RULES_PER_FILE} Netwarden rules")
            return [{}]
    if not combined:
        reasons.append(f"{where}: its operators together match no port")
    return combined or [{}]


def _merge(done: Fields, more: Fields, origins: dict[str, str]) -> Fields | None:
    """Both alternatives at once; None when no port satisfies both."""
    merged = dict(done)
    for key, value in more.items():
        if key in merged and merged[key] != value:
            if key != "ports":
                raise Unconvertible(
                    f"a Netwarden rule has one {key}; this rule also names one by "
                    f"{origins.get(key, '?')} (OpenSnitch required both)"
                )
            value = port_ranges(sorted(_ports(merged[key]) & _ports(value)))
            if not value:
                return None
        merged[key] = value
    return merged


def _ports(ranges: tuple[tuple[int, int], ...]) -> set[int]:
    return {port for low, high in ranges for port in range(low, high + 1)}


def _chunks(fields: Fields) -> list[Fields]:
    """`fields` as several alternatives when its destination set is larger than a rule
    may hold (the rules, each for a part of the set, together match the same)."""
    entries = fields.get("destination", ())
    chunks: list[list[str]] = [[]]
    size = 0
    for entry in entries:
        if len(chunks[-1]) == MAX_ENTRIES or size + len(entry) + 2 > MAX_LIST_TEXT:
            chunks.append([])
            size = 0
        chunks[-1].append(entry)
        size += len(entry) + 2
    if len(chunks) == 1:
        return [fields]
    return [{**fields, "destination": tuple(chunk)} for chunk in chunks]


def _rendered(fields: Fields) -> dict[str, Any]:
    rule = dict(fields)
    if "destination" in rule:
        rule["destination"] = ", ".join(rule["destination"])
    if "ports" in rule:
        rule["ports"] = ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in rule["ports"])
    return rule


def _denied_programs(document: dict) -> tuple[str, ...]:
    """The program paths or globs a deny rule names by `process.path` or
    `process.command`; () for every program, also when they cannot be told."""
    operator = document.get("operator")
    items: Any = [operator]
    if isinstance(operator, dict) and "list" in (operator.get("type"), operator.get("operand")):
        items = _list_items(operator)
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, dict) or not isinstance(item.get("data"), str):
            continue
        kind, operand, data = item.get("type", "simple"), item.get("operand"), item["data"]
        ctx = Context("deny")
        try:
            if operand == "process.path":
                found = [f.get("exe", "") for f in operator_fields(kind, operand, data, ctx)]
                return () if "" in found else tuple(found)
            if operand == "process.command":
                return (command_program(data),)
        except Unconvertible:
            return ()
    return ()


def _hold_back(conversion: Conversion, allow_looser: bool) -> None:
    """Find the allow rules each unconverted deny rule in force would leave looser, and
    unless `allow_looser`, move them from `converted` to `held_back`."""
    allows = [item for item in conversion.converted if item.rule["action"] == "allow"]
    overlapping: dict[tuple[str, ...], tuple[Converted, ...]] = {}
    for deny in (item for item in conversion.skipped if item.denies is not None):
        assert deny.denies is not None
        if deny.denies not in overlapping:
            overlapping[deny.denies] = tuple(
                item for item in allows if _overlaps(deny.denies, item.rule.get("exe", ""))
            )
        conversion.looser.append(Looser(deny, overlapping[deny.denies]))
    if allow_looser:
        return
    held = {id(item) for looser in conversion.looser for item in looser.allows}
    conversion.held_back = [item for item in conversion.converted if id(item) in held]
    conversion.converted = [item for item in conversion.converted if id(item) not in held]


def _overlaps(denied: tuple[str, ...], exe: str) -> bool:
    """Whether a program the deny rule names may be one the allow rule (`exe`) names."""
    if not denied or not exe or "" in denied:
        return True
    for program in denied:
        if program == exe or fnmatch.fnmatchcase(program, exe):
            return True
        if is_glob(program) and (
            fnmatch.fnmatchcase(exe, program) or (is_glob(exe) and _prefixes_meet(program, exe))
        ):
            return True
    return False


def _prefixes_meet(first: str, second: str) -> bool:
    """Two globs may match one path unless their text before any wildcard differs."""
    one, two = re.split(r"[*?\[]", first)[0], re.split(r"[*?\[]", second)[0]
    return one.startswith(two) or two.startswith(one)


def _timestamp(value: Any) -> float | None:
    """An RFC 3339 time (Go writes nanoseconds) as Unix seconds, or None."""
    if not isinstance(value, str):
        return None
    trimmed = re.sub(r"(\.\d{6})\d+", r"\1", value).replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(trimmed)
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo else None
