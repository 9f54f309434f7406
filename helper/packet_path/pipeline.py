"""The packet path: queue -> parse -> identify -> decide -> verdict, or hold and ask.

`Pipeline.on_flow_packet` is the whole path of a new outbound flow's first packet, in one
straight function; `on_dns_packet` takes DNS queries and answers. Both run on the loop's
thread, called by the queues. A flow routed through this host (a container's, a VM's;
queued from the forward hook) has no local process: rules for forwarded traffic decide
it, else the `forwarded` setting (allow, ask or deny). Two kinds of work happen off the
loop while the packets wait (`HeldFlows.wait`): reading a process not seen before, and
hashing a binary that a pinned rule must judge; each comes back to `decide_flow`. A
binary that no pin matches is told through `binary_mismatch` (the pin guard listens).
"""

import logging
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

from netwarden_helper.data_plane.records import SocketOwner
from netwarden_helper.identity.dns_names import DnsNames
from netwarden_helper.identity.identify import Identifier
from netwarden_helper.identity.process_info import ProcessInfo
from netwarden_helper.packet_path.held_flows import HeldFlows
from netwarden_helper.packet_path.packet import TCP, Packet, parse
from netwarden_helper.packet_path.verdicts import Verdicts
from netwarden_helper.policy.engine import Flow, Verdict
from netwarden_helper.policy.rule_book import RuleBook
from netwarden_helper.runtime.events import Event

log = logging.getLogger(__name__)

NF_INET_FORWARD = 2  # the netfilter hook of packets routed through this host


class Pipeline:
    def __init__(
        self,
        identifier: Identifier,
        dns: DnsNames,
        rule_book: RuleBook,
        held_flows: HeldFlows,
        verdicts: Verdicts,
        counters: Counter[str],
        forwarded_action: Callable[[], str],
    ) -> None:
        self._identifier = identifier
        self._dns = dns
        self._rule_book = rule_book
        self._held = held_flows
        self._verdicts = verdicts
        self._counters = counters
        self._forwarded_action = forwarded_action
        # exe, and the sha256 of the binary it runs, which no rule of that exe pins
        self.binary_mismatch: Event[[str, str | None]] = Event()

    def on_flow_packet(self, packet: Any) -> None:
        """NetfilterQueue callback for the first packet(s) of a new outbound flow."""
        try:
            self._counters["packets"] += 1
            parsed = parse(packet.get_payload())
            if parsed is None:
                self._counters["unparsed"] += 1
                self._verdicts.apply_default(packet)
                return
            five_tuple = (parsed.protocol, parsed.src, parsed.sport, parsed.dst, parsed.dport)
            if self._held.take_retransmit(five_tuple, packet):
                return
            if packet.hook == NF_INET_FORWARD:
                self._counters["forwarded"] += 1
                flow = self._identifier.forwarded(parsed, packet.indev)
                self.decide_flow(flow, None, [packet], five_tuple)
                return
            uid, pid, recorded = self._identifier.owner(parsed)
            process = self._identifier.cached(pid, recorded)
            if pid is not None and process is None:  # not seen before: read off the loop
                unknown = self._identifier.flow(parsed, uid, None)
                self._held.wait(unknown, five_tuple, [packet],
                                partial(self._identifier.fetch, pid, recorded),
                                partial(self._identified, parsed, uid, recorded,
                                        five_tuple))  # fmt: skip
                return
            self._identified(parsed, uid, recorded, five_tuple, process, [packet])
        except Exception:  # a bug must not leave a packet without a verdict
            log.exception("internal error on the packet path; default action applied")
            self._counters["errors"] += 1
            self._verdicts.apply_default(packet)

    def _identified(
        self,
        parsed: Packet,
        uid: int,
        recorded: SocketOwner | None,
        five_tuple: tuple,
        process: ProcessInfo | None,
        packets: list[Any],
    ) -> None:
        flow = self._identifier.flow(parsed, uid, process, recorded)
        if not flow.exe:  # no program found (the kernel's own packets are named)
            self._counters["unattributed"] += 1
        self.decide_flow(flow, process, packets, five_tuple)

    def decide_flow(
        self, flow: Flow, process: ProcessInfo | None, packets: list[Any], five_tuple: tuple
    ) -> None:
        """Decide `flow` by the rules and the blocklist, or hold it and ask."""
        decision = self._rule_book.decide(flow)
        verdict, rule = decision.verdict, decision.rule
        if verdict is Verdict.RULE and rule is not None:
            self._rule_book.count_hit(rule)
            self._verdicts.decide(flow, five_tuple, packets, rule.action, "rule", rule.id,
                                  rule.drop)  # fmt: skip
            return
        if verdict is Verdict.BLOCKLIST and decision.blocklist is not None:
            self._counters["blocklisted"] += 1
            self._rule_book.blocklist_hits.count(decision.blocklist)
            self._verdicts.decide(flow, five_tuple, packets, "deny", "blocklist")
            return
        if verdict is Verdict.NEEDS_HASH:

            def hashed(hashed_flow: Flow, waited: list[Any]) -> None:
                self.decide_flow(hashed_flow, process, waited, five_tuple)

            if self._held.await_hash(flow, process, packets, five_tuple, hashed):
                return
            verdict = Verdict.PIN_MISMATCH  # the process is gone: its binary cannot be checked
            rule = None
        if verdict is Verdict.NO_RULE and flow.forwarded_from:
            action = self._forwarded_action()
            if action != "ask":
                self._verdicts.decide(flow, five_tuple, packets, action, "forwarded")
                return
        if verdict is Verdict.PIN_MISMATCH:
            self.binary_mismatch.emit(flow.exe, flow.sha256)
            self._held.hold(flow, process, packets, five_tuple, "pin_mismatch", rule)
            return
        self._held.hold(flow, process, packets, five_tuple, "no_rule", None)

    def on_dns_packet(self, packet: Any) -> None:
        """NetfilterQueue callback for DNS queries leaving and answers coming in: note the
        queries, learn names from the answers to them, always accept."""
        try:
            data = packet.get_payload()
            parsed = parse(data)
            message = data[parsed.payload_offset :] if parsed and parsed.payload_offset else b""
            if parsed is not None and message:
                self._dns.observe(message, (parsed.src, parsed.sport), (parsed.dst, parsed.dport),
                                  over_tcp=parsed.protocol == TCP)  # fmt: skip
        except Exception:  # escaping, it would hold the answer and stop reading the queue
            log.exception("internal error on a DNS message; accepted")
            self._counters["errors"] += 1
        packet.accept()
