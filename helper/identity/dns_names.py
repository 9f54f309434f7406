"""Host names of IP addresses, learnt from the answers to DNS queries this host sent.

The network may lie: a peer can send DNS answers nobody asked for. So a name is learnt
only from an answer that matches a query seen leaving this host: the same
server and local port (netfilter also queues only answers of established conntrack
flows), the same message id and the same question. From a matching answer, only the
question's own records count: the A/AAAA records of the question's name and of the
CNAME chain that starts at it, never records about other names riding along. Each
address maps to those names until the record's TTL runs out. Both maps are bounded (the
oldest entries go first). Malformed messages are counted and ignored; they never raise.
"""

import time
from collections import OrderedDict
from collections.abc import Callable

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype

from netwarden_common.rules import normalize_host
from netwarden_helper.runtime.events import Event

_MIN_TTL_S = 30  # keep very short-lived answers long enough for the connection they serve
_MAX_NAMES_PER_ADDRESS = 8
_ADDRESS_TYPES = (dns.rdatatype.A, dns.rdatatype.AAAA)
_MAX_CHAIN = 16
QUERY_WAIT_S = 30.0  # how long an answer to a query is expected
MAX_QUERIES = 4096

Endpoint = tuple[str, int]  # (address, port)


class DnsNames:
    def __init__(self, max_addresses: int = 50_000, clock: Callable[[], float] = time.time) -> None:
        self._names: OrderedDict[str, dict[str, float]] = OrderedDict()
        self._queries: OrderedDict[tuple[str, int, int], tuple[str, float]] = OrderedDict()
        self._max_addresses = max_addresses
        self._clock = clock
        self.malformed = 0
        self.unsolicited = 0
        # an address got a name it did not have (told before its answer is let through)
        self.learnt: Event[[str]] = Event()

    def __len__(self) -> int:
        return len(self._names)

    @property
    def pending_queries(self) -> int:
        """Queries noted whose answer has not come (yet)."""
        return len(self._queries)

    def observe(
        self, payload: bytes, source: Endpoint, destination: Endpoint, over_tcp: bool = False
    ) -> None:
        """Take in what the DNS queue saw sent from `source` to `destination` ((address,
        port) each): a UDP payload, or a TCP segment holding whole length-prefixed
        messages (one or more: a resolver may send its A and AAAA queries in one write). A
        query leaving this host is noted; an answer coming in is learnt from if it answers
        a noted query."""
        wires = _tcp_messages(payload) if over_tcp else [payload]
        for wire in wires:
            message = self._message(wire)
            if message is not None and len(message.question) == 1:
                self._take(message, source, destination)

    def _take(self, message: dns.message.Message, source: Endpoint, destination: Endpoint) -> None:
        question = normalize_host(message.question[0].name.to_text())
        now = self._clock()
        if not message.flags & dns.flags.QR:
            self._noted(destination[0], source[1], message.id, question, now)
            return
        key = (source[0], destination[1], message.id)
        asked = self._queries.get(key)
        if asked is None or asked[0] != question or asked[1] < now:
            self.unsolicited += 1  # and a forged answer does not cancel the real one
            return
        del self._queries[key]
        self._learn_chain(message, question, now)

    def _noted(self, server: str, port: int, message_id: int, question: str, now: float) -> None:
        queries = self._queries
        while queries and (len(queries) >= MAX_QUERIES or next(iter(queries.values()))[1] < now):
            queries.popitem(last=False)
        queries[(server, port, message_id)] = (question, now + QUERY_WAIT_S)

    def _message(self, wire: bytes) -> dns.message.Message | None:
        try:
            return dns.message.from_wire(wire, ignore_trailing=True)
        except (dns.exception.DNSException, ValueError, IndexError, KeyError):
            self.malformed += 1
            return None

    def _learn_chain(self, message: dns.message.Message, question: str, now: float) -> None:
        # Only class IN records count (a CH A record has a number, another class's is
        # opaque data); only those on the chain from the question.
        records = [rrset for rrset in message.answer if rrset.rdclass == dns.rdataclass.IN]
        chain = [question]
        for name in chain:
            for rrset in records:
                owner = normalize_host(rrset.name.to_text())
                if rrset.rdtype == dns.rdatatype.CNAME and owner == name:
                    for record in rrset:
                        target = normalize_host(record.target.to_text())
                        if target not in chain and len(chain) < _MAX_CHAIN:
                            chain.append(target)
        for rrset in records:
            if rrset.rdtype in _ADDRESS_TYPES and normalize_host(rrset.name.to_text()) in chain:
                expires = now + max(rrset.ttl, _MIN_TTL_S)
                for record in rrset:
                    self._remember(record.address, chain, expires)

    def _remember(self, address: str, names: list[str], expires: float) -> None:
        known = self._names.pop(address, {})
        now = self._clock()
        new = any(known.get(name, 0.0) <= now for name in names)
        for name in names:
            known[name] = max(expires, known.get(name, 0.0))
        if len(known) > _MAX_NAMES_PER_ADDRESS:
            known = dict(sorted(known.items(), key=lambda item: item[1])[-_MAX_NAMES_PER_ADDRESS:])
        self._names[address] = known
        while len(self._names) > self._max_addresses:
            self._names.popitem(last=False)
        if new:
            self.learnt.emit(address)

    def names_for(self, address: str) -> tuple[str, ...]:
        """The names `address` was resolved from and still valid, most recent first."""
        known = self._names.get(address)
        if not known:
            return ()
        now = self._clock()
        valid = sorted(((t, n) for n, t in known.items() if t > now), reverse=True)
        return tuple(name for _t, name in valid)

    def expiry(self, address: str) -> float | None:
        """When the first of `address`'s valid names expires (Unix time); None: none."""
        now = self._clock()
        valid = [t for t in self._names.get(address, {}).values() if t > now]
        return min(valid, default=None)


def _tcp_messages(segment: bytes) -> list[bytes]:
    """The whole length-prefixed DNS messages a TCP segment holds (a message split over
    segments is not read: names from it are not learnt)."""
    messages = []
    while len(segment) >= 2:
        length = int.from_bytes(segment[:2], "big")
        if length == 0 or len(segment) < 2 + length:
            break
        messages.append(segment[2 : 2 + length])
        segment = segment[2 + length :]
    return messages
