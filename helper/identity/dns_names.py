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

    def __len__(self) -> int:
        return len(self._names)

    @property
    def pending_queries(self) -> int:
        """Queries noted whose answer has not come (yet)."""
        return len(self._queries)

    def observe(
        self, payload: bytes, source: Endpoint, destination: Endpoint, over_tcp: bool = False
    ) -> None:
        """Take in one DNS message seen by the DNS queue (UDP payload, or a TCP segment with
        its length prefix), sent from `source` to `destination` ((address, port) each): a
        query leaving this host is noted; an answer coming in is learnt from if it answers
        a noted query."""
        message = self._message(payload, over_tcp)
        if message is None or len(message.question) != 1:
            return
        question = normalize_host(message.question[0].name.to_text())
        now = self._clock()
        if not message.flags & dns.flags.QR:
            self._noted(destination[0], source[1], message.id, question, now)
            return
        asked = self._queries.pop((source[0], destination[1], message.id), None)
        if asked is None or asked[0] != question or asked[1] < now:
            self.unsolicited += 1
            return
        self._learn_chain(message, question, now)

    def _noted(self, server: str, port: int, message_id: int, question: str, now: float) -> None:
        queries = self._queries
        while queries and (len(queries) >= MAX_QUERIES or next(iter(queries.values()))[1] < now):
            queries.popitem(last=False)
        queries[(server, port, message_id)] = (question, now + QUERY_WAIT_S)

    def _message(self, payload: bytes, over_tcp: bool) -> dns.message.Message | None:
        if over_tcp:
            if len(payload) < 2 or int.from_bytes(payload[:2], "big") != len(payload) - 2:
                return None  # not a whole message in this segment
            payload = payload[2:]
        try:
            return dns.message.from_wire(payload, ignore_trailing=True)
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
