"""One OpenSnitch operator (operand, type, data) as the Netwarden rule fields it stands
for: a list of alternatives, any of which matching is the operator matching. Each
alternative is a dict of fields; `destination` is a tuple of entries and `ports` a tuple
of (low, high) ranges, both sets a single rule holds. The mapping is documented in
docs/cli.md, "OpenSnitch import"."""

import functools
import ipaddress
from collections.abc import Callable
from typing import Any

from netwarden.cli.opensnitch.destinations import (
    Context,
    Names,
    Unconvertible,
    host_pattern,
    ip_pattern,
    list_entries,
    literals,
    network,
)
from netwarden.cli.opensnitch.programs import (
    command_regexp,
    command_simple,
    path_regexp,
    path_simple,
    user_name,
)
from netwarden.cli.opensnitch.regexps import RegexpError, alternatives, python_pattern

Fields = dict[str, Any]
Translate = Callable[[str, Context], list[Fields]]

# OpenSnitch's protocol names and Netwarden's; OpenSnitch's tcp is IPv4 only, tcp6 IPv6.
PROTOCOLS = {
    "tcp": "tcp", "udp": "udp", "udplite": "udplite", "icmp": "icmp", "sctp": "sctp",
    "tcp6": "tcp", "udp6": "udp", "udplite6": "udplite", "icmp6": "icmpv6",
}  # fmt: skip
_ADDRESS_RULE = "Netwarden rules match the destination, not the source"
UNSUPPORTED = {
    "process.id": "a process id changes on every run; Netwarden ties only temporary "
    "(until_quit) rules to a process",
    "process.parent.path": "Netwarden rules have no parent-process condition (OpenSnitch "
    "matched a program whose parent, or any ancestor, is this path)",
    "process.hash.md5": "Netwarden pins programs by sha256; an md5 hash cannot be turned "
    "into a sha256 (pin the program again by answering its prompt)",
    "process.hash.sha1": "Netwarden pins programs by sha256; a sha1 hash cannot be turned "
    "into a sha256 (pin the program again by answering its prompt)",
    "lists.hash.md5": "Netwarden pins programs by sha256, not by lists of md5 hashes",
    "source.ip": _ADDRESS_RULE,
    "source.port": "Netwarden rules do not match the source port",
    "source.network": _ADDRESS_RULE,
    "iface.in": "Netwarden rules do not match network interfaces",
    "iface.out": "Netwarden rules do not match network interfaces",
}
_LISTS = ("lists.domains", "lists.domains_regexp", "lists.ips", "lists.nets")


def operator_fields(kind: str, operand: str, data: str, ctx: Context) -> list[Fields]:
    """The alternatives of one operator (not a `list`); `Unconvertible` says why not."""
    if operand == "true":
        return [{}]
    if operand in UNSUPPORTED or operand.startswith("process.env."):
        raise Unconvertible(
            UNSUPPORTED.get(operand, "Netwarden rules do not match environment variables")
        )
    if operand in _LISTS:
        if kind != "lists":
            raise Unconvertible(f"{operand} needs the type lists, not {kind}")
        return [{"destination": tuple(list_entries(operand, data, ctx))}]
    kinds = _OPERANDS.get(operand)
    if kinds is None:
        raise Unconvertible("unknown operand")
    if kind not in kinds:
        raise Unconvertible(f"a {kind} operator on {operand} (only {', '.join(kinds)} convert)")
    return kinds[kind](data, ctx)


def _uid(data: str, ctx: Context) -> list[Fields]:
    return [{"uid": _number(data, "a user id", 0, 2**32 - 2)}]


def _uids(data: str, ctx: Context) -> list[Fields]:
    return [found for text in literals(data, "user id") for found in _uid(text, ctx)]


def _number(data: str, what: str, low: int, high: int) -> int:
    if not data.isdigit() or not low <= int(data) <= high:
        raise Unconvertible(f"{data!r} is not {what}")
    return int(data)


def _port(data: str, ctx: Context) -> list[Fields]:
    port = _number(data, "a port", 1, 65535)
    return [{"ports": ((port, port),)}]


def _port_range(data: str, ctx: Context) -> list[Fields]:
    """OpenSnitch's `min-max`; bounds beyond the ports that exist are trimmed to them."""
    low, _, high = data.replace(" ", "").partition("-")
    if not (low.isdigit() and high.isdigit()) or int(low) > int(high) or int(high) < 1:
        raise Unconvertible(f"{data!r} is not a range of ports (like 22000-22010)")
    return [{"ports": ((max(int(low), 1), min(int(high), 65535)),)}]


def _port_regexp(data: str, ctx: Context) -> list[Fields]:
    ports = _matching_ports(data)
    if len(ports) == 65535:
        return [{}]
    return [{"ports": port_ranges(ports)}]


@functools.lru_cache(maxsize=256)
def _matching_ports(data: str) -> list[int]:
    """Exact: an alternation of ports as written, else every port tried."""
    try:
        found = [alternative.literal() for alternative in alternatives(data)]
    except RegexpError as exc:
        raise Unconvertible(f"the regular expression {data!r}: {exc}") from None
    if all(text is not None and text.isdigit() for text in found):
        ports = sorted({int(text) for text in found if text and 1 <= int(text) <= 65535})
    else:
        expression = _compiled(data)
        ports = [port for port in range(1, 65536) if expression.search(str(port))]
    if not ports:
        raise Unconvertible(f"{data!r} matches no port")
    return ports


def port_ranges(ports: list[int]) -> tuple[tuple[int, int], ...]:
    """Sorted ports as ranges of consecutive ones."""
    ranges: list[tuple[int, int]] = []
    for port in ports:
        if ranges and ranges[-1][1] == port - 1:
            ranges[-1] = (ranges[-1][0], port)
        else:
            ranges.append((port, port))
    return tuple(ranges)


def _compiled(data: str) -> Any:
    try:
        return python_pattern(data.lower())
    except RegexpError as exc:
        raise Unconvertible(f"the regular expression {data!r}: {exc}") from None


def _protocol(data: str, ctx: Context) -> list[Fields]:
    return _protocols([data.lower()], ctx)


def _protocol_regexp(data: str, ctx: Context) -> list[Fields]:
    """Exact: every protocol OpenSnitch names is tried against the expression."""
    expression = _compiled(data)
    matched = [name for name in PROTOCOLS if expression.search(name)]
    if not matched:
        raise Unconvertible(f"{data!r} matches no protocol")
    return _protocols(matched, ctx)


def _protocols(names: list[str], ctx: Context) -> list[Fields]:
    """One alternative per Netwarden protocol; a note where OpenSnitch matched it on one
    IP version only (Netwarden's covers both)."""
    for name in names:
        if name not in PROTOCOLS:
            raise Unconvertible(f"protocol {name!r} has no Netwarden equivalent")
    chosen = list(dict.fromkeys(PROTOCOLS[name] for name in names))
    for protocol in chosen:
        families = {
            "IPv6" if n.endswith("6") else "IPv4" for n in names if PROTOCOLS[n] == protocol
        }
        if len(families) == 1 and protocol not in ("icmp", "icmpv6"):
            ctx.note(
                f"protocol {protocol}: OpenSnitch matches it on {families.pop()} only; "
                f"Netwarden's {protocol} covers IPv4 and IPv6"
            )
    return [{"protocol": protocol} for protocol in chosen]


def _host(data: str, ctx: Context) -> list[Fields]:
    return [{"destination": (data.lower().rstrip("."),)}]


def _hosts(data: str, ctx: Context) -> list[Fields]:
    names = Names()
    if not host_pattern(data, names, ctx):
        return [{}]
    return [{"destination": tuple(names.entries(ctx, repr(data)))}]


def _ip(data: str, ctx: Context) -> list[Fields]:
    try:
        return [{"destination": (str(ipaddress.ip_address(data)),)}]
    except ValueError:
        raise Unconvertible(f"{data!r} is not an IP address") from None


def _ips(data: str, ctx: Context) -> list[Fields]:
    return [{"destination": tuple(ip_pattern(data, ctx))}]


def _network(data: str, ctx: Context) -> list[Fields]:
    return [{"destination": tuple(network(data, ctx))}]


_OPERANDS: dict[str, dict[str, Translate]] = {
    "process.path": {"simple": path_simple, "regexp": path_regexp},
    "process.command": {"simple": command_simple, "regexp": command_regexp},
    "user.id": {"simple": _uid, "regexp": _uids},
    "user.name": {"simple": user_name},
    "dest.host": {"simple": _host, "regexp": _hosts},
    "dest.ip": {"simple": _ip, "regexp": _ips},
    "dest.network": {"network": _network, "simple": _network},
    "dest.port": {"simple": _port, "regexp": _port_regexp, "range": _port_range},
    "protocol": {"simple": _protocol, "regexp": _protocol_regexp},
}
