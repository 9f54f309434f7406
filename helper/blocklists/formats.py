"""Blocklist file formats: which one a file is in, and what each of its lines says.
Pure: no I/O.

The format is detected per file, from the shape most of its first `SAMPLE` lines have
(comments and blank lines aside). Every line is then read as that format says and counted
once: accepted (it gave a name or a network), ignored, by kind (`IGNORED_KINDS`), or
rejected (not a line of that format, or a name or address that is not valid); blank
lines are not counted. Hosts, domain, wildcard and leading-dot lines cannot be mistaken
for each other, so a file of one of these formats may mix them.

Names are taken lowercase, without the root's dot, international ones in their IDNA2008
`xn--` form (as DNS answers carry them); a label may end with a hyphen (real lists have
such names, and DNS carries them). The file is read line by line into an
`EntriesBuilder`: no line is kept once read.
"""

import codecs
import functools
import io
import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from netwarden_common.host_names import ascii_name
from netwarden_helper.policy.domain_lists import EntriesBuilder, ListEntries

# Each format with a line of it that blocks (docs/blocklists.md shows the same).
FORMATS = {
    "hosts": "0.0.0.0 ads.example.com",
    "domains": "ads.example.com",
    "wildcard": "*.ads.example.com",
    "leading-dot": ".ads.example.com",
    "adblock": "||ads.example.com^",
    "dnsmasq": "address=/ads.example.com/0.0.0.0",
    "unbound": 'local-zone: "ads.example.com" always_nxdomain',
    "cidr": "192.0.2.0/24",
}
IGNORED_KINDS = {
    "comment": "comments and headers",
    "local": "local names (localhost, broadcasthost, ...)",
    "not_blocking": "a name mapped to a real address or server, or a zone that answers",
    "adblock_rule": "adblock rules other than ||name^ (exceptions, paths, options, cosmetic)",
    "directive": "other dnsmasq or unbound settings",
    "local_network": "networks of this computer or its LAN (loopback, private, link-local, "
    "multicast): a list never blocks them",
}
ACCEPTED, REJECTED = "accepted", "rejected"
SAMPLE = 1000
MIN_PREFIX = 8  # a shorter network (0.0.0.0/0) would block nearly everything: refused
# Ranges a CIDR list's entry must not touch: blocking them would cut this computer off
# from itself, its LAN, its router or multicast ("bogon" lists carry all of them).
LOCAL_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/3", "255.255.255.255/32",
    "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8",
))  # fmt: skip

LOCAL_NAMES = frozenset({
    "localhost", "localhost.localdomain", "local", "broadcasthost", "ip6-localhost",
    "ip6-loopback", "ip6-localnet", "ip6-mcastprefix", "ip6-allnodes", "ip6-allrouters",
    "ip6-allhosts", "0.0.0.0",
})  # fmt: skip
_LABEL = r"[a-z0-9_][a-z0-9_-]{0,62}"
_NAME = re.compile(rf"^(?=.{{1,253}}$)(?:{_LABEL}\.)*(?![0-9]+$){_LABEL}$")
_ADDRESS = re.compile(r"^(?:[0-9.]+|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*)(?:/[0-9]+)?$")
_ADBLOCK_NAME = re.compile(r"^\|\|([^/^$*|@]+)\^$")
_SETTING = re.compile(r"^[a-z][a-z0-9-]*$")
_BLOCKING_ZONES = frozenset({
    "deny", "refuse", "static", "redirect", "inform_deny", "inform_redirect",
    "always_refuse", "always_nxdomain", "always_null", "always_nodata",
})  # fmt: skip
_ANSWERING_ZONES = frozenset({
    "transparent", "typetransparent", "inform", "always_transparent", "block_a", "block_aaaa",
    "noview", "nodefault",
})  # fmt: skip


@dataclass(frozen=True)
class ParsedList:
    """A list's entries and how its lines were counted."""

    format: str
    entries: ListEntries
    accepted: int
    ignored: dict[str, int]  # by kind, only kinds seen
    rejected: int

    @property
    def skipped(self) -> int:
        """Lines neither taken nor comments."""
        return self.rejected + sum(self.ignored.values()) - self.ignored.get("comment", 0)

    def summary(self) -> str:
        """ "2 accepted, 1 rejected, ignored: 3 comment, 4 adblock_rule"."""
        ignored = ", ".join(f"{count} {kind}" for kind, count in self.ignored.items())
        return f"{self.accepted} accepted, {self.rejected} rejected" + (
            f", ignored: {ignored}" if ignored else ""
        )


def list_name(word: str) -> str | None:
    """`word` as a listed name is stored and looked up, or None if it is not one."""
    name = word.lower().rstrip(".")
    if not name.isascii():
        name = ascii_name(name) or ""
    return name if _NAME.match(name) else None


@functools.lru_cache(maxsize=64)
def _is_sink(address: str) -> bool | None:
    """True for an address that goes nowhere (0.0.0.0, ::, loopback), False for another,
    None for something that is not an address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    return ip.is_unspecified or ip.is_loopback


def _take(words: list[str], builder: EntriesBuilder) -> str:
    """Add the names among `words`: accepted if one was, else local or rejected."""
    taken = local = 0
    for word in words:
        if word.lower() in LOCAL_NAMES:
            local += 1
        elif (name := list_name(word)) is not None:
            builder.add_name(name)
            taken += 1
    return ACCEPTED if taken else "local" if local else REJECTED


def _names_line(line: str, builder: EntriesBuilder) -> str:
    """hosts, domains, wildcard and leading-dot lines."""
    words = line.split("#", 1)[0].split()
    if not words:
        return "comment"
    if _ADDRESS.match(words[0]):
        sink = _is_sink(words[0])
        if sink is None or len(words) < 2:
            return REJECTED
        return _take(words[1:], builder) if sink else "not_blocking"
    if len(words) > 1:
        return REJECTED
    word = words[0]
    return _take([word[2:] if word.startswith("*.") else word.removeprefix(".")], builder)


def _adblock_line(line: str, builder: EntriesBuilder) -> str:
    if line[0] in "![" or (line[0] == "#" and line[1:2] not in ("#", "@", "?", "$")):
        return "comment"
    match = _ADBLOCK_NAME.match(line)
    if match is None:
        return "adblock_rule"
    return _take([match[1]], builder)


def _dnsmasq_line(line: str, builder: EntriesBuilder) -> str:
    if line[0] == "#":
        return "comment"
    key, _, value = line.partition("=")
    if key not in ("address", "server", "local") or not value.startswith("/"):
        return "directive" if _SETTING.match(key) else REJECTED
    *domains, target = value[1:].split("/")
    if not domains:
        return REJECTED
    if key == "address" and target not in ("", "#"):
        sink = _is_sink(target)
        if sink is None:
            return REJECTED
        if not sink:
            return "not_blocking"
    elif key != "address" and target:  # server=/name/1.2.3.4: another server answers
        return "not_blocking"
    return _take([d[2:] if d.startswith("*.") else d for d in domains], builder)


def _unbound_line(line: str, builder: EntriesBuilder) -> str:
    if line[0] == "#":
        return "comment"
    key, colon, value = line.partition(":")
    if not colon or not _SETTING.match(key):
        return REJECTED
    value = value.split("#", 1)[0].strip()
    if key == "local-zone":
        words = value.split()
        if len(words) != 2 or words[1] not in _BLOCKING_ZONES | _ANSWERING_ZONES:
            return REJECTED
        if words[1] in _ANSWERING_ZONES:
            return "not_blocking"
        return _take([words[0].strip('"')], builder)
    if key == "local-data":  # "ads.example.com. [ttl] [IN] A 0.0.0.0"
        record = value.strip('"').split()
        if len(record) >= 3 and record[-2].upper() in ("A", "AAAA") and _is_sink(record[-1]):
            return _take(record[:1], builder)
    return "directive"


def _cidr_line(line: str, builder: EntriesBuilder) -> str:
    if line[0] in "#;":
        return "comment"
    words = re.split("[#;]", line, maxsplit=1)[0].split()
    if len(words) != 1:
        return REJECTED
    try:
        network = ipaddress.ip_network(words[0], strict=False)
    except ValueError:
        return REJECTED
    if network.prefixlen < MIN_PREFIX:
        return REJECTED
    if any(network.version == local.version and network.overlaps(local)
           for local in LOCAL_NETWORKS):  # fmt: skip
        return "local_network"
    builder.add_network(network)
    return ACCEPTED


_READERS: dict[str, Callable[[str, EntriesBuilder], str]] = {
    "hosts": _names_line, "domains": _names_line, "wildcard": _names_line,
    "leading-dot": _names_line, "adblock": _adblock_line, "dnsmasq": _dnsmasq_line,
    "unbound": _unbound_line, "cidr": _cidr_line,
}  # fmt: skip


def _shape(line: str) -> str | None:
    """The format a line looks like, or None for a comment."""
    if line.startswith(("||", "@@", "!", "[Adblock")) or "##" in line:
        return "adblock"
    if line[0] in "#;":
        return None
    if line.startswith(("address=/", "server=/", "local=/")):
        return "dnsmasq"
    if line.startswith(("local-zone:", "local-data:")):
        return "unbound"
    words = re.split("[#;]", line, maxsplit=1)[0].split()
    if _ADDRESS.match(words[0]):
        return "hosts" if len(words) > 1 else "cidr"
    return "wildcard" if words[0].startswith("*.") else "leading-dot" if words[0][0] == "." \
        else "domains"  # fmt: skip


def _lines(data: bytes) -> Iterator[str]:
    for raw in io.BytesIO(data.removeprefix(codecs.BOM_UTF8)):
        line = raw.decode("utf-8", errors="replace").strip()
        if line:
            yield line


def detect(data: bytes) -> str:
    """The format most of the first `SAMPLE` lines that are not comments have."""
    shapes: Counter[str] = Counter()
    for line in _lines(data):
        if (shape := _shape(line)) is not None:
            shapes[shape] += 1
            if shapes.total() >= SAMPLE:
                break
    return max(FORMATS, key=lambda name: shapes[name]) if shapes else "domains"


def parse_list(data: bytes) -> ParsedList:
    """A blocklist file's entries and counts, in the format detected for it."""
    file_format = detect(data)
    read = _READERS[file_format]
    builder = EntriesBuilder()
    counts: Counter[str] = Counter()
    for line in _lines(data):
        counts[read(line, builder)] += 1
    accepted, rejected = counts.pop(ACCEPTED, 0), counts.pop(REJECTED, 0)
    return ParsedList(file_format, builder.build(), accepted, dict(counts), rejected)
