"""Reading conntrack over netlink: the real table in a netns, and garbage that must not
make the parser raise."""

import json

from hypothesis import given
from hypothesis import strategies as st

from netwarden_helper.records.conntrack import ConntrackReader, enable_accounting, parse_messages
from tests.fixtures.traffic import bulk_server, start_fetch

PORT = 8080
SIZE = 200_000


def test_a_download_is_in_the_dump_with_its_bytes_then_in_a_destroy_event(netns):
    # A rule that looks at conntrack makes the namespace track connections (as the
    # helper's rules do).
    netns.host.run("iptables", "-A", "OUTPUT", "-m", "conntrack", "--ctstate", "NEW", "-j",
                   "ACCEPT")  # fmt: skip
    with netns.host.entered():  # accounting and sockets of the test's namespace
        enable_accounting()
        reader = ConntrackReader()
    try:
        with bulk_server(netns.peer, netns.peer_v4, PORT, SIZE):
            fetch = start_fetch(netns.host, netns.peer_v4, PORT, SIZE)
            assert json.loads(fetch.stdout.readline())["received"] == SIZE
            (entry,) = [e for e in reader.dump() if e.key[4] == PORT]
            assert entry.key[:2] == (6, netns.host_v4) and entry.key[3] == netns.peer_v4
            assert entry.open and SIZE <= entry.bytes_in < SIZE * 1.1
            assert 0 < entry.bytes_out < entry.bytes_in
            fetch.communicate("\n", timeout=10)
        netns.host.run("conntrack", "--flush")
        destroyed = [e for e in reader.wait_for_destroyed(5) if e.key[4] == PORT]
        assert [(e.ct_id, e.open) for e in destroyed] == [(entry.ct_id, False)]
        assert destroyed[0].bytes_in >= entry.bytes_in
    finally:
        reader.close()


@given(st.binary(max_size=400))
def test_garbage_never_makes_the_parser_raise(data):
    entries, _done = parse_messages(data)
    assert isinstance(entries, list)
