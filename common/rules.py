"""Rules as both sides of the bus know them: the fields, their validation, and the
parsing of ports and destinations. Pure: no I/O. How rules decide a flow is the helper's
rules engine (`netwarden_helper.policy.engine`).
"""

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, TypeVar

from netwarden_common.errors import BadValue
from netwarden_common.host_names import ascii_name
from netwarden_common.profiles import name_problem

ACTIONS = ("allow", "deny")
LIFETIMES = ("once", "until_quit", "until", "forever")
PROTOCOLS = ("tcp", "udp", "icmp", "icmpv6", "sctp", "udplite")
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
# The program of packets the kernel sends on its own account (a TCP reset, an ICMP error,
# what leaves a socket it made for itself: a tunnel's, NFS's): no path can be it, and rules
# name it so.
KERNEL = "kernel"
_GLOB_CHARS = frozenset("*?[")
_INTERFACE = re.compile(r"[A-Za-z0-9_.:@-]{1,15}")
MAX_TEXT = 4096
_T = TypeVar("_T")
MAX_PRIORITY = 1000
MAX_ENTRIES = 10_000  # destinations, or ports and ranges, in one rule
MAX_LIST_TEXT = 1 << 20  # `destination` and `ports` (the bus's string limit): not MAX_TEXT
_LIST_FIELDS = ("destination", "ports")


class RuleError(BadValue):
    """A rule field is invalid; `field` names it, the message says why."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.reason = message


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule. Empty strings and None mean "any"."""

    action: str
    exe: str = ""  # absolute path, or a glob of paths; or KERNEL
    sha256: str = ""  # pinned binary hash; "" = any version
    script: str = ""  # the script an interpreter (exe) runs: one exact absolute path
    unit: str = ""  # systemd unit, e.g. "cups.service"
    flatpak: str = ""  # flatpak app id, e.g. "org.mozilla.firefox"
    # routed through this host (a container, a VM): "*", "<interface>" or
    # "<interface> <source address>" ("*" for any interface); "" = this host's programs
    forwarded_from: str = ""
    uid: int | None = None
    destination: str = ""  # host, "*.domain", IP or CIDR; or several: "a.example, 192.0.2.0/24"
    ports: str = ""  # "443", "8000-8080", or several: "53,80,8000-8080"
    protocol: str = ""
    lifetime: str = "forever"
    expires_at: float | None = None  # Unix time, for lifetime "until"
    pid: int | None = None  # the process, for lifetime "until_quit"
    pid_start: int | None = None  # its start time (clock ticks), against pid reuse
    priority: int = 0
    enabled: bool = True
    drop: bool = False  # deny silently instead of rejecting
    note: str = ""
    profile: str = ""  # the profile it belongs to; "" = every profile
    id: int | None = None
    hits: int = 0
    last_hit: float | None = None
    created: float = 0.0


RULE_FIELDS = tuple(f.name for f in fields(Rule))
COUNTER_FIELDS = ("id", "hits", "last_hit", "created")  # kept by the helper, not set by callers
SETTABLE_FIELDS = tuple(name for name in RULE_FIELDS if name not in COUNTER_FIELDS)


def validate(values: Mapping[str, Any]) -> Rule:
    """A `Rule` from user-supplied fields, or `RuleError` naming the first bad field.

    Unknown fields, wrong types and impossible values are all refused; counters (`id`,
    `hits`, `last_hit`, `created`) are not the caller's to set. A set of destinations comes
    back as its entries joined by ", " and a set of ports by ",", each entry stripped and
    only its first occurrence kept.
    """
    for key in values:
        if key not in SETTABLE_FIELDS:
            raise RuleError(str(key)[:64], "unknown field")
    if "action" not in values:
        raise RuleError("action", "missing: allow or deny")
    rule = Rule(**{key: values[key] for key in values})
    _check_types(rule)
    _check_values(rule)
    return replace(
        rule,
        destination=", ".join(entries("destination", rule.destination)),
        ports=",".join(entries("ports", rule.ports)),
    )


_TYPES: dict[str, tuple[type, ...]] = {
    "action": (str,), "exe": (str,), "sha256": (str,), "script": (str,), "unit": (str,),
    "flatpak": (str,), "forwarded_from": (str,),
    "uid": (int, type(None)), "destination": (str,), "ports": (str,), "protocol": (str,),
    "lifetime": (str,), "expires_at": (int, float, type(None)), "pid": (int, type(None)),
    "pid_start": (int, type(None)), "priority": (int,), "enabled": (bool,), "drop": (bool,),
    "note": (str,), "profile": (str,),
}  # fmt: skip


def _check_types(rule: Rule) -> None:
    for name, types in _TYPES.items():
        value = getattr(rule, name)
        is_bool = isinstance(value, bool)
        if not isinstance(value, types) or (is_bool and bool not in types):
            expected = " or ".join("nothing" if t is type(None) else t.__name__ for t in types)
            raise RuleError(name, f"must be {expected}, not {type(value).__name__}")
        limit = MAX_LIST_TEXT if name in _LIST_FIELDS else MAX_TEXT
        if isinstance(value, str) and len(value) > limit:
            raise RuleError(name, f"longer than {limit} characters")


def _check_values(rule: Rule) -> None:
    if rule.action not in ACTIONS:
        raise RuleError("action", "must be allow or deny")
    if rule.lifetime not in LIFETIMES:
        raise RuleError("lifetime", f"must be one of {', '.join(LIFETIMES)}")
    if rule.exe and not rule.exe.startswith("/") and rule.exe != KERNEL:
        raise RuleError("exe", f"must be an absolute path, a glob of absolute paths, or {KERNEL}")
    if "\0" in rule.exe:
        raise RuleError("exe", "must not contain NUL")
    if rule.script and (not rule.script.startswith("/") or "\0" in rule.script):
        raise RuleError("script", "must be an absolute path")
    if rule.sha256 and not SHA256.match(rule.sha256):
        raise RuleError("sha256", "must be 64 lowercase hexadecimal digits")
    if rule.sha256 and (not rule.exe or is_glob(rule.exe) or rule.exe == KERNEL):
        raise RuleError("sha256", "a pin needs one exact program path")
    if sum(bool(x) for x in (rule.exe, rule.unit, rule.flatpak)) > 1:
        raise RuleError("exe", "name the program by one of exe, unit or flatpak")
    if rule.unit and not re.fullmatch(r"[A-Za-z0-9:_.\\@-]{1,255}", rule.unit):
        raise RuleError("unit", "not a systemd unit name")
    if rule.flatpak and not re.fullmatch(r"[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*){2,}", rule.flatpak):
        raise RuleError("flatpak", "not a flatpak application id (like org.example.App)")
    if rule.forwarded_from:
        _check_forwarded(rule)
    if rule.uid is not None and not 0 <= rule.uid < 2**32 - 1:
        raise RuleError("uid", "out of range")
    if rule.protocol and rule.protocol not in PROTOCOLS:
        raise RuleError("protocol", f"must be one of {', '.join(PROTOCOLS)}")
    if rule.ports and rule.protocol not in ("", "tcp", "udp", "sctp", "udplite"):
        raise RuleError("ports", f"{rule.protocol} has no ports")
    parse_ports(rule.ports)
    parse_destination(rule.destination)
    if rule.lifetime == "until" and rule.expires_at is None:
        raise RuleError("expires_at", "lifetime 'until' needs a time")
    if rule.lifetime == "until_quit" and (rule.pid is None or rule.pid_start is None):
        raise RuleError("pid", "lifetime 'until_quit' needs the process and its start time")
    if not -MAX_PRIORITY <= rule.priority <= MAX_PRIORITY:
        raise RuleError("priority", f"must be between -{MAX_PRIORITY} and {MAX_PRIORITY}")
    if rule.profile and name_problem(rule.profile):
        raise RuleError("profile", f"{name_problem(rule.profile)} (or empty: every profile)")


def _check_forwarded(rule: Rule) -> None:
    if any((rule.exe, rule.unit, rule.flatpak, rule.script, rule.sha256)) or rule.uid is not None:
        raise RuleError("forwarded_from", "forwarded traffic has no program or user to name")
    interface, _, source = rule.forwarded_from.partition(" ")
    if interface != "*" and not _INTERFACE.fullmatch(interface):
        raise RuleError("forwarded_from", "must be '*' or a network interface name")
    if source:
        try:
            ipaddress.ip_address(source)
        except ValueError:
            raise RuleError("forwarded_from", f"{source[:64]!r} is not an IP address") from None


def forwarded_matches(pattern: str, forwarded_from: str) -> bool:
    """Whether a rule's `forwarded_from` covers a flow's ("<interface> <source>")."""
    interface, _, source = pattern.partition(" ")
    flow_interface, _, flow_source = forwarded_from.partition(" ")
    if interface not in ("*", flow_interface):
        return False
    return not source or ipaddress.ip_address(source) == ipaddress.ip_address(flow_source)


def is_glob(path: str) -> bool:
    return any(c in _GLOB_CHARS for c in path)


def entries(field_name: str, text: str) -> list[str]:
    """The entries of a comma-separated field (`destination`, `ports`), stripped, each
    once, in order; none for "" (any). `RuleError` for an empty entry or too many."""
    if not text:
        return []
    parts = [part.strip() for part in text.split(",")]
    if len(parts) > MAX_ENTRIES:
        raise RuleError(field_name, f"{len(parts)} entries, more than {MAX_ENTRIES}")
    if "" in parts:
        raise RuleError(field_name, "an empty entry (two commas in a row, or one at an end)")
    return list(dict.fromkeys(parts))


def members(text: str) -> list[str]:
    """The entries of a set as stored, for display (no checks: see `entries`)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def summary(text: str, shown: int = 2) -> str:
    """A set for display: its first `shown` entries and how many more ("a.example,
    b.example and 48 more"); a set of up to `shown` + 1 entries in full."""
    parts = members(text)
    if len(parts) <= shown + 1:
        return ", ".join(parts)
    return f"{', '.join(parts[:shown])} and {len(parts) - shown} more"


def parse_ports(ports: str) -> list[tuple[int, int]]:
    """`(low, high)` of each entry of "443", "8000-8080" or "53,80,8000-8080"; none for any
    port."""
    return _each_entry("ports", ports, _port_range)


def parse_destination(destination: str) -> list[tuple[str, Any]]:
    """`(kind, value)` of each entry: ("ip"|"network", ip object) or ("host"|"domain",
    name); none for any destination."""
    return _each_entry("destination", destination, _destination_entry)


def _each_entry(field_name: str, text: str, parse: Callable[[str], _T]) -> list[_T]:
    """Each entry of a field parsed; an error in a set names the entry."""
    parts = entries(field_name, text)
    parsed = []
    for part in parts:
        try:
            parsed.append(parse(part))
        except RuleError as exc:
            if len(parts) == 1:
                raise
            raise RuleError(field_name, f"{part[:100]!r}: {exc.reason}") from None
    return parsed


def _port_range(entry: str) -> tuple[int, int]:
    low, sep, high = entry.partition("-")
    if not (low.isdigit() and (high.isdigit() if sep else True)):
        raise RuleError("ports", "must be a port (443) or a range (8000-8080)")
    first, last = int(low), int(high) if sep else int(low)
    if not 1 <= first <= last <= 65535:
        raise RuleError("ports", "ports run from 1 to 65535, low to high")
    return first, last


def _destination_entry(entry: str) -> tuple[str, Any]:
    try:
        if "/" in entry:
            return "network", ipaddress.ip_network(entry, strict=False)
        return "ip", ipaddress.ip_address(entry)
    except ValueError as exc:
        if "/" in entry:
            raise RuleError("destination", f"not a network: {exc}") from None
    name = normalize_host(entry.removeprefix("*."))
    labels = name.split(".")
    if len(name) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        raise RuleError("destination", "not a host name, *.domain, IP address or network")
    return ("domain" if entry.startswith("*.") else "host"), name


def normalize_host(name: str) -> str:
    """Host names compare case-insensitively, without the root's trailing dot, international
    ones in their IDNA2008 `xn--` form (a name IDNA2008 refuses stays, for validation to
    refuse)."""
    name = name.lower().rstrip(".")
    return ascii_name(name) or name


def is_expired(rule: Rule, now: float) -> bool:
    """A rule with lifetime 'until' whose time has passed."""
    return rule.lifetime == "until" and rule.expires_at is not None and rule.expires_at <= now


def with_id(rule: Rule, rule_id: int, created: float) -> Rule:
    """The rule as stored: with its id and creation time."""
    return replace(rule, id=rule_id, created=created)
