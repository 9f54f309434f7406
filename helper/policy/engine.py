"""The rules engine: matching and precedence. Pure: no I/O.

Precedence (Little Snitch's, not OpenSnitch's name order):
1. higher `priority` first;
2. then the more specific rule: process (named > glob > any), then destination
   (IP or host > network > domain > any), then port (single > range > any), then
   protocol (named > any), then user (named > any);
3. at equal specificity, deny before allow;
4. then the older rule (lower id) first, so the order is total and stable.

The first enabled, unexpired rule that matches a flow decides it. A rule that pins a
binary hash the flow's binary does not have does not match; once one has been passed
over, only a later rule pinning the flow's own hash can decide, and without one the flow
is a pin mismatch (held, and an alert raised): an unpinned, broader rule never lets a
changed binary through. A pin whose flow hash is not known yet asks for the hash first.
A program in another mount namespace (a container, a user namespace) chooses its own
paths: a rule naming a path matches it only when the rule also pins the binary's hash.
"""

import enum
import fnmatch
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from netwarden_common.rules import (
    Rule,
    is_expired,
    is_glob,
    normalize_host,
    parse_destination,
    parse_ports,
)


@dataclass(frozen=True, slots=True)
class Flow:
    """One new connection as the engine sees it: who, to where."""

    exe: str
    dst: str
    protocol: str
    dport: int = 0
    uid: int = -1
    sha256: str | None = None  # None: not hashed yet
    unit: str = ""
    flatpak: str = ""
    hosts: tuple[str, ...] = ()  # names the destination was resolved from
    script: str = ""  # the script an interpreter runs ("" for other programs)
    script_sha256: str = ""
    foreign_root: bool = False  # the program runs in another mount namespace (a container)


class Verdict(enum.Enum):
    """What the engine concluded about a flow."""

    RULE = "rule"  # decided by `rule`
    NO_RULE = "no_rule"  # nothing matches: ask the user
    PIN_MISMATCH = "pin_mismatch"  # `rule` pins another binary: hold and alert
    NEEDS_HASH = "needs_hash"  # `rule` pins a hash: hash the binary, then ask again
    BLOCKLIST = "blocklist"  # no rule decides, and a blocklist lists the host: deny


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    rule: Rule | None = None


class Matcher:
    """A rule's conditions parsed once, and its place in the precedence order."""

    __slots__ = ("dest_kind", "dest_value", "exe_glob", "ports", "rule", "sort_key")

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.exe_glob = bool(rule.exe) and is_glob(rule.exe)
        self.ports = parse_ports(rule.ports)
        self.dest_kind, self.dest_value = parse_destination(rule.destination)
        named_process = bool(rule.unit or rule.flatpak or (rule.exe and not self.exe_glob))
        process_rank = 2 if named_process else (1 if self.exe_glob else 0)
        dest_rank = {"ip": 4, "host": 4, "network": 3, "domain": 2, "any": 0}[self.dest_kind]
        port_rank = 0 if self.ports is None else (2 if self.ports[0] == self.ports[1] else 1)
        self.sort_key = (
            -rule.priority, -process_rank, -bool(rule.script), -dest_rank, -port_rank,
            -bool(rule.protocol), -(rule.uid is not None),
            rule.action != "deny", rule.id if rule.id is not None else 2**63,
        )  # fmt: skip

    def matches(self, flow: Flow) -> bool:
        """Every condition but the hash pin holds for `flow`."""
        rule = self.rule
        if rule.uid is not None and rule.uid != flow.uid:
            return False
        if rule.protocol and rule.protocol != flow.protocol:
            return False
        if self.ports and not self.ports[0] <= flow.dport <= self.ports[1]:
            return False
        if rule.unit and rule.unit != flow.unit:
            return False
        if rule.script and rule.script != flow.script:
            return False
        if rule.flatpak and rule.flatpak != flow.flatpak:
            return False
        if rule.exe:
            # Inside its own mount namespace a program can be at any path it likes: there
            # only the hash a rule pins names it.
            if flow.foreign_root and not rule.sha256:
                return False
            if self.exe_glob:
                if not fnmatch.fnmatchcase(flow.exe, rule.exe):
                    return False
            elif rule.exe != flow.exe:
                return False
        return self._destination_matches(flow)

    def _destination_matches(self, flow: Flow) -> bool:
        kind, value = self.dest_kind, self.dest_value
        if kind == "any":
            return True
        if kind in ("ip", "network"):
            try:
                address = ipaddress.ip_address(flow.dst)
            except ValueError:
                return False
            return address == value if kind == "ip" else address in value
        hosts = (normalize_host(h) for h in flow.hosts)
        if kind == "host":
            return value in hosts
        return any(h == value or h.endswith("." + value) for h in hosts)


class RuleSet:
    """Rules prepared for matching (each parsed once), in the order tried: band by band
    (the administrator's before the user's), each band in precedence order."""

    __slots__ = ("_matchers",)

    def __init__(self, *bands: Iterable[Rule]) -> None:
        self._matchers = [
            matcher
            for band in bands
            for matcher in sorted((Matcher(rule) for rule in band), key=lambda m: m.sort_key)
        ]

    def __len__(self) -> int:
        return len(self._matchers)

    @property
    def rules(self) -> list[Rule]:
        """The rules in the order `decide` tries them."""
        return [matcher.rule for matcher in self._matchers]

    def decide(self, flow: Flow, now: float) -> Decision:
        """The decision for `flow`: the first enabled, unexpired rule that matches."""
        mismatch = None
        for matcher in self._matchers:
            rule = matcher.rule
            if not rule.enabled or is_expired(rule, now) or not matcher.matches(flow):
                continue
            if rule.sha256:
                if flow.sha256 is None:
                    return Decision(Verdict.NEEDS_HASH, rule)
                if flow.sha256 != rule.sha256:
                    mismatch = mismatch or rule
                    continue
            if mismatch is None or rule.sha256:
                return Decision(Verdict.RULE, rule)
        if mismatch is not None:
            return Decision(Verdict.PIN_MISMATCH, mismatch)
        return Decision(Verdict.NO_RULE)


def ordered(rules: Iterable[Rule]) -> list[Rule]:
    """Rules in precedence order (the order a `RuleSet` tries them)."""
    return RuleSet(rules).rules
