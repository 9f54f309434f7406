"""Bytes counted by the eBPF data plane against the real kernel: a download's bytes, live
while it is open and in its history record once it closed, without conntrack dumps."""

import json
import sys
from collections.abc import Iterator

import pytest

from netwarden_common.rules import Rule
from netwarden_helper.records.history_db import HistoryFilter
from tests.fixtures.data_plane import CGROUP2, own_cgroup, own_program, start_in
from tests.fixtures.processes import wait_for
from tests.fixtures.traffic import bulk_server

PORT = 8080
SIZE = 3 * 1024 * 1024
pytestmark = pytest.mark.skipif(CGROUP2 is None, reason="no cgroup2 hierarchy")


@pytest.fixture
def watched() -> Iterator:
    with own_cgroup() as path:
        yield path


def live_bytes(helper) -> list[int]:
    return helper.call(lambda h: [t.bytes_in for t in h.history.live()
                                  if t.record.port == PORT])  # fmt: skip


def test_a_download_is_counted_by_the_kernel_live_then_in_its_record(netns, helper_thread, watched):
    helper = helper_thread(prompter=False, default_action="allow", bpf_cgroup=watched)
    with bulk_server(netns.peer, netns.peer_v4, PORT, SIZE):
        fetch = start_in(netns, watched, sys.executable, "-m", "tests.fixtures.fetch",
                         netns.peer_v4, str(PORT), str(SIZE), keep_stdin=True)  # fmt: skip
        try:
            assert json.loads(fetch.stdout.readline())["received"] == SIZE
            wait_for(lambda: any(n >= SIZE for n in live_bytes(helper)), 10,
                     "the open download's bytes")  # fmt: skip
        finally:
            fetch.communicate("\n", timeout=10)  # it closes its connection
        wait_for(lambda: not live_bytes(helper), 10, "the closed download to leave")
    # counted by the data plane: conntrack was never dumped for it
    assert helper.call(lambda h: len(h.history.accounting)) == 0

    def recorded(h):
        h.history.flush().result(10)
        return h.history

    history = helper.call(recorded)
    wait_for(lambda: history.query(lambda db: db.flows(HistoryFilter()))
             .result(10)[0][0]["bytes_in"] >= SIZE, 10, "the bytes in the record")  # fmt: skip
    flow = history.query(lambda db: db.flows(HistoryFilter())).result(10)[0][0]
    assert flow["port"] == PORT
    assert SIZE <= flow["bytes_in"] <= SIZE * 1.05, "payload plus TCP/IP headers"
    assert 0 < flow["bytes_out"] < SIZE * 0.05  # its acknowledgements


def test_a_download_the_kernel_allowed_is_counted_like_one_the_queue_allowed(
    netns, helper_thread, watched
):
    """The second download of a program decided in the kernel (docs/kernel-verdicts.md):
    its bytes are in its record all the same, the SYN's included."""
    helper = helper_thread(prompter=False, default_action="deny", bpf_cgroup=watched)
    with own_program("downloader") as program, bulk_server(netns.peer, netns.peer_v4, PORT,
                                                            SIZE):  # fmt: skip
        helper.call(lambda h: h.rule_book.add_rule(Rule(action="allow", exe=program)))
        for _ in range(2):
            fetch = start_in(netns, watched, program, "-m", "tests.fixtures.fetch",
                             netns.peer_v4, str(PORT), str(SIZE))  # fmt: skip
            assert json.loads(fetch.communicate(timeout=20)[0])["received"] == SIZE
        wait_for(lambda: not live_bytes(helper), 10, "the closed downloads to leave")
    assert helper.call(lambda h: h.counters["kernel_decided"]) == 1
    history = helper.call(lambda h: h.history)

    def counted() -> list[dict]:
        helper.call(lambda h: h.history.flush().result(10))
        flows, _more = history.query(lambda db: db.flows(HistoryFilter(exe=program))).result(10)
        return flows

    wait_for(lambda: all(f["bytes_in"] >= SIZE for f in counted()), 10, "both downloads' bytes")
    flows = counted()
    assert len(flows) == 2
    # (headers vary with how many segments the receiver coalesced, as with conntrack)
    for flow in flows:
        assert SIZE <= flow["bytes_in"] <= SIZE * 1.05, "payload plus TCP/IP headers"
        assert 0 < flow["bytes_out"] < SIZE * 0.05  # its acknowledgements
