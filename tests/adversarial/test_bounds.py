"""Queues a flood cannot grow without bound: what waits is counted, and what does not fit
gets a plain answer (the default action, or a named Busy error) instead of memory."""

import threading
from collections import Counter

import pytest
from gi.repository import GLib

from netwarden_common.errors import Busy
from netwarden_helper.bus.authorization import bus_error
from netwarden_helper.packet_path.held_flows import HeldFlows
from netwarden_helper.packet_path.prompt_agents import PromptAgent, PromptAgents
from netwarden_helper.packet_path.verdicts import Verdicts
from netwarden_helper.policy.engine import Flow
from netwarden_helper.policy.live_settings import LiveSettings
from netwarden_helper.policy.rule_book import RuleBook
from netwarden_helper.records.history import MAX_WAITING_QUERIES, History
from netwarden_helper.runtime.loop import Loop
from netwarden_helper.storage.store import Store


class QueuedPacket:
    """What HeldFlows does to a queued packet, recorded (netfilter's own packets exist
    only inside a queue callback)."""

    def __init__(self):
        self.verdict = None

    def retain(self):
        pass

    def accept(self):
        self.verdict = self.verdict or "accept"

    def drop(self):
        self.verdict = "drop"

    def set_mark(self, mark):
        self.verdict = "reject"


def test_history_queries_past_the_bound_are_refused_as_busy(tmp_path):
    history = History(Loop(GLib.MainContext.new()), tmp_path, lambda: 30, meter=False)
    release = threading.Event()
    try:
        waiting = [history.query(lambda db: release.wait(10)) for _ in range(MAX_WAITING_QUERIES)]
        with pytest.raises(Busy, match="try again"):
            history.query(lambda db: None)
        release.set()
        for future in waiting:
            future.result(10)
        assert history.query(lambda db: "answered").result(10) == "answered"
    finally:
        release.set()
        history.close()


def test_busy_is_a_named_error_on_the_bus():
    assert bus_error(Busy("later")).get_dbus_name() == "io.github.netwarden.Helper1.Error.Busy"


@pytest.fixture
def held(tmp_path):
    """HeldFlows with its real store, rule book and settings on a loop of its own, for
    `max_held` packets; an agent answers for everyone (flows are held, not defaulted)."""
    loop = Loop(GLib.MainContext.new())
    store = Store(tmp_path)
    counters = Counter()
    settings = LiveSettings(store)
    verdicts = Verdicts(counters, lambda: settings.current.default_action, reject_mark=1)
    book = RuleBook(loop, store)
    agents = PromptAgents()
    agents.add(":test", PromptAgent(0, all_users=True))
    # which sockets are open is not what these tests are about: "cannot tell"
    flows = HeldFlows(loop, book, None, verdicts, settings, agents, counters,
                      socket_open=lambda five_tuple: None, max_held=4)  # fmt: skip
    yield flows, loop, counters
    flows.close()
    book.close()
    store.close()


FLOW = Flow(exe="/usr/bin/curl", dst="192.0.2.2", protocol="udp", dport=53, uid=0)
TUPLE = ("udp", "192.0.2.1", 5353, "192.0.2.2", 53)


def test_packets_waiting_for_work_off_the_loop_count_in_the_held_bound(held):
    flows, _loop, counters = held
    flow = Flow(exe="/usr/bin/curl", dst="192.0.2.2", protocol="tcp", dport=443, uid=0)
    waiting = [QueuedPacket() for _ in range(3)]
    for port, packet in enumerate(waiting):  # three flows wait for work that never ends
        flows.wait(flow, ("tcp", "192.0.2.1", port, "192.0.2.2", 443), [packet],
                   lambda done: None, lambda result, packets: None)  # fmt: skip
    assert flows.held_packets == 3
    retransmit = QueuedPacket()
    assert flows.take_retransmit(("tcp", "192.0.2.1", 0, "192.0.2.2", 443), retransmit)
    assert flows.held_packets == 4
    late = QueuedPacket()
    flows.hold(flow, None, [late], ("tcp", "192.0.2.1", 9, "192.0.2.2", 443), "no_rule", None)
    assert late.verdict == "accept"  # the default action (allow) at once: no room
    assert counters["default_action"] == 1
    assert all(packet.verdict is None for packet in [*waiting, retransmit])
    flows.close()
    assert all(packet.verdict == "accept" for packet in [*waiting, retransmit])


def test_datagrams_of_a_held_flow_cannot_fill_the_queue(held):
    flows, _loop, _counters = held
    flows.hold(FLOW, None, [QueuedPacket()], TUPLE, "no_rule", None)
    more = [QueuedPacket() for _ in range(10)]  # an unanswered UDP flow keeps sending
    for packet in more:
        assert flows.take_retransmit(TUPLE, packet)
    assert flows.held_packets == 4
    assert [p.verdict for p in more[3:]] == ["accept"] * 7  # the default action, at once
    assert all(p.verdict is None for p in more[:3])


def test_work_that_never_ends_gives_up_after_the_limit(held, monkeypatch):
    flows, loop, _counters = held
    monkeypatch.setattr("netwarden_helper.packet_path.held_flows.WAIT_LIMIT_S", 0.05)
    waiting, pinned = QueuedPacket(), QueuedPacket()
    flows.wait(FLOW, TUPLE, [waiting], lambda done: None, lambda result, packets: None)
    other = ("udp", "192.0.2.1", 5354, "192.0.2.2", 53)
    flows.wait(FLOW, other, [pinned], lambda done: None, lambda result, packets: None,
               give_up="deny")  # fmt: skip
    deadline = GLib.get_monotonic_time() + 2_000_000
    while (waiting.verdict is None or pinned.verdict is None) and (
        GLib.get_monotonic_time() < deadline
    ):
        loop.context.iteration(False)
    assert (waiting.verdict, pinned.verdict) == ("accept", "reject")
    assert flows.held_packets == 0
