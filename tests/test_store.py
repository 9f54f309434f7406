"""The rules database: real SQLite files, permissions, refusal of unusable files."""

import hashlib
import sqlite3
import stat
from dataclasses import replace

import pytest

from netwarden_common.rules import Rule
from netwarden_helper.pinning.alerts import HASH_CHANGED, PACKET_SOCKET
from netwarden_helper.policy.settings import Settings, SettingsError, updated
from netwarden_helper.storage.store import _MIGRATIONS, SCHEMA_VERSION, Store, StoreError


def test_rules_survive_a_reopen(tmp_path):
    store = Store(tmp_path / "state")
    kept = store.add_rule(Rule("allow", exe="/usr/bin/curl", destination="*.example.org"))
    gone = store.add_rule(Rule("deny", ports="25", protocol="tcp"))
    assert store.replace_rule(kept.id, Rule("deny", exe="/usr/bin/curl", note="changed"))
    assert store.delete_rule(gone.id)
    assert not store.delete_rule(gone.id)
    store.record_hits({kept.id: (3, 1234.5)})
    store.close()

    (rule,) = Store(tmp_path / "state").rules()
    assert (rule.id, rule.action, rule.note, rule.destination) == (kept.id, "deny", "changed", "")
    assert (rule.hits, rule.last_hit) == (3, 1234.5)
    assert rule.created > 0


def test_database_is_private_to_root(tmp_path):
    store = Store(tmp_path / "state")
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_newer_schema_is_refused_and_left_untouched(tmp_path):
    Store(tmp_path).close()
    db = sqlite3.connect(tmp_path / "netwarden.db")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    before = _digest(tmp_path / "netwarden.db")
    with pytest.raises(StoreError, match="newer Netwarden"):
        Store(tmp_path)
    assert _digest(tmp_path / "netwarden.db") == before


def test_garbage_file_is_refused_and_left_untouched(tmp_path):
    (tmp_path / "netwarden.db").write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(StoreError, match="not a readable Netwarden database"):
        Store(tmp_path)
    assert (tmp_path / "netwarden.db").read_bytes() == b"this is not SQLite" * 100


def test_invalid_rows_and_settings_are_ignored_not_fatal(tmp_path):
    store = Store(tmp_path)
    store.add_rule(Rule("allow", exe="/usr/bin/curl"))
    store.close()
    db = sqlite3.connect(tmp_path / "netwarden.db")
    db.execute("INSERT INTO rules (action, created) VALUES ('explode', 0)")
    db.execute("INSERT INTO settings VALUES ('prompt_timeout', '\"soon\"')")
    db.execute("INSERT INTO settings VALUES ('default_action', '{broken json')")
    db.commit()
    db.close()
    store = Store(tmp_path)
    assert [rule.exe for rule in store.rules()] == ["/usr/bin/curl"]
    assert store.settings() == Settings()


def test_settings_round_trip_and_validation(tmp_path):
    store = Store(tmp_path)
    assert store.settings() == Settings(
        default_action="allow", prompt_timeout=60, fail_closed=False
    )
    store.save_settings(updated(store.settings(), {"fail_closed": True, "prompt_timeout": 30}))
    assert Store(tmp_path).settings().fail_closed is True
    for bad in ({"fail_closed": "yes"}, {"prompt_timeout": 1}, {"default_action": "ask"},
                {"colour": "red"}):  # fmt: skip
        with pytest.raises(SettingsError):
            updated(Settings(), bad)


def test_a_database_of_the_previous_schema_keeps_its_rules_and_alerts(tmp_path):
    """Version 3 had one kind of alert, unique by program and hash, and rules without
    `forwarded_from`: both come through, and a packet-socket alert for the same binary
    can then be added beside the hash-change one."""
    path = tmp_path / "netwarden.db"
    old = sqlite3.connect(path)
    for version in (1, 2, 3):
        old.executescript(_MIGRATIONS[version])
    old.execute("INSERT INTO rules (action, exe, created) VALUES ('allow', '/usr/bin/curl', 1)")
    old.execute(
        "INSERT INTO alerts (created, exe, old_sha256, new_sha256, changed_at, modified_at, "
        "size, owner, package, verified, rules, state) VALUES "
        f"(1, '/usr/bin/curl', '{'a' * 64}', '{'b' * 64}', 1, 1, 10, 0, 'curl', 1, '[1]', 'open')"
    )
    old.execute("PRAGMA user_version = 3")
    old.commit()
    old.close()

    store = Store(tmp_path)
    ((rule,), (alert,)) = store.rules(), store.alerts()
    assert (rule.exe, rule.forwarded_from) == ("/usr/bin/curl", "")
    assert (alert.kind, alert.new_sha256, alert.rules, alert.state) == (
        HASH_CHANGED, "b" * 64, (1,), "open")  # fmt: skip
    socket_alert = replace(alert, id=0, kind=PACKET_SOCKET, pid=42, uid=1000, rules=())
    added = store.add_alert(socket_alert)
    assert store.alert_for("/usr/bin/curl", "b" * 64, PACKET_SOCKET) == added
    assert store.alert_for("/usr/bin/curl", "b" * 64) == alert
