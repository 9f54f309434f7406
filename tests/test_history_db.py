"""The history database on its own: what the History page and `netwardenctl history` get."""

import io
import json
import sqlite3

import pytest

from netwarden_common.profiles import Network, ProfileSwitch
from netwarden_helper.records.flows import BytesSample, FlowRecord, Program
from netwarden_helper.records.history_db import (
    _MIGRATIONS,
    COMPACT_AFTER_S,
    DB_NAME,
    SCHEMA_VERSION,
    HistoryDb,
    HistoryFilter,
)

NOW = 1_800_000_000.0  # a fixed "now", on a minute boundary
FIREFOX = Program("/usr/lib/firefox/firefox", "ab" * 32, "", "", 1000)
CURL = Program("/usr/bin/curl", "cd" * 32, "", "", 1000)


def flow(flow_id, when, program=FIREFOX, host="example.org", verdict="allow"):
    return FlowRecord(flow_id, when, program, "192.0.2.2", host, 443, "tcp", verdict, "rule", 7)


def sample(flow_id, when, bytes_in, program=FIREFOX, host="example.org", bytes_out=100):
    return BytesSample(flow_id, program, host, when, bytes_out, bytes_in)


@pytest.fixture
def db(tmp_path):
    opened = HistoryDb(tmp_path)
    yield opened
    opened.close()


def test_flows_come_back_newest_first_in_pages_with_their_bytes(db):
    db.write([flow(i, NOW + i) for i in range(1, 6)], [sample(5, NOW + 5, 4000)])
    page, more = db.flows(HistoryFilter(), offset=0, limit=2)
    assert [f["id"] for f in page] == [5, 4] and more
    assert page[0]["bytes_in"] == 4000 and page[0]["exe"] == FIREFOX.exe
    last, more = db.flows(HistoryFilter(), offset=4, limit=2)
    assert [f["id"] for f in last] == [1] and not more


def test_filters_select_by_time_program_host_and_verdict(db):
    db.write([flow(1, NOW), flow(2, NOW + 60, CURL, "api.example.com", "deny"), flow(3, NOW + 120)],
             [])  # fmt: skip

    def ids(**selected):
        return [f["id"] for f in db.flows(HistoryFilter(**selected))[0]]

    assert ids(exe=CURL.exe) == [2]
    assert ids(host="api.example.com") == [2]
    assert ids(host="192.0.2.2") == [3, 2, 1]  # the address matches too
    assert ids(verdict="deny") == [2]
    assert ids(since=NOW + 60, until=NOW + 120) == [2]


def test_series_sums_bytes_per_bucket_for_one_program_or_all(db):
    db.write([flow(1, NOW), flow(2, NOW, CURL)],
             [sample(1, NOW + 10, 1000), sample(1, NOW + 50, 500), sample(1, NOW + 70, 7),
              sample(2, NOW + 20, 30, CURL)])  # fmt: skip
    assert db.series(NOW, NOW + 3600, 60, FIREFOX.exe) == [(NOW, 200, 1500), (NOW + 60, 100, 7)]
    assert db.series(NOW, NOW + 3600, 60) == [(NOW, 300, 1530), (NOW + 60, 100, 7)]
    assert db.series(NOW, NOW + 3600, 3600) == [(NOW, 400, 1537)]


def test_top_programs_and_hosts_rank_by_bytes(db):
    db.write([flow(1, NOW), flow(2, NOW, CURL, "big.example")],
             [sample(1, NOW, 10), sample(2, NOW, 10_000, CURL, "big.example")])  # fmt: skip
    top = db.top_programs(NOW - 3600, NOW + 3600, 10)
    assert [p["exe"] for p in top] == [CURL.exe, FIREFOX.exe]
    assert top[0]["bytes_in"] == 10_000
    assert [h["host"] for h in db.top_hosts(NOW - 3600, NOW + 3600, 1)] == ["big.example"]


def test_retention_deletes_old_flows_and_their_traffic_only(db):
    old, recent = NOW - 40 * 86400, NOW - 86400
    db.write([flow(1, old), flow(2, recent)], [sample(1, old, 99), sample(2, recent, 5)])
    deleted, _compacted = db.maintain(NOW, retention_days=30)
    assert deleted == 1
    assert [f["id"] for f in db.flows(HistoryFilter())[0]] == [2]
    assert db.series(0, NOW, 86400 * 30) == [(int(recent) // (86400 * 30) * 86400 * 30, 100, 5)]
    assert [h["bytes_in"] for h in db.top_hosts(0, NOW, 10)] == [5]


def test_minutes_older_than_a_week_are_compacted_into_hours_keeping_the_sums(db):
    hour = int(NOW - COMPACT_AFTER_S - 3 * 3600) // 3600 * 3600
    minutes = [sample(1, hour + m * 60, 10 * m) for m in range(60)]
    recent = [sample(2, NOW - 120, 1), sample(2, NOW - 60, 2)]
    db.write([flow(1, hour), flow(2, NOW - 120)], minutes + recent)
    before = db.series(0, NOW, 3600)
    _deleted, compacted = db.maintain(NOW, retention_days=30)
    assert compacted == 60
    assert db.series(0, NOW, 3600) == before  # same bytes per hour
    assert db.series(hour, hour + 3600, 60) == [(hour, 6000, sum(10 * m for m in range(60)))]
    assert db.series(NOW - 180, NOW, 60) == [(NOW - 120, 100, 1), (NOW - 60, 100, 2)]
    assert db.maintain(NOW, retention_days=30) == (0, 0)  # nothing left to do


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_writes_every_selected_flow_oldest_first(db, fmt):
    db.write([flow(1, NOW), flow(2, NOW + 1, CURL), flow(3, NOW + 2)], [])
    out = io.StringIO()
    assert db.export(HistoryFilter(exe=FIREFOX.exe), out, fmt) == 2
    if fmt == "json":
        rows = json.loads(out.getvalue())
        assert [(r["id"], r["exe"]) for r in rows] == [(1, FIREFOX.exe), (3, FIREFOX.exe)]
    else:
        lines = out.getvalue().splitlines()
        assert lines[0].startswith("id,time,exe,") and len(lines) == 3
        assert lines[1].split(",")[0] == "1"


def test_profile_switches_come_back_newest_first_with_why_and_follow_the_retention(tmp_path):
    office = Network("Office", "5f0c8f4e-5b1e-4a39-9d55-2f1c6a0e7b11", "802-3-ethernet")
    db = HistoryDb(tmp_path)
    db.write_switch(NOW - 40 * 86400, ProfileSwitch("", "Home", "user", 1000))
    db.write_switch(NOW - 60, ProfileSwitch("Home", "Work", "network", network=office))
    db.write_switch(NOW, ProfileSwitch("Work", "", "user"))  # the caller unknown
    db.close()
    db = HistoryDb(tmp_path)  # kept across a restart
    switches, more = db.profile_switches(NOW - 3600, NOW + 1)
    assert not more
    assert [(s["from_profile"], s["to_profile"], s["why"], s["uid"], s["network_id"],
             s["network_uuid"]) for s in switches] == [
        ("Work", "", "user", None, "", ""),
        ("Home", "Work", "network", None, "Office", office.uuid),
    ]  # fmt: skip
    assert [s["to_profile"] for s in db.profile_switches(0, NOW + 1, limit=1)[0]] == [""]
    assert db.profile_switches(0, NOW + 1, limit=2)[1]  # one more page
    db.maintain(NOW, retention_days=30)
    assert [s["to_profile"] for s in db.profile_switches(0, NOW + 1)[0]] == ["", "Work"]
    db.close()


def test_flow_ids_continue_after_a_restart(tmp_path):
    first = HistoryDb(tmp_path)
    first.write([flow(41, NOW)], [])
    first.close()
    again = HistoryDb(tmp_path)
    assert again.next_flow_id() == 42
    again.close()


@pytest.mark.parametrize(
    "damage", [b"this is not a database" * 100, b""], ids=["garbage", "empty-but-newer"]
)
def test_an_unreadable_or_newer_history_is_moved_aside_not_fatal(tmp_path, damage):
    path = tmp_path / DB_NAME
    if damage:
        path.write_bytes(damage)
    else:
        sqlite3.connect(path).execute("PRAGMA user_version = 99").connection.close()
    db = HistoryDb(tmp_path)
    db.write([flow(1, NOW)], [])
    assert [f["id"] for f in db.flows(HistoryFilter())[0]] == [1]
    db.close()
    aside = [p.name for p in tmp_path.iterdir() if ".unreadable-" in p.name]
    assert aside and (tmp_path / aside[0]).read_bytes()[:16] == (
        damage[:16] if damage else b"SQLite format 3\x00"
    )
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_history_of_the_first_schema_keeps_its_flows_and_tells_forwarded_sources_apart(
    tmp_path,
):
    """Version 1 knew programs by path, hash, unit, flatpak, user and script only: every
    forwarded source would have been one program. Upgraded, old flows stay and two
    containers' flows are recorded apart."""
    old = sqlite3.connect(tmp_path / DB_NAME)
    old.executescript(V1_SCHEMA)
    old.execute("INSERT INTO programs VALUES (1, '/usr/bin/curl', '', '', '', 1000, '')")
    old.execute("INSERT INTO flows (id, time, program, destination, host, port, protocol, "
                f"verdict, decided_by) VALUES (1, {NOW}, 1, '192.0.2.2', '', 443, 'tcp', "
                "'allow', 'rule')")  # fmt: skip
    old.execute("PRAGMA user_version = 1")
    old.commit()
    old.close()

    db = HistoryDb(tmp_path)
    one, two = (Program("", "", "", "", -1, "", f"docker0 172.17.0.{n}") for n in (2, 3))
    db.write([flow(2, NOW + 1, one), flow(3, NOW + 2, two)], [])
    flows = db.flows(HistoryFilter())[0]
    assert [(f["id"], f["exe"], f["forwarded_from"]) for f in flows] == [
        (3, "", "docker0 172.17.0.3"),
        (2, "", "docker0 172.17.0.2"),
        (1, "/usr/bin/curl", ""),
    ]
    only_two = db.flows(HistoryFilter(forwarded_from="docker0 172.17.0.3"))[0]
    assert [f["id"] for f in only_two] == [3]
    db.close()
    upgraded = sqlite3.connect(tmp_path / DB_NAME)
    flows_table = upgraded.execute("SELECT sql FROM sqlite_master WHERE name = 'flows'")
    assert "REFERENCES programs (id)" in flows_table.fetchone()[0]
    assert upgraded.execute("PRAGMA foreign_key_check").fetchall() == []
    upgraded.close()


def test_a_history_of_the_previous_schema_keeps_its_rows_and_gains_profile_switches(tmp_path):
    old = sqlite3.connect(tmp_path / DB_NAME)
    old.executescript(f"{V1_SCHEMA}; {_MIGRATIONS[2]}")  # version 2, as upgraded from 1
    old.execute("INSERT INTO programs VALUES (1, '/usr/bin/curl', '', '', '', 1000, '', '')")
    old.execute("INSERT INTO flows (id, time, program, destination, host, port, protocol, "
                f"verdict, decided_by) VALUES (1, {NOW}, 1, '192.0.2.2', 'example.org', 443, "
                "'tcp', 'allow', 'rule')")  # fmt: skip
    old.execute(f"INSERT INTO traffic VALUES (1, {int(NOW)}, 60, 100, 2000)")
    old.execute("PRAGMA user_version = 2")
    old.commit()
    old.close()

    db = HistoryDb(tmp_path)
    assert [(f["id"], f["exe"], f["host"]) for f in db.flows(HistoryFilter())[0]] == [
        (1, "/usr/bin/curl", "example.org")]  # fmt: skip
    assert db.series(NOW, NOW + 60, 60) == [(NOW, 100, 2000)]
    assert db.profile_switches(0, NOW + 1) == ([], False)
    db.write_switch(NOW, ProfileSwitch("", "Work", "user", 0))
    assert [s["to_profile"] for s in db.profile_switches(0, NOW + 1)[0]] == ["Work"]
    db.close()
    assert not [p for p in tmp_path.iterdir() if ".unreadable-" in p.name]
    upgraded = sqlite3.connect(tmp_path / DB_NAME)
    assert upgraded.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    upgraded.close()


def test_a_history_of_the_next_schema_is_refused_and_kept_aside(tmp_path, caplog):
    """A downgrade: the file of a newer Netwarden is not read with a schema it does not
    follow; the log says so, and it stays whole beside the new history, which starts
    empty."""
    newer = sqlite3.connect(tmp_path / DB_NAME)
    newer.execute("CREATE TABLE things (id INTEGER)")
    newer.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    newer.commit()
    newer.close()
    db = HistoryDb(tmp_path)
    assert db.flows(HistoryFilter()) == ([], False)
    db.close()
    assert (f"written by a newer Netwarden (schema {SCHEMA_VERSION + 1}, this one knows "
            f"{SCHEMA_VERSION})") in caplog.text  # fmt: skip
    (aside,) = [p for p in tmp_path.iterdir() if p.name.startswith(f"{DB_NAME}.unreadable-")]
    kept = sqlite3.connect(aside)
    assert kept.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    kept.close()


V1_SCHEMA = """
    CREATE TABLE programs (
        id INTEGER PRIMARY KEY,
        exe TEXT NOT NULL, sha256 TEXT NOT NULL, unit TEXT NOT NULL,
        flatpak TEXT NOT NULL, uid INTEGER NOT NULL, script TEXT NOT NULL,
        UNIQUE (exe, sha256, unit, flatpak, uid, script)
    );
    CREATE TABLE flows (
        id INTEGER PRIMARY KEY, time REAL NOT NULL,
        program INTEGER NOT NULL REFERENCES programs (id),
        destination TEXT NOT NULL, host TEXT NOT NULL, port INTEGER NOT NULL,
        protocol TEXT NOT NULL, verdict TEXT NOT NULL, decided_by TEXT NOT NULL,
        rule_id INTEGER,
        bytes_out INTEGER NOT NULL DEFAULT 0, bytes_in INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE traffic (
        program INTEGER NOT NULL, bucket INTEGER NOT NULL, width INTEGER NOT NULL,
        bytes_out INTEGER NOT NULL, bytes_in INTEGER NOT NULL, PRIMARY KEY (bucket, program)
    ) WITHOUT ROWID;
    CREATE TABLE host_traffic (
        host TEXT NOT NULL, hour INTEGER NOT NULL,
        bytes_out INTEGER NOT NULL, bytes_in INTEGER NOT NULL, PRIMARY KEY (hour, host)
    ) WITHOUT ROWID
"""
