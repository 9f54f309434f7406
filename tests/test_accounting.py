"""Byte accounting: conntrack counters turned into per-flow samples (pure logic)."""

from netwarden_helper.records.accounting import NEVER_SEEN_S, FlowAccounting
from netwarden_helper.records.conntrack import CtEntry
from netwarden_helper.records.flows import FlowRecord, Program

KEY = (6, "192.0.2.1", 40000, "192.0.2.2", 443)
PROGRAM = Program("/usr/bin/curl", "", "", "", 1000)


def record(flow_id=1, when=100.0, host="example.org"):
    return FlowRecord(flow_id, when, PROGRAM, "192.0.2.2", host, 443, "tcp", "allow", "rule")


def entry(out, in_, ct_id=77, open_=True, key=KEY):
    return CtEntry(key, ct_id, out, in_, open_)


def test_samples_are_the_growth_of_the_counters_since_the_last_update():
    books = FlowAccounting()
    books.track(KEY, record())
    first = books.update([entry(60, 1000)], 101.0, complete=True)
    second = books.update([entry(100, 5000)], 102.0, complete=True)
    assert [(s.bytes_out, s.bytes_in, s.host) for s in first] == [(60, 1000, "example.org")]
    assert [(s.bytes_out, s.bytes_in, s.time) for s in second] == [(40, 4000, 102.0)]
    assert books.update([entry(100, 5000)], 103.0, complete=True) == []


def test_only_flows_netwarden_decided_are_counted():
    books = FlowAccounting()
    books.track(KEY, record())
    other = (6, "192.0.2.1", 40001, "192.0.2.2", 443)
    samples = books.update([entry(1, 1, key=other), entry(5, 5)], 101.0, complete=True)
    assert [s.flow_id for s in samples] == [1]


def test_a_later_connection_reusing_the_tuple_does_not_count_for_the_old_flow():
    books = FlowAccounting()
    books.track(KEY, record())
    books.update([entry(10, 10, ct_id=1)], 101.0, complete=True)
    assert books.update([entry(10, 10, ct_id=1), entry(999, 999, ct_id=2)], 102.0, True) == []


def test_live_shows_open_flows_and_forgets_them_once_closed_or_destroyed():
    books = FlowAccounting()
    books.track(KEY, record())
    assert books.live() == []  # not seen by conntrack yet
    books.update([entry(10, 20)], 101.0, complete=True)
    assert [(t.bytes_out, t.bytes_in) for t in books.live()] == [(10, 20)]
    books.update([entry(15, 20, open_=False)], 102.0, complete=True)  # TIME_WAIT
    assert books.live() == [] and len(books) == 1
    final = books.update([entry(16, 21, open_=False)], 103.0, complete=False)  # destroyed
    assert [(s.bytes_out, s.bytes_in) for s in final] == [(1, 1)] and len(books) == 0


def test_flows_missing_from_a_dump_are_forgotten_when_gone_or_never_started():
    books = FlowAccounting()
    books.track(KEY, record(when=100.0))
    books.update([], 101.0, complete=True)
    assert len(books) == 1  # conntrack may not show it yet
    books.update([], 100.0 + NEVER_SEEN_S + 1, complete=True)
    assert len(books) == 0
    books.track(KEY, record(when=200.0))
    books.update([entry(1, 1)], 201.0, complete=True)
    books.update([], 202.0, complete=True)  # its destroy event was lost
    assert len(books) == 0
