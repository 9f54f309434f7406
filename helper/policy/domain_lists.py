"""Blocklist files and the matcher built from them. Pure: no I/O.

Two formats, told apart line by line: hosts files (`0.0.0.0 ads.example.com`, several
names a line allowed) and plain domain lists (`ads.example.com`). `#` starts a comment.
A hosts line blocks only when its address is a sink (0.0.0.0, 127.0.0.1, ::, ::1); lines
mapping a name to a real address, local names (`localhost`, ...) and anything that is
not a host name are skipped and counted. Names are stored lowercase, without the root's
dot, international names in their ASCII (punycode) form, as DNS answers carry them.

`DomainMatcher` answers "is one of these host names listed?" with one hash lookup per
label: a listed `example.com` lists `ads.example.com` too, so a name is looked up from
the full name down to its registrable domain (`answers.registrable_domain`), never
further: a listed bare suffix (`com`, `co.uk`) blocks nothing by suffix.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from netwarden_helper.policy.answers import registrable_domain

SINK_ADDRESSES = frozenset({"0.0.0.0", "127.0.0.1", "::", "::1", "0:0:0:0:0:0:0:0"})
LOCAL_NAMES = frozenset({
    "localhost", "localhost.localdomain", "local", "broadcasthost", "ip6-localhost",
    "ip6-loopback", "ip6-localnet", "ip6-mcastprefix", "ip6-allnodes", "ip6-allrouters",
    "ip6-allhosts", "0.0.0.0",
})  # fmt: skip
_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
                   r"(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$")  # fmt: skip
_ADDRESS = re.compile(r"^[0-9.]+$|:")


@dataclass(frozen=True)
class ParsedList:
    """The names of one list, and how many lines that were neither names nor comments."""

    domains: frozenset[str]
    skipped: int


def normalize_domain(name: str) -> str | None:
    """`name` as stored and looked up, or None if it is not a host name."""
    name = name.strip().lower().rstrip(".")
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return name if _NAME.match(name) and name not in LOCAL_NAMES else None


def parse_list(text: str) -> ParsedList:
    """The names a hosts file or a domain list blocks."""
    domains: set[str] = set()
    skipped = 0
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if _ADDRESS.match(words[0]):
            if words[0] not in SINK_ADDRESSES or len(words) < 2:
                skipped += 1
                continue
            words = words[1:]
        elif len(words) > 1:  # a domain list has one name a line
            skipped += 1
            continue
        for word in words:
            name = normalize_domain(word)
            if name is None:
                skipped += 1
            else:
                domains.add(name)
    return ParsedList(frozenset(domains), skipped)


class DomainMatcher:
    """Listed names, each with the id of a list that holds it; replaced whole, never
    changed, so the packet path can use the current one without a lock."""

    __slots__ = ("_lists",)

    def __init__(self, lists: Mapping[str, int] | None = None) -> None:
        self._lists: dict[str, int] = dict(lists or {})

    @classmethod
    def merged(cls, lists: Mapping[int, Iterable[str]]) -> "DomainMatcher":
        """One matcher for several lists ({list id: names}); a name on several lists
        belongs to the lowest id."""
        matcher = cls()
        for list_id in sorted(lists, reverse=True):
            matcher._lists.update(dict.fromkeys(lists[list_id], list_id))
        return matcher

    def __len__(self) -> int:
        return len(self._lists)

    def listed_by(self, hosts: Iterable[str]) -> int | None:
        """The id of a list holding one of `hosts` (normalized names) or a domain above
        it up to its registrable domain; None if none does."""
        lists = self._lists
        if not lists:
            return None
        for host in hosts:
            last = len(host) - len(registrable_domain(host))
            start = 0
            while True:
                list_id = lists.get(host[start:])
                if list_id is not None:
                    return list_id
                if start >= last:
                    break
                start = host.index(".", start) + 1
        return None
