"""Host names of IP addresses, learnt from the DNS answers this host receives.

Each A/AAAA record maps its address to the name asked for (the question) and to every
name in the CNAME chain that led to it, until the record's TTL runs out. The map is
bounded: past `max_addresses`, the least recently learnt address is forgotten. Malformed
answers are counted and ignored; they never raise.
"""

import time
from collections import OrderedDict
from collections.abc import Callable

import dns.exception
import dns.message
import dns.rdataclass
import dns.rdatatype

from netwarden_common.rules import normalize_host

_MIN_TTL_S = 30  # keep very short-lived answers long enough for the connection they serve
_MAX_NAMES_PER_ADDRESS = 8
_ADDRESS_TYPES = (dns.rdatatype.A, dns.rdatatype.AAAA)


class DnsNames:
    def __init__(self, max_addresses: int = 50_000, clock: Callable[[], float] = time.time) -> None:
        self._names: OrderedDict[str, dict[str, float]] = OrderedDict()
        self._max_addresses = max_addresses
        self._clock = clock
        self.malformed = 0

    def __len__(self) -> int:
        return len(self._names)

    def learn(self, payload: bytes, over_tcp: bool = False) -> None:
        """Take in one DNS message (UDP payload, or a TCP segment with its length prefix)."""
        if over_tcp:
            if len(payload) < 2 or int.from_bytes(payload[:2], "big") != len(payload) - 2:
                return  # not a whole message in this segment
            payload = payload[2:]
        try:
            message = dns.message.from_wire(payload, ignore_trailing=True)
        except (dns.exception.DNSException, ValueError, IndexError, KeyError):
            self.malformed += 1
            return
        if not message.question:
            return
        now = self._clock()
        chain = {normalize_host(message.question[0].name.to_text())}
        for rrset in message.answer:
            if rrset.rdtype == dns.rdatatype.CNAME:
                chain.add(normalize_host(rrset.name.to_text()))
                chain.update(normalize_host(r.target.to_text()) for r in rrset)
        for rrset in message.answer:
            # Only class IN A/AAAA records hold IP addresses (a CH A record has a number,
            # another class's is opaque data).
            if rrset.rdclass == dns.rdataclass.IN and rrset.rdtype in _ADDRESS_TYPES:
                expires = now + max(rrset.ttl, _MIN_TTL_S)
                names = chain | {normalize_host(rrset.name.to_text())}
                for record in rrset:
                    self._remember(record.address, names, expires)

    def _remember(self, address: str, names: set[str], expires: float) -> None:
        known = self._names.pop(address, {})
        for name in names:
            known[name] = max(expires, known.get(name, 0.0))
        if len(known) > _MAX_NAMES_PER_ADDRESS:
            known = dict(sorted(known.items(), key=lambda item: item[1])[-_MAX_NAMES_PER_ADDRESS:])
        self._names[address] = known
        while len(self._names) > self._max_addresses:
            self._names.popitem(last=False)

    def names_for(self, address: str) -> tuple[str, ...]:
        """The names `address` was resolved from and still valid, most recent first."""
        known = self._names.get(address)
        if not known:
            return ()
        now = self._clock()
        valid = sorted(((t, n) for n, t in known.items() if t > now), reverse=True)
        return tuple(name for _t, name in valid)
