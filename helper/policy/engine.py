"""The rules engine: matching and precedence. Pure: no I/O.

Precedence (Little Snitch's, not OpenSnitch's name order):
1. higher `priority` first;
2. then the more specific rule: process (named > glob > any), then destination
   (IP or host > network > domain > any), then port (single > range > any), then
   protocol (named > any), then user (named > any);
3. at equal specificity, deny before allow;
4. then the older rule (lower id) first, so the order is total and stable.

A rule may name a set of destinations ("a.example, *.b.example, 192.0.2.0/24") and of
ports ("53,80,8000-8080"): it matches when any entry does. Its specificity is that of its
least specific entry (a host with a network ranks as a network; single ports with a range
as a range), so a set never outranks a rule naming one of its entries alone.

The first enabled, unexpired rule that matches a flow decides it. `RuleSet` finds it
through a `RuleIndex` (by destination, then program): only the few rules that can match
are tried, in this same order, so the cost hardly grows with the number of rules.

A rule that pins a binary hash the flow's binary does not have does not match; once one
has been passed over, only a later rule pinning the flow's own hash can decide, and
without one the flow is a pin mismatch (held, and an alert raised): an unpinned, broader
rule never lets a changed binary through. A pin whose flow hash is not known yet asks for
the hash first. A program in another mount namespace (a container, a user namespace)
chooses its own paths: a rule naming a path matches it only when the rule also pins the
binary's hash.
A flow routed through this host (`forwarded_from`) is matched only by rules for
forwarded traffic, and those match nothing else; among them one naming the source
address is more specific than one naming the interface, which is more than "*".
"""

import enum
import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass

from netwarden_common.rules import (
    Rule,
    forwarded_matches,
    is_expired,
    is_glob,
    parse_destination,
    parse_ports,
)
from netwarden_helper.policy.rule_index import ProgramKey, RuleIndex


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
    forwarded_from: str = ""  # routed through this host: "<interface> <source address>"
    # whether the process's details were read (False: only the kernel's record of a process
    # gone or exec'd since is known, without its unit, Flatpak or hash)
    complete: bool = True


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
    blocklist: int | None = None  # the list that blocks (Verdict.BLOCKLIST)


class Matcher:
    """A rule's conditions parsed once, and its place in the precedence order."""

    __slots__ = (
        "destinations", "exe_glob", "port_ranges", "ports", "program_key", "rule", "sort_key",
    )  # fmt: skip

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.exe_glob = bool(rule.exe) and is_glob(rule.exe)
        ranges = parse_ports(rule.ports)
        self.ports = frozenset(low for low, high in ranges if low == high)
        self.port_ranges = tuple((low, high) for low, high in ranges if low != high)
        self.destinations = parse_destination(rule.destination)
        named_process = bool(rule.unit or rule.flatpak or (rule.exe and not self.exe_glob))
        self.program_key: ProgramKey = (
            ("unit", rule.unit) if rule.unit
            else ("flatpak", rule.flatpak) if rule.flatpak
            else ("exe", rule.exe) if named_process
            else None
        )  # fmt: skip
        process_rank = 2 if named_process else (1 if self.exe_glob else 0)
        if rule.forwarded_from:  # one source address, one interface, or any
            process_rank = 2 if " " in rule.forwarded_from else int(rule.forwarded_from != "*")
        dest_rank = min((_DEST_RANKS[kind] for kind, _ in self.destinations), default=0)
        port_rank = 0 if not ranges else (1 if self.port_ranges else 2)
        self.sort_key = (
            -rule.priority, -process_rank, -bool(rule.script), -dest_rank, -port_rank,
            -bool(rule.protocol), -(rule.uid is not None),
            rule.action != "deny", rule.id if rule.id is not None else 2**63,
        )  # fmt: skip

    def holds(self, flow: Flow) -> bool:
        """Every condition but the destination and the hash pin holds for `flow`."""
        rule = self.rule
        # Forwarded flows (a container's, a VM's) and this host's programs never share a
        # rule: a rule for one says nothing of the other.
        if (rule.forwarded_from or flow.forwarded_from) and not (
            rule.forwarded_from
            and flow.forwarded_from
            and forwarded_matches(rule.forwarded_from, flow.forwarded_from)
        ):
            return False
        if rule.uid is not None and rule.uid != flow.uid:
            return False
        if rule.protocol and rule.protocol != flow.protocol:
            return False
        if (self.ports or self.port_ranges) and not (
            flow.dport in self.ports
            or any(low <= flow.dport <= high for low, high in self.port_ranges)
        ):
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
        return True


_DEST_RANKS = {"ip": 4, "host": 4, "network": 3, "domain": 2}


def decide_among(candidates: Iterable[Matcher], flow: Flow, now: float) -> Decision:
    """The decision for `flow` among `candidates`: matchers in precedence order whose
    destination matches the flow (the rest of their conditions are checked here)."""
    mismatch = None
    for matcher in candidates:
        rule = matcher.rule
        if not rule.enabled or is_expired(rule, now) or not matcher.holds(flow):
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


class RuleSet:
    """Rules prepared for matching (each parsed once), in the order tried: band by band
    (the administrator's before the user's), each band in precedence order; indexed, so
    a decision looks only at the rules that can match the flow."""

    __slots__ = ("_index", "matchers")

    def __init__(self, *bands: Iterable[Rule]) -> None:
        self.matchers = [
            matcher
            for band in bands
            for matcher in sorted((Matcher(rule) for rule in band), key=lambda m: m.sort_key)
        ]
        self._index = RuleIndex((m.destinations, m.program_key) for m in self.matchers)

    def __len__(self) -> int:
        return len(self.matchers)

    @property
    def rules(self) -> list[Rule]:
        """The rules in the order `decide` tries them."""
        return [matcher.rule for matcher in self.matchers]

    def decide(self, flow: Flow, now: float) -> Decision:
        """The decision for `flow`: the first enabled, unexpired rule that matches."""
        programs: list[ProgramKey] = [None, ("exe", flow.exe)]
        if flow.unit:
            programs.append(("unit", flow.unit))
        if flow.flatpak:
            programs.append(("flatpak", flow.flatpak))
        positions = self._index.candidates(flow.dst, flow.hosts, programs)
        return decide_among((self.matchers[p] for p in positions), flow, now)


def ordered(rules: Iterable[Rule]) -> list[Rule]:
    """Rules in precedence order (the order a `RuleSet` tries them)."""
    return RuleSet(rules).rules
