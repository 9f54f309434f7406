"""Addresses and the places a location database gives for them (pure).

An address is "local" (this network: private, loopback, link-local, shared carrier
space, IETF protocol assignments, benchmarking, reserved, multicast, unspecified) and
never looked up, or remote. An IPv6 address that carries an IPv4 one (IPv4-mapped, NAT64's
64:ff9b::/96, 6to4's 2002::/16) is judged and looked up as that IPv4 address. A remote address's
database record (GeoIP2 layout, as DB-IP's and MaxMind's files have it) is shaped into a
place: "city" when the record has coordinates, "country" when it names a country only,
"unknown" when the database has nothing for it (or there is no database).
"""

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from netwarden_common.errors import BadValue

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

LOCAL_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4",
        "240.0.0.0/4", "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8",
    )
)  # fmt: skip
NAT64 = ipaddress.ip_network("64:ff9b::/96")
MAX_ADDRESSES = 1024


def parsed_addresses(addresses: Iterable[Any]) -> list[Address]:
    """`addresses` (IPv4 or IPv6 literals) parsed; `BadValue` names the first that is not."""
    parsed = []
    for text in addresses:
        try:
            if not isinstance(text, str) or "%" in text:
                raise ValueError
            parsed.append(ipaddress.ip_address(text))
        except ValueError:
            raise BadValue(f"addresses: {str(text)[:64]!r} is not an IP address") from None
        if len(parsed) > MAX_ADDRESSES:
            raise BadValue(f"addresses: at most {MAX_ADDRESSES} in one call")
    return parsed


def plain_address(address: Address) -> Address:
    """An IPv6 address carrying an IPv4 one (IPv4-mapped, NAT64, 6to4) as that IPv4
    address; any other address as it is."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    carried = address.ipv4_mapped or address.sixtofour
    return carried if carried is not None else address


def is_local(address: Address) -> bool:
    """On this network (never looked up, shown as "this network")."""
    address = plain_address(address)
    return any(address in network for network in LOCAL_NETWORKS)


def place(address: Address, record: Mapping[str, Any] | None) -> dict[str, Any]:
    """The place of a remote `address` from its database `record` (None: not found):
    kind ("city", "country" or "unknown"), country_code, country, city, latitude,
    longitude (those the record has)."""
    found: dict[str, Any] = {"address": str(address), "kind": "unknown"}
    if not isinstance(record, Mapping):
        return found
    country = record.get("country") or record.get("registered_country") or {}
    if isinstance(country, Mapping) and isinstance(country.get("iso_code"), str):
        found.update(kind="country", country_code=country["iso_code"].upper(),
                     country=_name(country) or country["iso_code"].upper())  # fmt: skip
    city = _name(record.get("city"))
    if city:
        found["city"] = city
    location = record.get("location")
    if isinstance(location, Mapping):
        latitude: Any = location.get("latitude")
        longitude: Any = location.get("longitude")
        if _coordinate(latitude, 90) and _coordinate(longitude, 180):
            found.update(kind="city", latitude=float(latitude), longitude=float(longitude))
    return found


def located(addresses: Iterable[Any], record_of: Callable[[Address], Any]) -> list[dict[str, Any]]:
    """The place of each of `addresses` (`BadValue` for one that is not an address), the
    remote ones from `record_of(address)` (their database record, or None)."""
    return [
        {"address": str(address), "kind": "local"}
        if is_local(address)
        else place(address, record_of(plain_address(address)))
        for address in parsed_addresses(addresses)
    ]


def _name(part: Any) -> str:
    """The English name of a record's part (its first name when it has no English one)."""
    names = part.get("names") if isinstance(part, Mapping) else None
    if not isinstance(names, Mapping) or not names:
        return ""
    name = names.get("en", next(iter(names.values())))
    return name[:200] if isinstance(name, str) else ""


def _coordinate(value: Any, bound: float) -> bool:
    return (
        isinstance(value, int | float) and not isinstance(value, bool) and -bound <= value <= bound
    )
