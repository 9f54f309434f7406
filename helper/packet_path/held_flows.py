"""`HeldFlows`: flows waiting: for their process's details, their binary's hash, or a
person's answer.

Every unmatched flow of one program and user to one destination, port and protocol (SYN
retransmits included) waits behind one prompt, and all its packets get the verdict
together. Holding is bounded by `max_held` packets (those waiting for details or a hash
count too; past it a flow gets the default action at once) and by the prompt timeout,
after which the flows get what an unanswered prompt gets (the default action; deny for a
binary that no longer matches its pin). With nobody to answer for the program's user (no
app running), that applies at once. In Silent Mode (setting `silent_mode`: allow or deny)
nothing is asked: its action applies, recorded as decided by "silent" (the "would have
asked" list; a binary that no longer matches its pin is still denied). A prompt is
raised once the binary's hash is known, so an answer can pin it. Prompts are told
through `raised`, `changed` and `closed`.

A prompt whose program gave up (every socket the prompt's flows came from is closed; for
flows without sockets to look at, such as ICMP, its process exited) stays open, marked
`gave_up` (`changed`): its held packets are dropped (nobody is left to receive an
answer), and answering it still makes the rule for the next time; a new attempt clears
the mark. Forwarded flows are never marked (their sender is not on this host). Looked
at every `GAVE_UP_CHECK_S`. Runs on the loop's thread.
"""

import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from netwarden_common.errors import Missing
from netwarden_common.rules import KERNEL, Rule
from netwarden_helper.identity.hashing import BinaryHasher, file_key
from netwarden_helper.identity.process_info import ProcessInfo, start_time
from netwarden_helper.packet_path.prompt_agents import PromptAgents
from netwarden_helper.packet_path.verdicts import Verdicts
from netwarden_helper.policy import answers
from netwarden_helper.policy.engine import Flow, Verdict
from netwarden_helper.policy.live_settings import LiveSettings
from netwarden_helper.policy.rule_book import RuleBook
from netwarden_helper.policy.settings import Settings
from netwarden_helper.runtime.events import Event
from netwarden_helper.runtime.loop import Loop

log = logging.getLogger(__name__)

MAX_HELD_PACKETS = 16384  # the default bound, half the flow queue's length
WAIT_LIMIT_S = 10.0  # the longest a flow waits for its process's details or hash
GAVE_UP_CHECK_S = 1.0
T = TypeVar("T")


class UnknownPrompt(Missing):
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
    gave_up: bool = False  # the program stopped waiting (exited, or closed its sockets)


@dataclass
class _Group:
    key: tuple
    prompt: Prompt
    packets: list[Any] = field(default_factory=list)
    tuples: set[tuple] = field(default_factory=set)
    timer: Any = None


@dataclass
class _Pending:
    """Packets of one flow waiting for work off the loop (its process's details, its
    binary's hash) before it can be decided."""

    packets: list[Any]
    timer: Any  # gives up after WAIT_LIMIT_S
    give_up: str  # the action then ("": the default action)


class HeldFlows:
    def __init__(
        self,
        loop: Loop,
        rule_book: RuleBook,
        hasher: BinaryHasher,
        verdicts: Verdicts,
        settings: LiveSettings,
        agents: PromptAgents,
        counters: Counter[str],
        socket_open: Callable[[tuple], bool | None],
        clock: Callable[[], float] = time.time,
        max_held: int = MAX_HELD_PACKETS,
    ) -> None:
        self._loop = loop
        self._max_held = max_held
        self._rule_book = rule_book
        self._hasher = hasher
        self._verdicts = verdicts
        self._settings = settings
        self.agents = agents
        self._counters = counters
        self.clock = clock
        self._socket_open = socket_open
        self.raised: Event[[Prompt]] = Event()
        self.changed: Event[[Prompt]] = Event()
        self.closed: Event[[int, str]] = Event()
        self._groups: dict[int, _Group] = {}
        self._group_by_key: dict[tuple, _Group] = {}
        self._group_by_tuple: dict[tuple, _Group] = {}
        self._pending: dict[tuple, _Pending] = {}
        self.held_packets = 0
        self._prompt_ids = itertools.count(1)
        self._gave_up_timer = loop.call_every(GAVE_UP_CHECK_S, self._look_for_gave_up)

    def close(self) -> None:
        """Let every held packet go by what an unanswered prompt gets (the default action;
        deny for a binary no pin matches)."""
        Loop.cancel(self._gave_up_timer)
        for group in list(self._groups.values()):
            action = self._unanswered_action(group.prompt.reason)
            self._close_group(group, action, drop=False, outcome="shutdown")
        for five_tuple in list(self._pending):
            self._give_up_waiting(five_tuple)

    def counts(self) -> dict[str, int]:
        return {"prompts": len(self._groups), "held_packets": self.held_packets}

    def take_retransmit(self, five_tuple: tuple, packet: Any) -> bool:
        """Hold `packet` with its flow if that flow is held already (a retransmit, or the
        next datagram of a UDP flow not answered yet); past the bound, it gets what its
        flow would get unanswered, at once, so no flow can fill the kernel's queue."""
        group = self._group_by_tuple.get(five_tuple)
        pending = self._pending.get(five_tuple)
        if group is None and pending is None:
            return False
        if self.held_packets >= self._max_held:
            self._counters["default_action"] += 1
            reason = group.prompt.reason if group is not None else "no_rule"
            self._verdicts.apply(packet, self._unanswered_action(reason))
        elif group is not None:
            self._hold_packet(group, packet)
        elif pending is not None:
            packet.retain()
            pending.packets.append(packet)
            self.held_packets += 1
        return True

    def wait(
        self,
        flow: Flow,
        five_tuple: tuple,
        packets: list[Any],
        work: Callable[[Callable[[T], None]], None],
        then: Callable[[T, list[Any]], None],
        give_up: str = "",
    ) -> None:
        """Hold `packets` while `work(done)` runs off the loop; then `then(its result, the
        packets, retransmits included)`. Past the bound, `flow` gets the default action;
        if the work takes longer than `WAIT_LIMIT_S`, the packets get `give_up` (""
        for the default action)."""
        if self.held_packets + len(packets) > self._max_held:
            self._counters["default_action"] += 1
            default = self._settings.current.default_action
            self._verdicts.decide(flow, five_tuple, packets, default, "default")
            return
        for packet in packets:
            packet.retain()
        timer = self._loop.call_later(WAIT_LIMIT_S, lambda: self._give_up_waiting(five_tuple))
        self._pending[five_tuple] = _Pending(list(packets), timer, give_up)
        self.held_packets += len(packets)

        def done(result: T) -> None:
            pending = self._pending.pop(five_tuple, None)
            if pending is None:  # given the default action meanwhile (too slow, shutdown)
                return
            Loop.cancel(pending.timer)
            self.held_packets -= len(pending.packets)
            try:
                then(result, pending.packets)
            except Exception:  # packets out of the pending set must never miss a verdict
                log.exception("internal error deciding a flow that waited; default action")
                self._counters["errors"] += 1
                for packet in pending.packets:
                    self._verdicts.apply_default(packet)

        work(done)

    def _give_up_waiting(self, five_tuple: tuple) -> None:
        """The work a flow waited for took too long (or the helper stops): its packets get
        the give-up action, and the work's late result is ignored."""
        pending = self._pending.pop(five_tuple, None)
        if pending is None:
            return
        Loop.cancel(pending.timer)
        self._counters["default_action"] += 1
        self.held_packets -= len(pending.packets)
        action = pending.give_up or self._settings.current.default_action
        for packet in pending.packets:
            self._verdicts.apply(packet, action)

    def await_hash(
        self,
        flow: Flow,
        process: ProcessInfo | None,
        packets: list[Any],
        five_tuple: tuple,
        then: Callable[[Flow, list[Any]], None],
    ) -> bool:
        """Hold `packets` until the binary is hashed, then call `then(flow with its hash,
        the packets)`; False (nothing held) when the process is gone."""
        # a process known only by the kernel's record is gone: its pid may be another's
        key = file_key(process.pid) if process and not process.exited else None
        if process is None or key is None:
            return False
        pid = process.pid

        def hash_binary(done: Callable[[str | None], None]) -> None:
            self._hasher.request(pid, key, done)

        def hashed(digest: str | None, waited: list[Any]) -> None:
            then(replace(flow, sha256=digest or "unreadable"), waited)

        # a binary a pinned rule must judge is never let through unhashed
        self.wait(flow, five_tuple, packets, hash_binary, hashed, give_up="deny")
        return True

    def hold(
        self,
        flow: Flow,
        process: ProcessInfo | None,
        packets: list[Any],
        five_tuple: tuple,
        reason: str,
        pinned_rule: Rule | None,
    ) -> None:
        """Hold the flow behind its prompt, or give it the unanswered action at once when
        nobody can answer or the bound is reached, or Silent Mode's action."""
        silent = self._settings.current.silent_mode
        if silent != "off":
            self._counters["silent"] += 1
            action = "deny" if reason == "pin_mismatch" else silent
            self._verdicts.decide(flow, five_tuple, packets, action, "silent")
            return
        if not self.agents.can_ask(flow.uid) or self.held_packets + len(packets) > self._max_held:
            self._counters["default_action"] += 1
            action = self._unanswered_action(reason)
            decided_by = "pin_mismatch" if reason == "pin_mismatch" else "default"
            self._verdicts.decide(flow, five_tuple, packets, action, decided_by)
            return
        program = flow.exe or flow.forwarded_from or f"pid:{process.pid if process else '?'}"
        key = (program, flow.uid, flow.dst, flow.dport, flow.protocol, reason)
        group = self._group_by_key.get(key)
        if group is None:
            group = self._new_group(key, flow, process, reason, pinned_rule)
        elif group.prompt.gave_up:  # the program tries again: it is waiting after all
            group.prompt = replace(group.prompt, gave_up=False)
            self.changed.emit(group.prompt)
        group.tuples.add(five_tuple)
        self._group_by_tuple[five_tuple] = group
        for packet in packets:
            self._hold_packet(group, packet)

    def _new_group(
        self, key: tuple, flow: Flow, process: ProcessInfo | None, reason: str,
        pinned_rule: Rule | None,
    ) -> _Group:  # fmt: skip
        now = self.clock()
        timeout = self._settings.current.prompt_timeout
        prompt = Prompt(id=next(self._prompt_ids), reason=reason, flow=flow, process=process,
                        created=now, deadline=now + timeout, pinned_rule=pinned_rule)  # fmt: skip
        group = _Group(key, prompt)
        self._groups[prompt.id] = group
        self._group_by_key[key] = group
        group.timer = self._loop.call_later(timeout, lambda: self._expire(prompt.id))
        self._raise_when_hashed(group)
        return group

    def _hold_packet(self, group: _Group, packet: Any) -> None:
        packet.retain()
        group.packets.append(packet)
        self.held_packets += 1
        self._counters["held"] += 1

    def _raise_when_hashed(self, group: _Group) -> None:
        process = group.prompt.process
        hashable = process is not None and not process.exited and not group.prompt.flow.sha256
        key = file_key(process.pid) if process is not None and hashable else None
        if process is None or key is None:
            self.raised.emit(group.prompt)
            return

        def hashed(digest: str | None) -> None:
            if group.prompt.id not in self._groups:
                return  # decided while hashing
            if digest:
                group.prompt = replace(group.prompt, flow=replace(group.prompt.flow, sha256=digest))
            self.raised.emit(group.prompt)

        self._hasher.request(process.pid, key, hashed)

    def _unanswered_action(self, reason: str) -> str:
        """What a flow gets when nobody answers: the default action, except that a binary
        that no longer matches its pin is never let through unasked."""
        return "deny" if reason == "pin_mismatch" else self._settings.current.default_action

    def _expire(self, prompt_id: int) -> None:
        group = self._groups.get(prompt_id)
        if group is not None:
            group.timer = None
            self._counters["timeouts"] += 1
            action = self._unanswered_action(group.prompt.reason)
            self._close_group(group, action, drop=False, outcome="timeout")

    def _close_group(
        self, group: _Group, action: str, drop: bool, outcome: str, rule_id: int | None = None
    ) -> None:
        del self._groups[group.prompt.id]
        del self._group_by_key[group.key]
        for five_tuple in group.tuples:
            self._group_by_tuple.pop(five_tuple, None)
        if group.timer is not None:
            Loop.cancel(group.timer)
        flow = group.prompt.flow
        for five_tuple in group.tuples:
            self._verdicts.decided.emit(flow, five_tuple, action, outcome, rule_id)
        for packet in group.packets:
            self._verdicts.apply(packet, action, drop)
        self.held_packets -= len(group.packets)
        self.closed.emit(group.prompt.id, outcome)

    def _look_for_gave_up(self) -> None:
        for group in list(self._groups.values()):
            if not group.prompt.gave_up and self._gave_up(group):
                self._counters["gave_up"] += 1
                for packet in group.packets:
                    self._verdicts.apply(packet, "deny", drop=True)
                self.held_packets -= len(group.packets)
                group.packets = []
                group.prompt = replace(group.prompt, gave_up=True)
                self.changed.emit(group.prompt)

    def _gave_up(self, group: _Group) -> bool:
        """Whether the program behind `group` stopped waiting: no socket of its flows is
        open any more, or, where sockets cannot be looked at (ICMP), its process exited.
        A forwarded flow's sender is not on this host, and the kernel's own packets had no
        socket to close: neither is ever judged so."""
        if group.prompt.flow.forwarded_from or group.prompt.flow.exe == KERNEL:
            return False
        states = [self._socket_open(five_tuple) for five_tuple in group.tuples]
        judged = [state for state in states if state is not None]
        if judged:
            return not any(judged)
        process = group.prompt.process
        return process is not None and start_time(process.pid) != process.start_time

    # Prompts and answers

    def pending_prompts(self) -> list[Prompt]:
        """Prompts waiting for an answer, oldest first."""
        return [group.prompt for group in self._groups.values()]

    def prompt(self, prompt_id: int) -> Prompt:
        group = self._groups.get(prompt_id)
        if group is None:
            raise UnknownPrompt(f"there is no pending prompt {prompt_id} (answered or timed out)")
        return group.prompt

    def answer(self, prompt_id: int, answer: answers.Answer) -> Rule | None:
        """Apply a person's answer: decide the prompt's flows, store the rule it makes.

        Returns the stored rule (None for "once"). Other held flows that the new rule
        now decides are released too.
        """
        prompt = self.prompt(prompt_id)
        group = self._groups[prompt_id]
        process = prompt.process
        rule = answers.rule_for(answer, prompt.flow, pid=process.pid if process else 0,
                                pid_start=process.start_time if process else 0,
                                now=self.clock())  # fmt: skip
        # The prompt closes as answered before the new rule is in force and told.
        with self._rule_book.batch():
            stored = self._rule_book.add_rule(rule) if rule is not None else None
            self._close_group(group, answer.action, False, "answered",
                              stored.id if stored else None)  # fmt: skip
        return stored

    # Changes around the held flows

    def agents_changed(self) -> None:
        """Someone who answers prompts came or went: prompts nobody can answer now get
        the unanswered action."""
        for group in list(self._groups.values()):
            if not self.agents.can_ask(group.prompt.flow.uid):
                action = self._unanswered_action(group.prompt.reason)
                self._close_group(group, action, drop=False, outcome="no_agent")

    def settings_changed(self, settings: Settings) -> None:
        """Silent Mode turned on: pending prompts are decided by its action at once."""
        if settings.silent_mode == "off":
            return
        for group in list(self._groups.values()):
            action = "deny" if group.prompt.reason == "pin_mismatch" else settings.silent_mode
            self._close_group(group, action, drop=False, outcome="silent")

    def policy_changed(self) -> None:
        """Rules or blocklists changed: held flows they now decide are released."""
        for group in list(self._groups.values()):
            decision = self._rule_book.decide(group.prompt.flow)
            if decision.verdict is Verdict.RULE and decision.rule is not None:
                rule = decision.rule
                self._rule_book.count_hit(rule)
                self._close_group(group, rule.action, rule.drop, "rule", rule.id)
            elif decision.verdict is Verdict.BLOCKLIST and decision.blocklist is not None:
                self._counters["blocklisted"] += 1
                self._rule_book.blocklist_hits.count(decision.blocklist)
                self._close_group(group, "deny", False, "blocklist")
