"""The helper's SQLite database: rules, profiles, settings, hash-change alerts, blocklists.

One file (`netwarden.db` in the state folder, root only, 0600), WAL journal, schema
version in `PRAGMA user_version`, migrated forward in one transaction. A database from a
newer Netwarden, or one SQLite cannot read, is refused with `StoreError` and left as it
is: the helper does not start rather than lose the user's rules.
"""

import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from netwarden_common.profiles import Profile
from netwarden_common.rules import (
    COUNTER_FIELDS,
    SETTABLE_FIELDS,
    Rule,
    RuleError,
    validate,
    with_id,
)
from netwarden_helper.blocklists.subscriptions import Blocklist
from netwarden_helper.pinning.alerts import HASH_CHANGED, Alert, FileFacts
from netwarden_helper.policy.settings import Settings, SettingsError, updated

log = logging.getLogger(__name__)

SCHEMA_VERSION = 6
DB_NAME = "netwarden.db"

_MIGRATIONS = {
    1: """
        CREATE TABLE rules (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            action TEXT NOT NULL,
            exe TEXT NOT NULL DEFAULT '',
            sha256 TEXT NOT NULL DEFAULT '',
            unit TEXT NOT NULL DEFAULT '',
            flatpak TEXT NOT NULL DEFAULT '',
            uid INTEGER,
            destination TEXT NOT NULL DEFAULT '',
            ports TEXT NOT NULL DEFAULT '',
            protocol TEXT NOT NULL DEFAULT '',
            lifetime TEXT NOT NULL DEFAULT 'forever',
            expires_at REAL,
            pid INTEGER,
            pid_start INTEGER,
            priority INTEGER NOT NULL DEFAULT 0,
            enabled INTEGER NOT NULL DEFAULT 1,
            drop_silently INTEGER NOT NULL DEFAULT 0,
            note TEXT NOT NULL DEFAULT '',
            hits INTEGER NOT NULL DEFAULT 0,
            last_hit REAL,
            created REAL NOT NULL
        );
        CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    2: """
        ALTER TABLE rules ADD COLUMN script TEXT NOT NULL DEFAULT '';
        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created REAL NOT NULL,
            exe TEXT NOT NULL,
            old_sha256 TEXT NOT NULL,
            new_sha256 TEXT NOT NULL,
            changed_at REAL NOT NULL,
            modified_at REAL NOT NULL,
            size INTEGER NOT NULL,
            owner INTEGER NOT NULL,
            package TEXT NOT NULL,
            verified INTEGER NOT NULL,
            rules TEXT NOT NULL,
            state TEXT NOT NULL,
            resolved_at REAL,
            UNIQUE (exe, new_sha256)
        );
    """,
    3: """
        CREATE TABLE blocklists (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            source TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            enabled INTEGER NOT NULL,
            created REAL NOT NULL,
            etag TEXT NOT NULL DEFAULT '',
            last_modified TEXT NOT NULL DEFAULT '',
            checked_at REAL,
            updated_at REAL,
            domains INTEGER NOT NULL DEFAULT 0,
            skipped INTEGER NOT NULL DEFAULT 0,
            error TEXT NOT NULL DEFAULT ''
        );
    """,
    4: """
        ALTER TABLE rules ADD COLUMN forwarded_from TEXT NOT NULL DEFAULT '';
        CREATE TABLE alerts_4 (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created REAL NOT NULL,
            kind TEXT NOT NULL,
            exe TEXT NOT NULL,
            old_sha256 TEXT NOT NULL,
            new_sha256 TEXT NOT NULL,
            changed_at REAL NOT NULL,
            modified_at REAL NOT NULL,
            size INTEGER NOT NULL,
            owner INTEGER NOT NULL,
            package TEXT NOT NULL,
            verified INTEGER NOT NULL,
            rules TEXT NOT NULL,
            state TEXT NOT NULL,
            resolved_at REAL,
            pid INTEGER NOT NULL DEFAULT 0,
            uid INTEGER NOT NULL DEFAULT -1,
            UNIQUE (kind, exe, new_sha256)
        );
        INSERT INTO alerts_4 (id, created, kind, exe, old_sha256, new_sha256, changed_at,
            modified_at, size, owner, package, verified, rules, state, resolved_at)
            SELECT id, created, 'hash_changed', exe, old_sha256, new_sha256, changed_at,
            modified_at, size, owner, package, verified, rules, state, resolved_at
            FROM alerts;
        DROP TABLE alerts;
        ALTER TABLE alerts_4 RENAME TO alerts;
    """,
    5: """
        ALTER TABLE rules ADD COLUMN profile TEXT NOT NULL DEFAULT '';
        CREATE TABLE profiles (
            name TEXT PRIMARY KEY,
            uuid TEXT NOT NULL DEFAULT '',
            ssid TEXT NOT NULL DEFAULT '',
            active INTEGER NOT NULL DEFAULT 0,
            created REAL NOT NULL
        );
    """,
    6: """
        ALTER TABLE blocklists ADD COLUMN hits INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE blocklists ADD COLUMN last_hit REAL;
    """,
}
_BLOCKLIST_COUNTERS = ("hits", "last_hit")  # kept apart: `BlocklistHits`
_BLOCKLIST_STATUS = ("etag", "last_modified", "checked_at", "updated_at", "domains", "skipped",
                     "error")  # fmt: skip
_COLUMN_OF = {"drop": "drop_silently"}


class StoreError(Exception):
    """The database cannot be used; the message says why and what to do."""


class Store:
    """The open database. Every write is one transaction."""

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = state_dir / DB_NAME
        if not self.path.exists():
            # Create it 0600 before SQLite does, so it is never readable by others.
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{self.path} is not a readable Netwarden database ({exc}); it was left "
                "untouched. Move it aside to start with no rules, or restore a backup."
            ) from None
        if version > SCHEMA_VERSION:
            self._db.close()
            raise StoreError(
                f"{self.path} was written by a newer Netwarden (schema {version}, this one "
                f"knows {SCHEMA_VERSION}); it was left untouched. Upgrade Netwarden."
            )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._migrate(version)

    def _migrate(self, version: int) -> None:
        with self.transaction() as db:
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[target].split(";"):
                    if statement.strip():
                        db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it or none of it."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    # Rules

    def rules(self) -> list[Rule]:
        """Every stored rule that is valid; an invalid row is logged and left in place."""
        valid = []
        for row in self._db.execute("SELECT * FROM rules ORDER BY id"):
            try:
                valid.append(self._rule(row))
            except RuleError as exc:
                log.error("rule %s in %s is invalid and ignored: %s", row["id"], self.path, exc)
        return valid

    def add_rule(self, rule: Rule) -> Rule:
        """Store a new rule; return it with its id."""
        created = time.time()
        with self.transaction() as db:
            rule_id = self._insert(db, rule, created)
        return with_id(rule, rule_id, created)

    def import_rules(self, rules: list[Rule], replace_existing: bool) -> tuple[int, int]:
        """Add `rules` (with their counters) in one transaction, first deleting every
        existing rule if `replace_existing`; returns (added, removed)."""
        with self.transaction() as db:
            removed = db.execute("DELETE FROM rules").rowcount if replace_existing else 0
            for rule in rules:
                self._insert(db, rule, rule.created or time.time())
        return len(rules), removed

    def _insert(self, db: sqlite3.Connection, rule: Rule, created: float) -> int:
        values = self._row(rule)
        values.update(hits=rule.hits, last_hit=rule.last_hit, created=created)
        names, marks = ", ".join(values), ", ".join("?" for _ in values)
        cursor = db.execute(f"INSERT INTO rules ({names}) VALUES ({marks})", list(values.values()))
        return _row_id(cursor)

    def replace_rule(self, rule_id: int, rule: Rule) -> bool:
        """Replace rule `rule_id`'s fields (keeping its counters); False if there is none."""
        values = self._row(rule)
        assignments = ", ".join(f"{name} = ?" for name in values)
        with self.transaction() as db:
            cursor = db.execute(
                f"UPDATE rules SET {assignments} WHERE id = ?", [*values.values(), rule_id]
            )
        return cursor.rowcount == 1

    def delete_rule(self, rule_id: int) -> bool:
        with self.transaction() as db:
            return db.execute("DELETE FROM rules WHERE id = ?", (rule_id,)).rowcount == 1

    def repin_rules(self, rule_ids: list[int], sha256: str) -> None:
        """Pin every rule of `rule_ids` to the binary `sha256` (one transaction)."""
        with self.transaction() as db:
            db.executemany("UPDATE rules SET sha256 = ? WHERE id = ?",
                           [(sha256, rule_id) for rule_id in rule_ids])  # fmt: skip

    def record_hits(self, hits: dict[int, tuple[int, float]]) -> None:
        """Add hit counts and last-hit times: {rule id: (count, last time)}."""
        with self.transaction() as db:
            db.executemany(
                "UPDATE rules SET hits = hits + ?, last_hit = ? WHERE id = ?",
                [(count, last, rule_id) for rule_id, (count, last) in hits.items()],
            )

    @staticmethod
    def _row(rule: Rule) -> dict[str, Any]:
        return {_COLUMN_OF.get(name, name): getattr(rule, name) for name in SETTABLE_FIELDS}

    @staticmethod
    def _rule(row: sqlite3.Row) -> Rule:
        values = {name: row[_COLUMN_OF.get(name, name)] for name in SETTABLE_FIELDS}
        values["enabled"], values["drop"] = bool(values["enabled"]), bool(values["drop"])
        return replace(validate(values), **{name: row[name] for name in COUNTER_FIELDS})

    # Profiles

    def profiles(self) -> list[Profile]:
        """Every profile, oldest first."""
        rows = self._db.execute("SELECT name, uuid, ssid FROM profiles ORDER BY created, name")
        return [Profile(row["name"], row["uuid"], row["ssid"]) for row in rows]

    def active_profile(self) -> str:
        """The active profile's name; "" for none."""
        row = self._db.execute("SELECT name FROM profiles WHERE active").fetchone()
        return row["name"] if row else ""

    def add_profiles(self, profiles: list[Profile]) -> None:
        """Store new profiles (one transaction); a name already stored is left as it is."""
        with self.transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO profiles (name, uuid, ssid, created) VALUES (?, ?, ?, ?)",
                [(p.name, p.uuid, p.ssid, time.time()) for p in profiles],
            )

    def update_profile(self, profile: Profile) -> None:
        with self.transaction() as db:
            db.execute("UPDATE profiles SET uuid = ?, ssid = ? WHERE name = ?",
                       (profile.uuid, profile.ssid, profile.name))  # fmt: skip

    def rename_profile(self, name: str, new_name: str) -> None:
        """Rename a profile and move its rules along (one transaction)."""
        with self.transaction() as db:
            db.execute("UPDATE profiles SET name = ? WHERE name = ?", (new_name, name))
            db.execute("UPDATE rules SET profile = ? WHERE profile = ?", (new_name, name))

    def delete_profile(self, name: str) -> int:
        """Delete a profile and its rules in one transaction; returns how many rules."""
        with self.transaction() as db:
            db.execute("DELETE FROM profiles WHERE name = ?", (name,))
            return db.execute("DELETE FROM rules WHERE profile = ?", (name,)).rowcount

    def set_active_profile(self, name: str) -> None:
        """Make `name` the active profile ("" for none)."""
        with self.transaction() as db:
            db.execute("UPDATE profiles SET active = (name = ?)", (name,))

    # Settings

    def settings(self) -> Settings:
        """The stored settings; a stored value that is invalid is logged and ignored."""
        settings = Settings()
        for row in self._db.execute("SELECT key, value FROM settings"):
            try:
                settings = updated(settings, {row["key"]: json.loads(row["value"])})
            except (ValueError, SettingsError) as exc:
                log.error("setting %r in %s ignored: %s", row["key"], self.path, exc)
        return settings

    def save_settings(self, settings: Settings) -> None:
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)",
                [(f.name, json.dumps(getattr(settings, f.name))) for f in fields(Settings)],
            )

    # Alerts

    def alerts(self) -> list[Alert]:
        """Every alert, newest first."""
        return [self._alert(row) for row in self._db.execute(
            "SELECT * FROM alerts ORDER BY id DESC")]  # fmt: skip

    def alert_for(self, exe: str, new_sha256: str, kind: str = HASH_CHANGED) -> Alert | None:
        row = self._db.execute(
            "SELECT * FROM alerts WHERE kind = ? AND exe = ? AND new_sha256 = ?",
            (kind, exe, new_sha256),
        ).fetchone()
        return self._alert(row) if row else None

    def add_alert(self, alert: Alert) -> Alert:
        """Store a new alert; return it with its id."""
        facts = alert.facts
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO alerts (created, kind, exe, old_sha256, new_sha256, changed_at, "
                "modified_at, size, owner, package, verified, rules, state, resolved_at, "
                "pid, uid) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (alert.created, alert.kind, alert.exe, alert.old_sha256, alert.new_sha256,
                 facts.changed_at, facts.modified_at, facts.size, facts.owner, facts.package,
                 int(facts.verified), json.dumps(list(alert.rules)), alert.state,
                 alert.resolved_at, alert.pid, alert.uid),
            )  # fmt: skip
        return replace(alert, id=_row_id(cursor))

    def resolve_alert(self, alert: Alert, state: str, when: float) -> Alert:
        """Record how `alert` ended."""
        with self.transaction() as db:
            db.execute("UPDATE alerts SET state = ?, resolved_at = ? WHERE id = ?",
                       (state, when, alert.id))  # fmt: skip
        return replace(alert, state=state, resolved_at=when)

    @staticmethod
    def _alert(row: sqlite3.Row) -> Alert:
        facts = FileFacts(row["changed_at"], row["modified_at"], row["size"], row["owner"],
                          row["package"], bool(row["verified"]))  # fmt: skip
        return Alert(row["id"], row["created"], row["exe"], row["old_sha256"],
                     row["new_sha256"], facts, tuple(json.loads(row["rules"])), row["state"],
                     row["resolved_at"], row["kind"], row["pid"], row["uid"])  # fmt: skip

    # Blocklists

    def blocklists(self) -> list[Blocklist]:
        """Every blocklist subscription, oldest first."""
        return [self._blocklist(row) for row in self._db.execute(
            "SELECT * FROM blocklists ORDER BY id")]  # fmt: skip

    def add_blocklist(self, source: str, name: str, enabled: bool) -> Blocklist:
        """Store a new subscription; return it with its id."""
        created = time.time()
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO blocklists (source, name, enabled, created) VALUES (?, ?, ?, ?)",
                (source, name, int(enabled), created),
            )
        return Blocklist(_row_id(cursor), source, name, enabled, created)

    def delete_blocklist(self, blocklist_id: int) -> bool:
        with self.transaction() as db:
            return db.execute("DELETE FROM blocklists WHERE id = ?",
                              (blocklist_id,)).rowcount == 1  # fmt: skip

    def set_blocklist_enabled(self, blocklist_id: int, enabled: bool) -> None:
        with self.transaction() as db:
            db.execute("UPDATE blocklists SET enabled = ? WHERE id = ?",
                       (int(enabled), blocklist_id))  # fmt: skip

    def blocklist_hits(self) -> dict[int, tuple[int, float | None]]:
        """{list id: (flows it blocked, last time)} of every subscription."""
        rows = self._db.execute("SELECT id, hits, last_hit FROM blocklists")
        return {row["id"]: (row["hits"], row["last_hit"]) for row in rows}

    def record_blocklist_hits(self, hits: dict[int, tuple[int, float]]) -> None:
        """Add blocked-flow counts and last times: {list id: (count, last time)}."""
        with self.transaction() as db:
            db.executemany(
                "UPDATE blocklists SET hits = hits + ?, last_hit = ? WHERE id = ?",
                [(count, last, list_id) for list_id, (count, last) in hits.items()],
            )

    def save_blocklist_status(self, blocklist: Blocklist) -> None:
        """Record how a list's last update went (a subscription deleted meanwhile stays so)."""
        assignments = ", ".join(f"{name} = ?" for name in _BLOCKLIST_STATUS)
        values = [getattr(blocklist, name) for name in _BLOCKLIST_STATUS]
        with self.transaction() as db:
            db.execute(f"UPDATE blocklists SET {assignments} WHERE id = ?",
                       [*values, blocklist.id])  # fmt: skip

    @staticmethod
    def _blocklist(row: sqlite3.Row) -> Blocklist:
        values = {k: row[k] for k in row.keys() if k not in _BLOCKLIST_COUNTERS}  # noqa: SIM118 (a Row is no dict)
        return Blocklist(**{**values, "enabled": bool(row["enabled"])})


def _row_id(cursor: sqlite3.Cursor) -> int:
    """The id of the row an INSERT just made."""
    if cursor.lastrowid is None:
        raise StoreError("the database gave no id for a new row")
    return cursor.lastrowid
