"""What blocklists hold, in a compact form, and the matcher built from them. Pure: no I/O.

A list's names are kept as the sorted 64-bit hashes of the names (Python's `hash`, seeded
per process: the helper builds and looks up in one process), 8 bytes a name instead of a
string and a hash table slot (about 80). A listed name blocks itself and every name under
it, whatever the Public Suffix List says (a list that names `com` or `co.uk` means it),
so a host is looked up by each of its label suffixes: `a.b.example.com`, `b.example.com`,
`example.com`, `com`, each a binary search. Two different names share a hash with a
probability of about 5 in 10^14 per label looked up with a million names listed: such a
host would be blocked as if listed. A list's networks are kept as sorted, disjoint address
ranges.
"""

import ipaddress
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

BUCKETS = 256  # names are gathered by their hash's top byte, so no sort holds them all
PREFIXES = 1 << 16  # the matcher indexes its hashes by their top 16 bits


def _bucket(name_hash: int) -> int:
    return (name_hash >> 56) + 128  # in the hashes' signed order


def _numbers(values: list[int], version: int) -> Sequence[int]:
    return array("Q", values) if version == 4 else tuple(values)  # IPv6 needs 128 bits


@dataclass(frozen=True)
class Ranges:
    """Sorted, disjoint address ranges of one family: `starts[i]` to `ends[i]`."""

    starts: Sequence[int] = ()
    ends: Sequence[int] = ()

    def __contains__(self, address: int) -> bool:
        i = bisect_right(self.starts, address) - 1
        return i >= 0 and self.ends[i] >= address


@dataclass(frozen=True)
class ListEntries:
    """One list's names (their hashes, sorted, distinct) and networks (by IP version)."""

    names: array = field(default_factory=lambda: array("q"))
    networks: Mapping[int, Ranges] = field(default_factory=dict)
    network_count: int = 0  # as listed, before adjacent ones were joined


class EntriesBuilder:
    """Gathers one list's entries as it is read; keeps no string."""

    def __init__(self) -> None:
        self._buckets = [array("q") for _ in range(BUCKETS)]
        self._v4: list[ipaddress.IPv4Network] = []
        self._v6: list[ipaddress.IPv6Network] = []

    def add_name(self, name: str) -> None:
        name_hash = hash(name)
        self._buckets[_bucket(name_hash)].append(name_hash)

    def add_network(self, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> None:
        if isinstance(network, ipaddress.IPv4Network):
            self._v4.append(network)
        else:
            self._v6.append(network)

    def build(self) -> ListEntries:
        names = array("q")
        for i, bucket in enumerate(self._buckets):
            names.extend(sorted(set(bucket)))
            self._buckets[i] = array("q")
        ranges = {}
        for version, collapsed in ((4, list(ipaddress.collapse_addresses(self._v4))),
                                   (6, list(ipaddress.collapse_addresses(self._v6)))):  # fmt: skip
            if collapsed:
                starts = _numbers([int(n[0]) for n in collapsed], version)
                ranges[version] = Ranges(starts, _numbers([int(n[-1]) for n in collapsed], version))
        return ListEntries(names, ranges, len(self._v4) + len(self._v6))


class DomainMatcher:
    """Every enabled list's entries, each name with the id of the lowest list holding it;
    replaced whole, never changed, so the packet path can use the current one without a
    lock."""

    __slots__ = ("_hashes", "_ids", "_networks", "_owners", "_prefixes")

    def __init__(self) -> None:
        self._hashes = array("q")
        self._prefixes = array("L")  # where each 16-bit prefix starts: 4 probes, not 20
        self._owners: Sequence[int] = b""  # index into _ids, per hash
        self._ids: tuple[int, ...] = ()
        self._networks: tuple[tuple[int, Mapping[int, Ranges]], ...] = ()

    @classmethod
    def merged(cls, lists: Mapping[int, ListEntries]) -> "DomainMatcher":
        """One matcher for several lists ({list id: entries}); a name on several lists
        belongs to the lowest id."""
        matcher = cls()
        matcher._ids = ids = tuple(sorted(lists))
        matcher._networks = tuple((i, lists[i].networks) for i in ids if lists[i].networks)
        if len(ids) == 1:  # the list's own array: no copy
            matcher._hashes = lists[ids[0]].names
            matcher._owners = bytes(len(matcher._hashes))
        else:
            matcher._merge([lists[i].names for i in ids])
        hashes = matcher._hashes
        matcher._prefixes = array("L", (bisect_left(hashes, (p - PREFIXES // 2) << 48)
                                        for p in range(PREFIXES)))  # fmt: skip
        matcher._prefixes.append(len(hashes))
        return matcher

    def _merge(self, names: list[array]) -> None:
        """The hashes of several lists (lowest id first), each owned by the first holding
        it."""
        owners = array("B")
        edges = [[bisect_left(hashes, (b - 128) << 56) for b in range(BUCKETS)] + [len(hashes)]
                 for hashes in names]  # fmt: skip
        for bucket in range(BUCKETS):
            owner: dict[int, int] = {}
            for index in reversed(range(len(names))):  # the lowest id is written last
                edge = edges[index]
                owner.update(dict.fromkeys(names[index][edge[bucket] : edge[bucket + 1]], index))
            hashes = sorted(owner)
            self._hashes.extend(hashes)
            owners.extend(map(owner.__getitem__, hashes))
        self._owners = owners

    def __len__(self) -> int:
        return len(self._hashes)

    def listed_by(self, hosts: Iterable[str], address: str = "") -> int | None:
        """The id of a list holding one of `hosts` (normalized names) or a domain above
        it, or a network holding `address`; None if none does."""
        hashes, prefixes = self._hashes, self._prefixes
        if hashes:
            for host in hosts:
                start = 0
                while True:
                    key = hash(host[start:])
                    prefix = (key >> 48) + PREFIXES // 2
                    end = prefixes[prefix + 1]
                    i = bisect_left(hashes, key, prefixes[prefix], end)
                    if i < end and hashes[i] == key:
                        return self._ids[self._owners[i]]
                    start = host.find(".", start) + 1
                    if not start:
                        break
        if address and self._networks:
            ip = ipaddress.ip_address(address)
            for list_id, networks in self._networks:
                ranges = networks.get(ip.version)
                if ranges is not None and int(ip) in ranges:
                    return list_id
        return None
