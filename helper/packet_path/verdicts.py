"""`Verdicts`: the one place packets get their verdict, and decided flows are told.

Allow accepts. Deny rejects by default (the packet is marked and accepted; Netwarden's own
filter rule rejects marked packets, so the program hears "refused" at once), or drops
when the rule says so. Every decided flow is emitted once per 5-tuple through `decided`
(the history, the journal and the kernel verdict cache listen), the kernel's own
decisions too (`told`).
"""

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from netwarden_helper.policy.engine import Flow
from netwarden_helper.runtime.events import Event

FiveTuple = tuple[str, str, int, str, int]  # protocol, source, sport, destination, dport


class Verdicts:
    def __init__(
        self, counters: Counter[str], default_action: Callable[[], str], reject_mark: int
    ) -> None:
        self.counters = counters
        self._reject_mark = reject_mark
        self.default_action = default_action
        # flow, its 5-tuple, action, decided_by, rule id
        self.decided: Event[[Flow, tuple, str, str, int | None]] = Event()

    def decide(
        self,
        flow: Flow,
        five_tuple: tuple,
        packets: Iterable[Any],
        action: str,
        decided_by: str,
        rule_id: int | None = None,
        drop: bool = False,
    ) -> None:
        """Tell of the decision, then give `packets` their verdict."""
        self.decided.emit(flow, five_tuple, action, decided_by, rule_id)
        for packet in packets:
            self.apply(packet, action, drop)

    def told(
        self, flow: Flow, five_tuple: tuple, action: str, decided_by: str, rule_id: int | None
    ) -> None:
        """Tell of a flow decided without the queue (by the kernel's verdict cache),
        counted as if its packet had been given the verdict here."""
        self.counters["allowed" if action == "allow" else "rejected"] += 1
        self.decided.emit(flow, five_tuple, action, decided_by, rule_id)

    def apply(self, packet: Any, action: str, drop: bool = False) -> None:
        if action == "allow":
            self.counters["allowed"] += 1
            packet.accept()
        elif drop:
            self.counters["dropped"] += 1
            packet.drop()
        else:
            self.counters["rejected"] += 1
            packet.set_mark(self._reject_mark)
            packet.accept()

    def apply_default(self, packet: Any) -> None:
        """A packet nothing can be said of (unparsable, or a bug on the way) gets the
        default action."""
        self.apply(packet, self.default_action())
