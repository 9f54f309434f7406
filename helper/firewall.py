"""The packet path: queue -> parse -> attribute -> decide -> verdict, or hold and ask.

`Firewall` runs entirely on its `Loop`'s thread. Its public methods are the helper's
in-process API (the D-Bus service calls the same ones): rules, prompts and answers,
status. Held flows are grouped: every unmatched flow of one program and user to one
destination, port and protocol (SYN retransmits included) waits behind one prompt, and
all its packets get the verdict together. Holding is bounded by `MAX_HELD_PACKETS` and
by the prompt timeout, after which the default action applies; with nobody to answer
for the program's user (no app running) the default action applies at once.

Rules are tried in bands: the administrator's (`rules_dir.py`) before the user's; a flow
that no rule decides is denied if a blocklist lists its host (`blocklist_updates.py`),
and only then held and asked about. The blocklists' matcher and the administrator's rules
are replaced whole, by one assignment each, on the loop.
"""

import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from netwarden_helper import answers
from netwarden_helper.attribution import SocketOwners, SocketTable
from netwarden_helper.dns_names import DnsNames
from netwarden_helper.domain_lists import DomainMatcher
from netwarden_helper.hashing import BinaryHasher, file_key
from netwarden_helper.loop import Loop
from netwarden_helper.netfilter import REJECT_MARK
from netwarden_helper.packet import TCP, Packet, parse
from netwarden_helper.process_info import ProcessInfo, read_process, start_time
from netwarden_helper.rules import Decision, Flow, Rule, Verdict, decide, is_expired, ordered
from netwarden_helper.rules_dir import ADMIN_IDS, AdminRules
from netwarden_helper.settings import Settings
from netwarden_helper.store import Store

log = logging.getLogger(__name__)

MAX_HELD_PACKETS = 16384
HIT_FLUSH_S = 5.0
PRUNE_S = 5.0


class UnknownPrompt(KeyError):
    """No pending prompt has this id (answered, timed out or never raised)."""


@dataclass(frozen=True)
class Prompt:
    """What a prompt shows: the program, its user and where it wants to connect."""

    id: int
    reason: str  # "no_rule" or "pin_mismatch"
    flow: Flow
    process: ProcessInfo | None
    created: float
    deadline: float
    pinned_rule: Rule | None = None  # the rule whose pin the binary no longer matches


class DecisionObserver(Protocol):
    """Who hears of every flow's verdict (the history, the journal)."""

    def flow_decided(
        self, flow: Flow, five_tuple: tuple, action: str, decided_by: str, rule_id: int | None
    ) -> None: ...


class PinWatcher(Protocol):
    """Who turns changed binaries into alerts (the pin guard)."""

    def binary_mismatch(self, exe: str, sha256: str | None) -> None: ...

    def rules_changed(self) -> None: ...


class Prompter(Protocol):
    """Whoever shows prompts to people (the D-Bus service, or a test)."""

    def can_ask(self, uid: int) -> bool:
        """Whether someone is there to answer for the programs of user `uid`."""
        ...

    def prompt_raised(self, prompt: Prompt) -> None: ...

    def prompt_closed(self, prompt_id: int, outcome: str) -> None: ...


@dataclass
class _Group:
    key: tuple
    prompt: Prompt
    packets: list[Any] = field(default_factory=list)
    tuples: set[tuple] = field(default_factory=set)
    timer: Any = None


@dataclass
class _Pending:
    """Packets of one flow waiting for its binary's hash before a pinned rule can decide."""

    flow: Flow
    process: ProcessInfo | None
    packets: list[Any] = field(default_factory=list)


class Firewall:
    def __init__(
        self,
        loop: Loop,
        store: Store,
        hasher: BinaryHasher,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.loop = loop
        self.store = store
        self.settings: Settings = store.settings()
        self.hasher = hasher
        self.clock = clock
        self.dns = DnsNames(clock=clock)
        self.sockets = SocketTable()
        self.owners = SocketOwners()
        self.prompter: Prompter | None = None
        self.observers: list[DecisionObserver] = []
        self.pins: PinWatcher | None = None
        # Told after every change of the rules: a call, an answer, expiry, the admin's files.
        self.on_rules_changed: Callable[[], None] | None = None
        self.counters: Counter[str] = Counter()
        self._user_rules: list[Rule] = ordered(store.rules())
        self._admin = AdminRules()
        self._rules: list[Rule] = list(self._user_rules)  # the bands, in the order tried
        self.blocklist = DomainMatcher()
        self._processes: dict[int, ProcessInfo] = {}
        self._groups: dict[int, _Group] = {}
        self._group_by_key: dict[tuple, _Group] = {}
        self._group_by_tuple: dict[tuple, _Group] = {}
        self._pending_hash: dict[tuple, _Pending] = {}
        self._held_packets = 0
        self._prompt_ids = itertools.count(1)
        self._hits: dict[int, tuple[int, float]] = {}
        self._timers = [
            loop.call_every(HIT_FLUSH_S, self.flush_hits),
            loop.call_every(PRUNE_S, self.prune_rules),
        ]

    def close(self) -> None:
        """Flush counters and let every held packet go by the default action."""
        for timer in self._timers:
            Loop.cancel(timer)
        for group in list(self._groups.values()):
            self._close_group(group, self._default_action(), drop=False, outcome="shutdown")
        for pending in list(self._pending_hash.values()):
            for packet in pending.packets:
                self._apply(packet, self._default_action(), drop=False)
        self._pending_hash.clear()
        self.flush_hits()
        self.sockets.close()

    # The packet path

    def on_flow_packet(self, packet: Any) -> None:
        """NetfilterQueue callback for the first packet(s) of a new outbound flow."""
        try:
            self._on_flow_packet(packet)
        except Exception:  # a bug must not leave a packet without a verdict
            log.exception("internal error on the packet path; default action applied")
            self.counters["errors"] += 1
            self._apply(packet, self._default_action(), drop=False)

    def _on_flow_packet(self, packet: Any) -> None:
        self.counters["packets"] += 1
        parsed = parse(packet.get_payload())
        if parsed is None:
            self.counters["unparsed"] += 1
            self._apply(packet, self._default_action(), drop=False)
            return
        five_tuple = (parsed.protocol, parsed.src, parsed.sport, parsed.dst, parsed.dport)
        group = self._group_by_tuple.get(five_tuple)
        if group is not None:  # a retransmit of a held flow
            self._hold_packet(group, packet)
            return
        pending = self._pending_hash.get(five_tuple)
        if pending is not None:
            packet.retain()
            pending.packets.append(packet)
            return
        flow, process = self._attribute(parsed)
        self._handle(flow, process, [packet], five_tuple, self._decide(flow))

    def on_dns_packet(self, packet: Any) -> None:
        """NetfilterQueue callback for inbound DNS answers: learn names, always accept."""
        try:
            parsed = parse(packet.get_payload())
            if parsed is not None and parsed.payload_offset:
                payload = packet.get_payload()[parsed.payload_offset :]
                if payload:
                    self.dns.learn(payload, over_tcp=parsed.protocol == TCP)
        except Exception:  # escaping, it would hold the answer and stop reading the queue
            log.exception("internal error on a DNS answer; accepted")
            self.counters["errors"] += 1
        packet.accept()

    def _decide(self, flow: Flow) -> Decision:
        decision = decide(self._rules, flow, self.clock())
        if decision.verdict is Verdict.NO_RULE and self.blocklist.listed_by(flow.hosts) is not None:
            return Decision(Verdict.BLOCKLIST)
        return decision

    def _attribute(self, packet: Packet) -> tuple[Flow, ProcessInfo | None]:
        owner = self.sockets.owner(packet)
        process = None
        uid = -1
        if owner is not None:
            inode, uid = owner
            pid = self.owners.pid_of(inode)
            process = self._process(pid) if pid is not None else None
        if process is None:
            self.counters["unattributed"] += 1
        sha256 = None
        if process is not None:
            key = file_key(process.pid)
            sha256 = self.hasher.cached(key) if key else None
        flow = Flow(
            exe=process.exe if process else "",
            dst=packet.dst,
            protocol=packet.protocol_name,
            dport=packet.dport,
            uid=uid,
            sha256=sha256,
            unit=process.unit if process else "",
            flatpak=process.flatpak if process else "",
            hosts=self.dns.names_for(packet.dst),
            script=process.script if process else "",
            script_sha256=process.script_sha256 if process else "",
        )
        return flow, process

    def _process(self, pid: int) -> ProcessInfo | None:
        cached = self._processes.get(pid)
        if cached is not None and cached.start_time == start_time(pid):
            return cached
        process = read_process(pid)
        if process is not None:
            if len(self._processes) > 4096:
                self._processes.clear()
            self._processes[pid] = process
        return process

    def _handle(
        self,
        flow: Flow,
        process: ProcessInfo | None,
        packets: list[Any],
        five_tuple: tuple,
        decision: Decision,
    ) -> None:
        if decision.verdict is Verdict.RULE:
            rule = decision.rule
            self._count_hit(rule)
            self._decided(flow, five_tuple, rule.action, "rule", rule.id)
            for packet in packets:
                self._apply(packet, rule.action, rule.drop)
            return
        if decision.verdict is Verdict.BLOCKLIST:
            self.counters["blocklisted"] += 1
            self._decided(flow, five_tuple, "deny", "blocklist", None)
            for packet in packets:
                self._apply(packet, "deny", drop=False)
            return
        if decision.verdict is Verdict.NEEDS_HASH:
            self._await_hash(flow, process, packets, five_tuple)
            return
        reason = "no_rule"
        if decision.verdict is Verdict.PIN_MISMATCH:
            reason = "pin_mismatch"
            if self.pins is not None:
                self.pins.binary_mismatch(flow.exe, flow.sha256)
        if not self._can_ask(flow.uid) or self._held_packets + len(packets) > MAX_HELD_PACKETS:
            self.counters["default_action"] += 1
            action = self._unanswered_action(reason)
            self._decided(flow, five_tuple, action, "default", None)
            for packet in packets:
                self._apply(packet, action, drop=False)
        else:
            self._hold(flow, process, packets, five_tuple, reason, decision.rule)

    def _await_hash(
        self, flow: Flow, process: ProcessInfo | None, packets: list[Any], five_tuple: tuple
    ) -> None:
        key = file_key(process.pid) if process else None
        if key is None:  # the process is gone: its binary cannot be checked
            self._handle(flow, process, packets, five_tuple, Decision(Verdict.PIN_MISMATCH))
            return
        for packet in packets:
            packet.retain()
        pending = _Pending(flow, process, list(packets))
        self._pending_hash[five_tuple] = pending

        def hashed(digest: str | None) -> None:
            self._pending_hash.pop(five_tuple, None)
            hashed_flow = replace(flow, sha256=digest or "unreadable")
            decision = self._decide(hashed_flow)
            self._handle(hashed_flow, process, pending.packets, five_tuple, decision)

        self.hasher.request(process.pid, key, hashed)

    def _decided(
        self, flow: Flow, five_tuple: tuple, action: str, decided_by: str, rule_id: int | None
    ) -> None:
        for observer in self.observers:
            observer.flow_decided(flow, five_tuple, action, decided_by, rule_id)

    def _apply(self, packet: Any, action: str, drop: bool) -> None:
        if action == "allow":
            self.counters["allowed"] += 1
            packet.accept()
        elif drop:
            self.counters["dropped"] += 1
            packet.drop()
        else:
            self.counters["rejected"] += 1
            packet.set_mark(REJECT_MARK)
            packet.accept()

    def _default_action(self) -> str:
        return self.settings.default_action

    def _unanswered_action(self, reason: str) -> str:
        """What a flow gets when nobody answers: the default action, except that a binary
        that no longer matches its pin is never let through unasked."""
        return "deny" if reason == "pin_mismatch" else self._default_action()

    def _can_ask(self, uid: int) -> bool:
        return self.prompter is not None and self.prompter.can_ask(uid)

    def prompters_changed(self) -> None:
        """Someone who answers prompts came or went: prompts nobody can answer now get
        the default action."""
        for group in list(self._groups.values()):
            if not self._can_ask(group.prompt.flow.uid):
                action = self._unanswered_action(group.prompt.reason)
                self._close_group(group, action, drop=False, outcome="no_agent")

    # Held flows and prompts

    def _hold(
        self,
        flow: Flow,
        process: ProcessInfo | None,
        packets: list[Any],
        five_tuple: tuple,
        reason: str,
        pinned_rule: Rule | None,
    ) -> None:
        key = (flow.exe or f"pid:{process.pid if process else '?'}", flow.uid, flow.dst,
               flow.dport, flow.protocol, reason)  # fmt: skip
        group = self._group_by_key.get(key)
        if group is None:
            now = self.clock()
            prompt = Prompt(
                id=next(self._prompt_ids),
                reason=reason,
                flow=flow,
                process=process,
                created=now,
                deadline=now + self.settings.prompt_timeout,
                pinned_rule=pinned_rule,
            )
            group = _Group(key, prompt)
            self._groups[prompt.id] = group
            self._group_by_key[key] = group
            group.timer = self.loop.call_later(
                self.settings.prompt_timeout, lambda: self._expire(prompt.id)
            )
            self._raise_when_hashed(group)
        group.tuples.add(five_tuple)
        self._group_by_tuple[five_tuple] = group
        for packet in packets:
            self._hold_packet(group, packet)

    def _hold_packet(self, group: _Group, packet: Any) -> None:
        packet.retain()
        group.packets.append(packet)
        self._held_packets += 1
        self.counters["held"] += 1

    def _raise_when_hashed(self, group: _Group) -> None:
        """Raise the prompt once the binary's hash is known, so an answer can pin it."""
        process = group.prompt.process
        key = file_key(process.pid) if process and not group.prompt.flow.sha256 else None
        if key is None:
            self.prompter.prompt_raised(group.prompt)
            return

        def hashed(digest: str | None) -> None:
            if group.prompt.id not in self._groups or self.prompter is None:
                return  # decided (or the app left) while hashing
            if digest:
                flow = replace(group.prompt.flow, sha256=digest)
                group.prompt = replace(group.prompt, flow=flow)
            self.prompter.prompt_raised(group.prompt)

        self.hasher.request(process.pid, key, hashed)

    def _expire(self, prompt_id: int) -> None:
        group = self._groups.get(prompt_id)
        if group is not None:
            group.timer = None
            self.counters["timeouts"] += 1
            action = self._unanswered_action(group.prompt.reason)
            self._close_group(group, action, drop=False, outcome="timeout")

    def _close_group(
        self, group: _Group, action: str, drop: bool, outcome: str, rule_id: int | None = None
    ) -> None:
        prompt_id = group.prompt.id
        del self._groups[prompt_id]
        del self._group_by_key[group.key]
        for five_tuple in group.tuples:
            self._group_by_tuple.pop(five_tuple, None)
            self._decided(group.prompt.flow, five_tuple, action, outcome, rule_id)
        if group.timer is not None:
            Loop.cancel(group.timer)
        for packet in group.packets:
            self._apply(packet, action, drop)
        self._held_packets -= len(group.packets)
        if self.prompter is not None:
            self.prompter.prompt_closed(prompt_id, outcome)

    def pending_prompts(self) -> list[Prompt]:
        """Prompts waiting for an answer, oldest first."""
        return [group.prompt for group in self._groups.values()]

    def answer(self, prompt_id: int, answer: answers.Answer) -> Rule | None:
        """Apply a person's answer: decide the prompt's flows, store the rule it makes.

        Returns the stored rule (None for "once"). Other held flows that the new rule
        now decides are released too.
        """
        group = self._groups.get(prompt_id)
        if group is None:
            raise UnknownPrompt(prompt_id)
        prompt = group.prompt
        process = prompt.process
        rule = answers.rule_for(
            answer,
            prompt.flow,
            pid=process.pid if process else 0,
            pid_start=process.start_time if process else 0,
            now=self.clock(),
        )
        stored = self.store.add_rule(rule) if rule is not None else None
        self._close_group(group, answer.action, drop=False, outcome="answered",
                          rule_id=stored.id if stored else None)  # fmt: skip
        if stored is not None:
            self._rules_changed()
        return stored

    # Rules

    def rules(self) -> list[Rule]:
        """Every rule, in precedence order: the administrator's, then the user's."""
        return list(self._rules)

    def admin_source(self, rule_id: int) -> str:
        """The file an administrator's rule comes from ("" for the user's rules)."""
        return self._admin.sources.get(rule_id, "")

    def set_admin_rules(self, admin: AdminRules) -> None:
        """Use these administrator's rules from now on (they replace the previous ones)."""
        self._admin = admin
        self._bands_changed()
        self._tell_rules_changed()

    def set_blocklist(self, matcher: DomainMatcher) -> None:
        """Use this blocklist matcher from now on."""
        self.blocklist = matcher
        self._bands_changed()

    def add_rule(self, rule: Rule) -> Rule:
        stored = self.store.add_rule(rule)
        self._rules_changed()
        return stored

    def replace_rule(self, rule_id: int, rule: Rule) -> bool:
        changed = self.store.replace_rule(rule_id, rule)
        self._rules_changed()
        return changed

    def delete_rule(self, rule_id: int) -> bool:
        deleted = self.store.delete_rule(rule_id)
        self._rules_changed()
        return deleted

    def repin_rules(self, rule_ids: list[int], sha256: str) -> None:
        """Pin these rules to the binary `sha256` (trusting a changed binary)."""
        self.store.repin_rules(rule_ids, sha256)
        self._rules_changed()

    def import_rules(self, rules: list[Rule], replace_existing: bool) -> tuple[int, int]:
        """Add rules from a file in one transaction; returns (added, removed)."""
        counts = self.store.import_rules(rules, replace_existing)
        self._rules_changed()
        return counts

    def _rules_changed(self) -> None:
        self.flush_hits()
        self._user_rules = ordered(self.store.rules())
        self._bands_changed()
        self._tell_rules_changed()

    def _tell_rules_changed(self) -> None:
        if self.on_rules_changed is not None:
            self.on_rules_changed()

    def _bands_changed(self) -> None:
        """Rules or blocklists changed: held flows they now decide are released."""
        self._rules = [*self._admin.rules, *self._user_rules]
        if self.pins is not None:
            self.pins.rules_changed()
        for group in list(self._groups.values()):
            decision = self._decide(group.prompt.flow)
            if decision.verdict is Verdict.RULE:
                self._count_hit(decision.rule)
                rule = decision.rule
                self._close_group(group, rule.action, rule.drop, "rule", rule.id)
            elif decision.verdict is Verdict.BLOCKLIST:
                self.counters["blocklisted"] += 1
                self._close_group(group, "deny", False, "blocklist")

    def _count_hit(self, rule: Rule) -> None:
        if rule.id >= ADMIN_IDS:
            return  # not in the database; the administrator's files keep no counters
        count, _last = self._hits.get(rule.id, (0, 0.0))
        self._hits[rule.id] = (count + 1, self.clock())

    def flush_hits(self) -> None:
        """Write the rules' hit counts gathered since the last flush (one transaction)."""
        if self._hits:
            hits, self._hits = self._hits, {}
            self.store.record_hits(hits)

    def prune_rules(self) -> None:
        """Delete rules whose lifetime is over: expired times, programs that quit."""
        now = self.clock()
        over = [
            rule.id
            for rule in self._user_rules
            if is_expired(rule, now)
            or (rule.lifetime == "until_quit" and start_time(rule.pid) != rule.pid_start)
        ]
        if over:
            for rule_id in over:
                self.store.delete_rule(rule_id)
            self._rules_changed()

    def status(self) -> dict[str, Any]:
        """Counters and sizes for the status view."""
        return {
            **self.counters,
            "rules": len(self._rules),
            "admin_rules": len(self._admin.rules),
            "blocklisted_names": len(self.blocklist),
            "prompts": len(self._groups),
            "held_packets": self._held_packets,
            "dns_addresses": len(self.dns),
        }
