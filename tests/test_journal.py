"""Decisions in the systemd journal: the native protocol (pure), the bounded writer, and
a real helper's decision read from a socket standing where journald's would be."""

import contextlib
import socket
import struct
import threading
import time

import pytest

from netwarden_helper.policy.engine import Flow
from netwarden_helper.records import journal
from netwarden_helper.records.journal import JournalWriter, decision_fields, encode
from tests.fixtures.helper import running_helper
from tests.fixtures.traffic import recorder, run_client

PORT = 8080
FLOW = Flow(exe="/usr/bin/curl", dst="192.0.2.2", protocol="tcp", dport=443, uid=1000,
            hosts=("www.example.org",))  # fmt: skip


def parse(datagram):
    """journald's side of the native protocol: `KEY=value` lines, or KEY, newline,
    64-bit little-endian length, value, newline."""
    fields, offset = {}, 0
    while offset < len(datagram):
        end = datagram.index(b"\n", offset)
        line = datagram[offset:end]
        if b"=" in line:
            key, value = line.split(b"=", 1)
            offset = end + 1
        else:
            (size,) = struct.unpack_from("<Q", datagram, end + 1)
            key, value = line, datagram[end + 9 : end + 9 + size]
            assert datagram[end + 9 + size : end + 10 + size] == b"\n"
            offset = end + 10 + size
        fields[key.decode()] = value.decode()
    return fields


def test_values_with_newlines_use_the_binary_safe_form():
    datagram = encode({"MESSAGE": "two\nlines", "A": "b=c"})
    assert datagram == b"MESSAGE\n" + struct.pack("<Q", 9) + b"two\nlines\nA=b=c\n"
    assert parse(datagram) == {"MESSAGE": "two\nlines", "A": "b=c"}


def test_a_decision_has_its_fields_and_unknowns_are_left_out():
    fields = decision_fields(FLOW, "deny", "rule", 12)
    assert fields == {
        "MESSAGE": "deny /usr/bin/curl (uid 1000) -> www.example.org (192.0.2.2):443 tcp, "
        "decided by rule",
        "PRIORITY": "5", "SYSLOG_IDENTIFIER": "netwarden-helper", "NETWARDEN_VERDICT": "deny",
        "NETWARDEN_DECIDED_BY": "rule", "NETWARDEN_EXE": "/usr/bin/curl", "NETWARDEN_UID": "1000",
        "NETWARDEN_DEST": "192.0.2.2", "NETWARDEN_PORT": "443", "NETWARDEN_PROTOCOL": "tcp",
        "NETWARDEN_HOST": "www.example.org", "NETWARDEN_RULE_ID": "12",
    }  # fmt: skip
    unknown = decision_fields(Flow(exe="", dst="192.0.2.9", protocol="icmp"), "allow",
                              "default", None)  # fmt: skip
    assert "NETWARDEN_HOST" not in unknown and "NETWARDEN_RULE_ID" not in unknown
    assert unknown["PRIORITY"] == "6" and "unknown program" in unknown["MESSAGE"]
    routed = Flow(exe="", dst="192.0.2.2", protocol="tcp", dport=443,
                  forwarded_from="docker0 172.17.0.2")  # fmt: skip
    forwarded = decision_fields(routed, "allow", "forwarded", None)
    assert forwarded["MESSAGE"].startswith("allow forwarded from docker0 172.17.0.2 -> ")
    assert forwarded["NETWARDEN_FORWARDED_FROM"] == "docker0 172.17.0.2"


@pytest.fixture
def journal_socket(tmp_path):
    """A datagram socket where journald's would be."""
    path = tmp_path / "journal.socket"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        server.settimeout(10)
        yield path, server


def received(server, timeout=10):
    server.settimeout(timeout)
    return parse(server.recv(1 << 16))


def test_a_storm_is_rate_limited_and_what_was_dropped_is_reported(journal_socket, monkeypatch):
    path, server = journal_socket
    monkeypatch.setattr(journal, "RATE", 50)
    entries = []

    def read():  # as journald does, as fast as entries come
        server.settimeout(3)
        with contextlib.suppress(TimeoutError):
            while True:
                entries.append(parse(server.recv(1 << 16)))

    reader = threading.Thread(target=read)
    reader.start()
    writer = JournalWriter(str(path))
    for _ in range(3000):
        writer.flow_decided(FLOW, (), "deny", "rule", 1)
    time.sleep(1.2)
    writer.flow_decided(FLOW, (), "allow", "rule", 2)
    writer.close()
    reader.join()
    decisions = [e for e in entries if "NETWARDEN_VERDICT" in e]
    (report,) = [e for e in entries if "NETWARDEN_NOT_JOURNALED" in e]
    assert 50 <= len(decisions) <= 101, len(decisions)
    assert int(report["NETWARDEN_NOT_JOURNALED"]) == writer.dropped >= 3000 - 100
    assert decisions[-1]["NETWARDEN_VERDICT"] == "allow", "sent once the second is over"


def test_without_a_journal_decisions_are_counted_as_dropped(tmp_path):
    writer = JournalWriter(str(tmp_path / "no-journal-here"))
    writer.flow_decided(FLOW, (), "deny", "rule", 1)
    writer.close()
    assert writer.dropped == 1


def test_a_real_decision_reaches_the_journal_with_its_fields(
    system_bus, netns, tmp_path, journal_socket
):
    path, server = journal_socket
    with (
        recorder(netns.peer, (netns.peer_v4,), PORT),
        running_helper(system_bus, netns.host, tmp_path / "state", f"--journal-socket={path}"),
    ):
        outcome = run_client(netns.host, "tcp", netns.peer_v4, PORT)
        assert outcome["result"] == "connected"
        fields = received(server)
    assert {key: fields[key] for key in (
        "SYSLOG_IDENTIFIER", "NETWARDEN_VERDICT", "NETWARDEN_DECIDED_BY", "NETWARDEN_DEST",
        "NETWARDEN_PORT", "NETWARDEN_PROTOCOL", "NETWARDEN_UID", "PRIORITY")} == {
        "SYSLOG_IDENTIFIER": "netwarden-helper", "NETWARDEN_VERDICT": "allow",
        "NETWARDEN_DECIDED_BY": "default", "NETWARDEN_DEST": netns.peer_v4,
        "NETWARDEN_PORT": str(PORT), "NETWARDEN_PROTOCOL": "tcp", "NETWARDEN_UID": "0",
        "PRIORITY": "6"}  # fmt: skip
    assert fields["NETWARDEN_EXE"].startswith("/usr/bin/python3")
    assert fields["MESSAGE"].startswith("allow /usr/bin/python3")
