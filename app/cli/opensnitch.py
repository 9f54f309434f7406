"""OpenSnitch rule files converted to Netwarden rules. Pure but for reading the folder.

An OpenSnitch rules folder holds one JSON rule per file: `name`, `enabled`,
`precedence`, `action` (allow, deny, reject), `duration` (always, until restart, once,
or a Go duration like 1h) and one `operator` {`type`: simple, regexp, network, list or
lists; `operand`; `data`; `sensitive`; `list`: the operators of a list, all of which
must match}. A rule is converted only when every one of its conditions has an exact
Netwarden equivalent: dropping a condition would make the rule broader (an allow rule
letting more through, a deny rule blocking more), so a rule with any condition that
cannot be expressed is skipped, with every reason. The mapping is documented in
docs/cli.md, "OpenSnitch import".
"""

import ipaddress
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from netwarden_common.rules import MAX_TEXT, RuleError, validate

ACTIONS = {"allow": ("allow", False), "deny": ("deny", True), "reject": ("deny", False)}
PROTOCOLS = {
    "tcp": "tcp",
    "udp": "udp",
    "udplite": "udplite",
    "icmp": "icmp",
    "sctp": "sctp",
    "tcp6": "tcp",
    "udp6": "udp",
    "udplite6": "udplite",
    "icmp6": "icmpv6",
    "icmpv6": "icmpv6",
}
# Operands with no Netwarden equivalent, and why.
UNSUPPORTED = {
    "process.id": "a process id changes on every run; Netwarden ties only temporary "
    "(until_quit) rules to a process",
    "process.command": "Netwarden rules do not match command lines, only the program's "
    "path, systemd unit or flatpak id",
    "process.hash.md5": "Netwarden pins programs by sha256; an md5 hash cannot be turned "
    "into a sha256 (pin the program again by answering its prompt)",
    "process.hash.sha1": "Netwarden pins programs by sha256; a sha1 hash cannot be turned "
    "into a sha256 (pin the program again by answering its prompt)",
    "source.ip": "Netwarden rules do not match the source address",
    "source.port": "Netwarden rules do not match the source port",
    "source.network": "Netwarden rules do not match the source address",
    "iface.in": "Netwarden rules do not match network interfaces",
    "iface.out": "Netwarden rules do not match network interfaces",
}
FIELD_OF = {
    "process.path": "exe",
    "user.id": "uid",
    "dest.host": "destination",
    "dest.ip": "destination",
    "dest.network": "destination",
    "dest.port": "ports",
    "protocol": "protocol",
}
_GO_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")
_LITERAL = re.compile(r"[A-Za-z0-9/_\-~,=:@%+ ]")  # + is a literal only after a backslash
_DOMAIN_PREFIXES = (r"^(.*\.)?", r"^(.+\.)?", r"^([a-z0-9.-]+\.)?", r"^(|.*\.)")


@dataclass(frozen=True)
class Converted:
    """An OpenSnitch rule turned into Netwarden rule fields."""

    source: str  # the file name
    name: str
    rule: dict[str, Any]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Skipped:
    """An OpenSnitch rule that cannot be converted, with every reason."""

    source: str
    name: str
    reasons: tuple[str, ...]


@dataclass
class Conversion:
    converted: list[Converted] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def rules_file(self) -> str:
        """The converted rules as a Netwarden rules file (the ImportRules format)."""
        rules = [item.rule for item in self.converted]
        return json.dumps({"format": "netwarden-rules", "version": 1, "rules": rules}, indent=2)


class _Unconvertible(Exception):
    pass


def convert_folder(folder: Path) -> Conversion:
    """Every `*.json` rule of an OpenSnitch rules folder, converted or skipped."""
    files = sorted(folder.glob("*.json"))
    return convert_documents((path.name, _read(path)) for path in files)


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return _Unreadable(str(exc))


@dataclass(frozen=True)
class _Unreadable:
    why: str


def convert_documents(documents: Iterable[tuple[str, Any]]) -> Conversion:
    """(file name, parsed JSON) pairs converted; see `convert_rule`."""
    conversion = Conversion()
    for source, document in documents:
        result = convert_rule(source, document)
        if isinstance(result, Converted):
            conversion.converted.append(result)
        else:
            conversion.skipped.append(result)
    return conversion


def convert_rule(source: str, document: Any) -> Converted | Skipped:
    """One OpenSnitch rule (parsed JSON) as Netwarden rule fields, or why it cannot be."""
    if isinstance(document, _Unreadable):
        return Skipped(source, "", (f"not a JSON file: {document.why}",))
    if not isinstance(document, dict):
        return Skipped(source, "", ("not an OpenSnitch rule (a JSON object)",))
    name = str(document.get("name") or Path(source).stem)
    reasons: list[str] = []
    warnings: list[str] = []
    rule: dict[str, Any] = {}
    _action(document, rule, reasons)
    _duration(document.get("duration", "always"), reasons)
    enabled = document.get("enabled", False)
    if not isinstance(enabled, bool):
        reasons.append("enabled: must be true or false")
    rule["enabled"] = enabled is True
    if document.get("precedence") is True:
        rule["priority"] = 1
    conditions: dict[str, tuple[str, Any]] = {}
    _operator(document.get("operator"), "operator", conditions, reasons, warnings)
    rule.update({name_: value for name_, (_operand, value) in conditions.items()})
    description = str(document.get("description") or "")
    rule["note"] = f"OpenSnitch: {name}" + (f" — {description}" if description else "")
    rule["note"] = rule["note"][:MAX_TEXT]
    if reasons:
        return Skipped(source, name, tuple(reasons))
    try:
        validate(rule)
    except RuleError as exc:
        return Skipped(source, name, (f"the converted rule is invalid: {exc}",))
    created = _timestamp(document.get("created"))
    if created is not None:
        rule["created"] = created
    return Converted(source, name, rule, tuple(warnings))


def _action(document: dict, rule: dict[str, Any], reasons: list[str]) -> None:
    action = document.get("action")
    if action not in ACTIONS:
        reasons.append(f"action {action!r}: must be allow, deny or reject")
        return
    rule["action"], drop = ACTIONS[action]
    if drop:
        rule["drop"] = True


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


def _operator(
    operator: Any,
    where: str,
    conditions: dict[str, tuple[str, Any]],
    reasons: list[str],
    warnings: list[str],
) -> None:
    if not isinstance(operator, dict):
        reasons.append(f"{where}: missing or not an object")
        return
    kind = operator.get("type", "simple")
    operand = str(operator.get("operand", ""))
    data = operator.get("data", "")
    label = f"{where} ({kind} {operand or '?'})"
    try:
        if kind == "list" or operand == "list":
            _list(operator, where, conditions, reasons, warnings)
            return
        if kind == "lists" or operand.startswith("lists."):
            raise _Unconvertible(
                "list files (blocklists) are not imported; subscribe to them as blocklists"
            )
        if operand == "true":
            return
        if operand in UNSUPPORTED or operand.startswith("process.env."):
            raise _Unconvertible(
                UNSUPPORTED.get(operand, "Netwarden rules do not match environment variables")
            )
        if operand not in FIELD_OF:
            raise _Unconvertible("unknown operand")
        if not isinstance(data, str):
            raise _Unconvertible("data must be a string")
        value = _value(kind, operand, data, warnings)
    except _Unconvertible as exc:
        reasons.append(f"{label}: {exc}")
        return
    name = FIELD_OF[operand]
    if name in conditions and conditions[name][1] != value:
        other = conditions[name][0]
        reasons.append(
            f"{label}: a Netwarden rule has one {name}; this rule also names one by {other}"
        )
        return
    conditions[name] = (operand, value)


def _list(
    operator: dict,
    where: str,
    conditions: dict[str, tuple[str, Any]],
    reasons: list[str],
    warnings: list[str],
) -> None:
    items = operator.get("list")
    if items is None and isinstance(operator.get("data"), str):
        try:
            items = json.loads(operator["data"])
        except json.JSONDecodeError:
            items = None
    if not isinstance(items, list) or not items:
        reasons.append(f"{where}: a list operator without operators")
        return
    for index, item in enumerate(items):
        _operator(item, f"{where}.list[{index}]", conditions, reasons, warnings)


def _value(kind: str, operand: str, data: str, warnings: list[str]) -> Any:
    """The Netwarden field value for one operator, or `_Unconvertible`."""
    if kind == "regexp":
        return _from_regexp(operand, data)
    if kind == "network":
        if operand != "dest.network":
            raise _Unconvertible("a network operator only applies to dest.network")
        return _network(data)
    if kind != "simple":
        raise _Unconvertible(f"unknown operator type {kind!r}")
    if operand == "process.path":
        if any(c in data for c in "*?["):
            raise _Unconvertible("the path holds *, ? or [, which Netwarden reads as a glob")
        return data
    if operand == "user.id":
        return _number(data, "a user id", 0, 2**32 - 2)
    if operand == "dest.port":
        return str(_number(data, "a port", 1, 65535))
    if operand == "protocol":
        return _protocol(data, warnings)
    if operand == "dest.ip":
        try:
            return str(ipaddress.ip_address(data))
        except ValueError:
            raise _Unconvertible(f"{data!r} is not an IP address") from None
    if operand == "dest.network":
        return _network(data)
    return data.lower().rstrip(".")  # dest.host: Netwarden compares names case-insensitively


def _number(data: str, what: str, low: int, high: int) -> int:
    if not data.isdigit() or not low <= int(data) <= high:
        raise _Unconvertible(f"{data!r} is not {what}")
    return int(data)


def _network(data: str) -> str:
    try:
        return str(ipaddress.ip_network(data, strict=False))
    except ValueError:
        raise _Unconvertible(f"{data!r} is not a network (CIDR)") from None


def _protocol(data: str, warnings: list[str]) -> str:
    name = data.lower()
    if name not in PROTOCOLS:
        raise _Unconvertible(f"protocol {data!r} has no Netwarden equivalent")
    family = "IPv6" if name.endswith("6") and name != "icmpv6" else "IPv4"
    if PROTOCOLS[name] != "icmpv6":
        warnings.append(
            f"protocol {name}: OpenSnitch matches it on {family} only; "
            f"Netwarden's {PROTOCOLS[name]} covers IPv4 and IPv6"
        )
    return PROTOCOLS[name]


def _from_regexp(operand: str, pattern: str) -> Any:
    """A regular expression that says no more than an exact value, a path glob or a
    domain suffix, as that value; any other regular expression is `_Unconvertible`."""
    if operand == "dest.host":
        for prefix in _DOMAIN_PREFIXES:
            if pattern.startswith(prefix):
                parts = _regexp_parts("^" + pattern[len(prefix) :])
                if len(parts) == 1 and isinstance(parts[0], str):
                    return "*." + parts[0].lower()
    parts = _regexp_parts(pattern)
    if len(parts) == 1 and isinstance(parts[0], str):
        return _value("simple", operand, parts[0], [])
    if operand == "process.path" and all(isinstance(p, str) for p in parts if p):
        literal = "".join(p for p in parts if p)
        if any(c in literal for c in "*?["):
            raise _Unconvertible("the path holds *, ? or [, which Netwarden reads as a glob")
        return "".join(p if p else "*" for p in parts)
    raise _Unconvertible(
        f"the regular expression {pattern!r} says more than an exact "
        "value"
        + (", a glob" if operand == "process.path" else "")
        + (" or a *.domain" if operand == "dest.host" else "")
    )


def _regexp_parts(pattern: str) -> list[str | None]:
    """A Go regular expression as literal text and None for each `.*`; `_Unconvertible`
    when it uses anything else. Go's MatchString searches, so a side without an anchor
    (^ or $) is a `.*` there."""
    parts: list[str | None] = [] if pattern.startswith("^") else [None]
    text = pattern.removeprefix("^")
    anchored_end = text.endswith("$") and not text.endswith("\\$")
    text = text.removesuffix("$") if anchored_end else text
    literal, index = "", 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text) and not text[index + 1].isalnum():
            literal, index = literal + text[index + 1], index + 2
        elif text.startswith(".*", index):
            parts += [literal, None] if literal else [None]
            literal, index = "", index + 2
        elif _LITERAL.match(char) and char != "+":
            literal, index = literal + char, index + 1
        else:
            raise _Unconvertible(f"the regular expression {pattern!r} uses {char!r}")
    parts += [literal] if literal else []
    parts += [] if anchored_end else [None]
    merged: list[str | None] = []
    for part in parts:
        if not (part is None and merged and merged[-1] is None):
            merged.append(part)
    return merged


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
