"""`RuleIndex`: the few rules that can match a flow, found without trying them all.
Pure: no I/O.

Rules are known by their position in precedence order. Each is filed under each of its
destinations (an exact IP, a host name, a `*.domain`, a CIDR network by prefix length, or
"any"), and within that under its program: an exact path, a systemd unit or a Flatpak id,
or the residual key None (a path glob, any program). A flow looks up only its own keys:
its address, its address cut to each prefix length some rule uses, each of its host
names, each name's parent domains, and "any"; in each, its path, unit, Flatpak id and
None. Every key is an exact condition, so a rule found matches the flow's destination
(and, unless filed under None, its program); its other conditions are the engine's to
check, on a handful of candidates instead of every rule.
"""

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

from netwarden_common.rules import normalize_host

ProgramKey = tuple[str, str] | None  # ("exe" | "unit" | "flatpak", value), None: the rest
Buckets = dict[ProgramKey, list[int]]


class RuleIndex:
    """Rule positions by destination, then program."""

    __slots__ = ("_any", "_domains", "_hosts", "_ips", "_networks")

    def __init__(self, rules: Iterable[tuple[Sequence[tuple[str, Any]], ProgramKey]]) -> None:
        """`rules`: each rule's destinations (`parse_destination`; none: any) and program
        key, in precedence order."""
        self._any: Buckets = {}
        self._ips: dict[Any, Buckets] = {}
        self._hosts: dict[str, Buckets] = {}
        self._domains: dict[str, Buckets] = {}
        # IP version -> prefix length -> network number (address >> host bits) -> buckets
        self._networks: dict[int, dict[int, dict[int, Buckets]]] = {}
        for position, (destinations, program) in enumerate(rules):
            for buckets in self._filed_under(destinations):
                buckets.setdefault(program, []).append(position)

    def _filed_under(self, destinations: Sequence[tuple[str, Any]]) -> Iterable[Buckets]:
        if not destinations:
            yield self._any
        for kind, value in destinations:
            if kind == "ip":
                yield self._ips.setdefault(value, {})
            elif kind == "host":
                yield self._hosts.setdefault(value, {})
            elif kind == "domain":
                yield self._domains.setdefault(value, {})
            else:
                by_length = self._networks.setdefault(value.version, {})
                networks = by_length.setdefault(value.prefixlen, {})
                number = int(value.network_address) >> (value.max_prefixlen - value.prefixlen)
                yield networks.setdefault(number, {})

    def candidates(
        self, dst: str, hosts: Sequence[str], programs: Sequence[ProgramKey]
    ) -> list[int]:
        """Positions, in order, of the rules filed under the flow's destination (address
        `dst`, host names `hosts`) and one of its `programs` keys (None among them)."""
        found = [self._any]
        if self._ips or self._networks:
            found += self._by_address(dst)
        if hosts and (self._hosts or self._domains):
            found += self._by_name(hosts)
        positions: set[int] = set()
        for buckets in found:
            for program in programs:
                filed = buckets.get(program)
                if filed:
                    positions.update(filed)
        return sorted(positions)

    def _by_address(self, dst: str) -> list[Buckets]:
        try:
            address = ipaddress.ip_address(dst)
        except ValueError:
            return []
        found = [self._ips[address]] if address in self._ips else []
        number, bits = int(address), address.max_prefixlen
        for length, networks in self._networks.get(address.version, {}).items():
            buckets = networks.get(number >> (bits - length))
            if buckets:
                found.append(buckets)
        return found

    def _by_name(self, hosts: Sequence[str]) -> list[Buckets]:
        found = []
        for name in {normalize_host(host) for host in hosts}:
            if name in self._hosts:
                found.append(self._hosts[name])
            suffix: str | None = name if self._domains else None
            while suffix is not None:  # the name itself, then each parent domain
                if suffix in self._domains:
                    found.append(self._domains[suffix])
                _, dot, parent = suffix.partition(".")
                suffix = parent if dot else None
        return found
