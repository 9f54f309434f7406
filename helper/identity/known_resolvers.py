"""Names of well-known public DNS resolvers, by address. Pure.

A program that resolves names itself over TLS (port 853) or HTTPS (443) to a public
resolver asks no DNS question Netwarden can read, so nothing names the address it
connects to: the prompt would say "firefox wants to connect to 1.1.1.1". These are the
addresses the resolvers' operators publish for their encrypted DNS; a flow to one of
them, with no name learnt from DNS, is shown under the resolver's name (and a host rule
for that name matches it).
"""

import ipaddress

_RESOLVERS = {
    "cloudflare-dns.com": ("1.1.1.1", "1.0.0.1", "2606:4700:4700::1111", "2606:4700:4700::1001"),
    "dns.google": ("8.8.8.8", "8.8.4.4", "2001:4860:4860::8888", "2001:4860:4860::8844"),
    "dns.quad9.net": ("9.9.9.9", "149.112.112.112", "2620:fe::fe", "2620:fe::9"),
    "dns.adguard-dns.com": ("94.140.14.14", "94.140.15.15", "2a10:50c0::ad1:ff",
                            "2a10:50c0::ad2:ff"),
    "doh.opendns.com": ("208.67.222.222", "208.67.220.220", "2620:119:35::35",
                        "2620:119:53::53"),
    "dns.mullvad.net": ("194.242.2.2", "2a07:e340::2"),
    "dns.nextdns.io": ("45.90.28.0", "45.90.30.0", "2a07:a8c0::", "2a07:a8c1::"),
}  # fmt: skip
_BY_ADDRESS = {
    ipaddress.ip_address(address): name
    for name, addresses in _RESOLVERS.items()
    for address in addresses
}


def resolver_name(address: str) -> str | None:
    """The public resolver answering at `address`, or None."""
    try:
        return _BY_ADDRESS.get(ipaddress.ip_address(address))
    except ValueError:
        return None
