"""Where an OpenSnitch operator lets a connection go (`dest.host`, `dest.ip`,
`dest.network`, `lists.*`), as the entries of a Netwarden destination set: host names,
`*.domain` (the domain and every name under it), IP addresses and networks. Pure."""

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from itertools import product

from netwarden.cli.opensnitch.reading import list_lines
from netwarden.cli.opensnitch.regexps import Alternative, Atom, RegexpError, alternatives

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_OCTETS = tuple(str(value) for value in range(256))
_MAX_NETWORKS = 65536
# The UI's LAN expression ends with this IPv6 part: unique local and link-local addresses.
_UI_LAN_IPV6 = "f[cde].*::.*"
_UI_LAN_ATOMS = alternatives(_UI_LAN_IPV6)[0].atoms
_UI_LAN_NETWORKS = ("fc00::/7", "fe80::/10")


class Unconvertible(Exception):
    """An operator with no Netwarden equivalent; the message says why."""


@dataclass
class Context:
    """What translating one rule's operators needs: its action, because a Netwarden rule
    matching more than OpenSnitch's is acceptable for a deny rule (it blocks more, and
    says so in a note) and never for an allow rule; and where the notes go."""

    action: str
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def broader(self, what: str) -> None:
        if self.action != "deny":
            raise Unconvertible(f"{what}: as an allow rule it would let more through")
        self.note(f"{what}: the deny rule blocks more than in OpenSnitch")

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


@dataclass
class Names:
    """Host names and domains gathered from expressions or a list: exact names, domains
    with every name under them, and domains whose names under them only (not the domain
    itself) are meant."""

    hosts: set[str] = field(default_factory=set)
    domains: set[str] = field(default_factory=set)
    below: set[str] = field(default_factory=set)

    def entries(self, ctx: Context, source: str) -> list[str]:
        """The destination entries; a domain meant without its own name is widened to
        `*.domain` only where that is acceptable (`Context.broader`)."""
        for name in sorted(self.below - self.hosts - self.domains):
            ctx.broader(f"{source} matches the names under {name}, and *.{name} also {name}")
        domains = self.domains | self.below
        hosts = {host for host in self.hosts if not _under(host, domains)}
        return sorted(hosts) + [f"*.{name}" for name in sorted(domains)]


def _under(host: str, domains: set[str]) -> bool:
    labels = host.split(".")
    return any(".".join(labels[index:]) in domains for index in range(len(labels)))


def host_pattern(pattern: str, names: Names, ctx: Context) -> bool:
    """Add what a `dest.host` expression matches to `names`; False when it matches any
    name (no destination condition)."""
    return all(
        _add_host(alternative, names, ctx, pattern) for alternative in _alternatives(pattern)
    )


def _add_host(alternative: Alternative, names: Names, ctx: Context, pattern: str) -> bool:
    atoms = _dots(alternative.atoms, ctx, pattern)
    lead = not alternative.start or (bool(atoms) and atoms[0].is_star)
    trail = not alternative.end or (bool(atoms) and atoms[-1].is_star)
    middle = atoms[1 if atoms and atoms[0].is_star else 0 :]
    middle = middle[: -1 if middle and middle[-1].is_star else None]
    name = _literal(middle)
    if name is None:
        raise Unconvertible(
            f"{pattern!r} is not a host name, a domain with the names under it, or any name"
        )
    name = name.lower()
    if not name:
        if lead or trail:
            return False
        raise Unconvertible(f"{pattern!r} matches only connections without a host name")
    if trail and "." in name.strip("."):
        ctx.note(
            f"{pattern!r} has no '$': OpenSnitch also matched names that only begin with "
            f"{name.lstrip('.')} (such as {name.lstrip('.')}.example.net)"
        )
    elif trail:
        raise Unconvertible(f"{pattern!r} matches any name containing {name!r}")
    if not lead:
        names.hosts.add(name)
    elif name.startswith("."):
        names.below.add(name[1:])
    elif "." in name:
        ctx.note(
            f"{pattern!r} also matched names that merely end in {name} (such as x{name}); "
            f"the rule matches *.{name}"
        )
        names.domains.add(name)
    else:
        raise Unconvertible(f"{pattern!r} matches any name ending in {name!r}")
    return True


def _dots(atoms: tuple[Atom, ...], ctx: Context, pattern: str) -> tuple[Atom, ...]:
    """An unescaped '.' (any one character) between the letters of a name read as the
    dot it was surely meant to be, with a note: OpenSnitch matched any character there."""
    if not any(atom.chars is None and atom.low == atom.high for atom in atoms):
        return atoms
    ctx.note(f"{pattern!r} has an unescaped '.', which matches any character: read as a dot")
    dot = frozenset(".")
    return tuple(
        replace(atom, chars=dot) if atom.chars is None and atom.low == atom.high else atom
        for atom in atoms
    )


def _literal(atoms: Iterable[Atom]) -> str | None:
    text = ""
    for atom in atoms:
        if atom.char is None or atom.low != atom.high:
            return None
        text += atom.char * atom.low
    return text


def _alternatives(pattern: str) -> list[Alternative]:
    try:
        return alternatives(pattern)
    except RegexpError as exc:
        raise Unconvertible(f"the regular expression {pattern!r}: {exc}") from None


def literals(pattern: str, what: str) -> list[str]:
    """The exact strings an expression is an alternation of (`^(a|b)$`)."""
    found = [alternative.literal() for alternative in _alternatives(pattern)]
    if not found or None in found:
        raise Unconvertible(f"the regular expression {pattern!r} is not a list of exact {what}s")
    return [text for text in found if text is not None]


def ip_pattern(pattern: str, ctx: Context) -> list[str]:
    """The addresses and networks a `dest.ip` expression matches (Go writes addresses in
    their canonical form: IPv4 dotted decimal, IPv6 compressed)."""
    networks: list[IPNetwork] = []
    for alternative in _alternatives(pattern):
        text = alternative.literal()
        if text is not None and _address(text) is not None:
            networks.append(ipaddress.ip_network(text))
        elif alternative.start and alternative.atoms == _UI_LAN_ATOMS:
            ctx.note(
                f"{_UI_LAN_IPV6!r} (the IPv6 part of OpenSnitch's LAN expression) is read as "
                f"{' and '.join(_UI_LAN_NETWORKS)}, the networks it is meant for"
            )
            networks += [ipaddress.ip_network(text) for text in _UI_LAN_NETWORKS]
        else:
            networks += _ipv4_networks(_dots(alternative.atoms, ctx, pattern), alternative)
    if not networks:
        raise Unconvertible(f"{pattern!r} matches no IP address")
    return network_entries(networks)


def _body(alternative: Alternative) -> str:
    return "".join(atom.python() for atom in alternative.atoms)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def network_entries(networks: Iterable[IPNetwork]) -> list[str]:
    """Networks merged where they touch, a one-address network written as the address."""
    every = list(networks)
    v4 = [n for n in every if isinstance(n, ipaddress.IPv4Network)]
    v6 = [n for n in every if isinstance(n, ipaddress.IPv6Network)]
    merged: list[IPNetwork] = [*ipaddress.collapse_addresses(v4)]
    merged += ipaddress.collapse_addresses(v6)
    return [
        str(network.network_address) if network.num_addresses == 1 else str(network)
        for network in merged
    ]


def _ipv4_networks(atoms: tuple[Atom, ...], alternative: Alternative) -> list[IPNetwork]:
    """The IPv4 networks an alternative matches, octet by octet: each group between two
    literal dots must match digits only; a final `.*` (or no `$`) leaves the rest free.
    Exact: each octet's values are found by trying all 256."""
    groups: list[list[Atom]] = [[]]
    for atom in atoms:
        if atom.char == "." and atom.low == atom.high == 1:
            groups.append([])
        else:
            groups[-1].append(atom)
    prefix_end = not alternative.end  # the last group need only begin its octet
    dotted_rest = False  # `\..*`: the last group is whole and more octets follow
    if groups[-1] and groups[-1][-1].is_star:
        groups[-1].pop()
        prefix_end = bool(groups[-1])
        if not groups[-1]:
            groups.pop()
            dotted_rest = True
    for atom in (atom for group in groups for atom in group):
        if atom.chars is None or atom.negated or not atom.chars <= frozenset("0123456789"):
            raise Unconvertible(
                f"{_body(alternative)!r} is neither an address nor an IPv4 pattern of "
                "digits between dots"
            )
    free_start = not alternative.start
    networks: list[IPNetwork] = []
    count = len(groups)
    for first in range(0, 4 - count + 1) if free_start else (0,):
        last = first + count - 1
        if dotted_rest and last >= 3:
            continue
        if not (dotted_rest or prefix_end) and last != 3:
            continue
        octets: list[tuple[str, ...]] = [_OCTETS] * 4
        for index, group in enumerate(groups):
            expression = "".join(atom.python() for atom in group)
            begins = index == 0 and free_start
            ends = index == count - 1 and prefix_end
            compiled = re.compile(
                ("" if begins else "^") + f"(?:{expression})" + ("" if ends else "$")
            )
            octets[first + index] = tuple(o for o in _OCTETS if compiled.search(o))
        networks += _product_networks(octets)
    return networks


def _product_networks(octets: list[tuple[str, ...]]) -> list[IPNetwork]:
    fixed = max((index + 1 for index, values in enumerate(octets) if len(values) < 256), default=0)
    total = 1
    for values in octets[:fixed]:
        total *= len(values)
    if total > _MAX_NETWORKS:
        raise Unconvertible(f"it matches more than {_MAX_NETWORKS} separate networks")
    return [
        ipaddress.ip_network(".".join([*values, *["0"] * (4 - fixed)]) + f"/{8 * fixed}")
        for values in product(*octets[:fixed])
    ]


def network(data: str, ctx: Context) -> list[str]:
    """A `dest.network` value: a CIDR, or a network alias (OpenSnitch's `LAN`,
    `MULTICAST`, or one of the aliases file) as its networks."""
    if data in ctx.aliases:
        return network_entries(ipaddress.ip_network(n) for n in ctx.aliases[data])
    if "/" not in data:
        raise Unconvertible(f"{data!r} is neither a network (CIDR) nor a network alias")
    try:
        return network_entries([ipaddress.ip_network(data, strict=False)])
    except ValueError:
        raise Unconvertible(f"{data!r} is not a network (CIDR)") from None


_LOCAL_NAMES = {"local", "localhost", "localhost.localdomain", "broadcasthost"}


def list_entries(operand: str, folder: str, ctx: Context) -> list[str]:
    """The destination entries of the list folder a `lists.*` operator names, read as
    OpenSnitch reads it: `lists.domains` from hosts-file lines (`0.0.0.0 name`, `*.name`
    or `.name` for the names under it), `lists.domains_regexp` one expression a line,
    `lists.ips` and `lists.nets` addresses and networks."""
    names = Names()
    networks: list[IPNetwork] = []
    ignored = 0
    try:
        for file, number, line in list_lines(folder):
            if operand == "lists.domains":
                ignored += not _add_listed_name(line, names, f"{file}:{number}")
            elif operand == "lists.domains_regexp":
                if not host_pattern(line, names, ctx):
                    raise Unconvertible(f"{file}:{number}: {line!r} matches any name")
            else:
                try:
                    networks.append(ipaddress.ip_network(line, strict=False))
                except ValueError:
                    ignored += 1
    except OSError as exc:
        raise Unconvertible(f"cannot read the list folder {folder}: {exc.strerror}") from None
    if ignored:
        what = "'0.0.0.0 name' or '127.0.0.1 name' lines" if operand == "lists.domains" else (
            "addresses or networks"
        )  # fmt: skip
        ctx.note(f"{ignored} lines in {folder} are not {what}: OpenSnitch ignores them too")
    found = names.entries(ctx, f"the list {folder}") + network_entries(networks)
    if not found:
        raise Unconvertible(f"the list folder {folder} has no entries: the rule matches nothing")
    return found


def _add_listed_name(line: str, names: Names, where: str) -> bool:
    """Add a hosts-file line's name to `names`; False for a line OpenSnitch ignores."""
    address, _, name = line.partition(" ") if " " in line else line.partition("\t")
    name = name.strip().lower()
    if address not in ("0.0.0.0", "127.0.0.1") or not name or name in _LOCAL_NAMES:
        return False
    if any(c in name.removeprefix("*.") for c in "*?[]"):
        raise Unconvertible(
            f"{where}: {name!r} is a glob, which a Netwarden destination cannot say"
        )
    if name.startswith(("*.", ".")):
        names.below.add(name.lstrip("*.").strip("."))
    elif any(c.isspace() for c in name):
        return False
    else:
        names.hosts.add(name.rstrip("."))
    return True
