"""The connection history database: decided flows, and bytes rolled up per program.

A file of its own (`history.db` beside the rules database, root only, 0600, WAL), so the
busiest writer never shares a journal with the user's rules: a crash or a full disk
while writing history cannot cost a rule. It is disposable by design: one SQLite cannot
read, or one from a newer Netwarden, is moved aside (`history.db.unreadable-<time>`) and
a new one started, with a log line saying so.

Tables:
- `programs`: one row per program identity (path, hash, unit, flatpak id, uid).
- `flows`: one row per decided flow (time, program, destination, verdict, what decided
  it, bytes out/in so far).
- `traffic`: bytes per program per bucket; buckets are minutes, and hours once older
  than `COMPACT_AFTER_S` (compaction sums the minutes of each hour into one row).
- `host_traffic`: bytes per host name (or address) per hour, for "top hosts".
- `profile_switches`: one row per switch of the active profile (time, from, to, why: by
  hand with the caller's uid, or by the network with its connection's name, UUID, SSID).

All times are Unix seconds. Every method runs on the thread that owns the connection.
"""

import csv
import ipaddress
import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any, TextIO

from netwarden_common.profiles import Network, ProfileSwitch
from netwarden_helper.records.flows import BytesSample, FlowRecord, Program

log = logging.getLogger(__name__)

SCHEMA_VERSION = 3
DB_NAME = "history.db"
MINUTE, HOUR = 60, 3600
COMPACT_AFTER_S = 7 * 86400

_PROGRAMS = """
    CREATE TABLE {name} (
        id INTEGER PRIMARY KEY,
        exe TEXT NOT NULL, sha256 TEXT NOT NULL, unit TEXT NOT NULL,
        flatpak TEXT NOT NULL, uid INTEGER NOT NULL, script TEXT NOT NULL,
        forwarded_from TEXT NOT NULL DEFAULT '',
        UNIQUE (exe, sha256, unit, flatpak, uid, script, forwarded_from)
    )
"""
_PROFILE_SWITCHES = """
    CREATE TABLE profile_switches (
        id INTEGER PRIMARY KEY,
        time REAL NOT NULL,
        from_profile TEXT NOT NULL, to_profile TEXT NOT NULL,
        why TEXT NOT NULL,
        uid INTEGER,
        network_id TEXT NOT NULL, network_uuid TEXT NOT NULL, network_ssid TEXT NOT NULL
    );
    CREATE INDEX profile_switches_time ON profile_switches (time)
"""
_SCHEMA = f"""
    {_PROGRAMS.format(name="programs")};
    CREATE TABLE flows (
        id INTEGER PRIMARY KEY,
        time REAL NOT NULL,
        program INTEGER NOT NULL REFERENCES programs (id),
        destination TEXT NOT NULL, host TEXT NOT NULL, port INTEGER NOT NULL,
        protocol TEXT NOT NULL, verdict TEXT NOT NULL, decided_by TEXT NOT NULL,
        rule_id INTEGER,
        bytes_out INTEGER NOT NULL DEFAULT 0, bytes_in INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX flows_time ON flows (time);
    CREATE INDEX flows_program_time ON flows (program, time);
    CREATE INDEX flows_host_time ON flows (host, time);
    CREATE INDEX flows_destination_time ON flows (destination, time);
    CREATE TABLE traffic (
        program INTEGER NOT NULL, bucket INTEGER NOT NULL, width INTEGER NOT NULL,
        bytes_out INTEGER NOT NULL, bytes_in INTEGER NOT NULL,
        PRIMARY KEY (bucket, program)
    ) WITHOUT ROWID;
    CREATE TABLE host_traffic (
        host TEXT NOT NULL, hour INTEGER NOT NULL,
        bytes_out INTEGER NOT NULL, bytes_in INTEGER NOT NULL,
        PRIMARY KEY (hour, host)
    ) WITHOUT ROWID;
    {_PROFILE_SWITCHES}
"""
# From each version to the next. The programs table is made anew (its key changed), in
# SQLite's order for that: new table, copy, drop the old, rename the new (renaming the old
# one aside would make `flows` refer to it by its new name).
_MIGRATIONS = {
    2: f"""
        {_PROGRAMS.format(name="programs_2")};
        INSERT INTO programs_2 (id, exe, sha256, unit, flatpak, uid, script)
            SELECT id, exe, sha256, unit, flatpak, uid, script FROM programs;
        DROP TABLE programs;
        ALTER TABLE programs_2 RENAME TO programs
    """,
    3: _PROFILE_SWITCHES,
}
_FLOW_COLUMNS = (
    "flows.id, time, exe, sha256, unit, flatpak, uid, script, forwarded_from, destination, host, "
    "port, protocol, verdict, decided_by, rule_id, bytes_out, bytes_in"
)
EXPORT_FIELDS = tuple(column.split(".")[-1] for column in _FLOW_COLUMNS.split(", "))
SWITCH_FIELDS = ("id", "time", "from_profile", "to_profile", "why", "uid", "network_id",
                 "network_uuid", "network_ssid")  # fmt: skip


@dataclass(frozen=True)
class HistoryFilter:
    """What a history query selects; empty strings and None select everything."""

    since: float = 0.0
    until: float = float("inf")
    exe: str = ""  # exact program path
    host: str = ""  # exact host name, or destination address
    verdict: str = ""
    uid: int | None = None  # one user's programs only (None: everyone's)
    forwarded_from: str = ""  # exact "<interface> <source address>" of forwarded flows
    decided_by: str = ""  # e.g. "silent": the flows Silent Mode decided unasked


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class HistoryDb:
    """The open history database (one connection: use it from one thread)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / DB_NAME
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            aside = self.path.with_name(f"{DB_NAME}.unreadable-{int(time.time())}")
            log.error("%s cannot be read (%s): moved to %s, history starts afresh",
                      self.path, exc, aside)  # fmt: skip
            for suffix in ("", "-wal", "-shm"):
                source = Path(f"{self.path}{suffix}")
                if source.exists():
                    source.rename(f"{aside}{suffix}")
            self._db = self._open()
        self._program_ids: dict[Program, int] = {}

    def _open(self) -> sqlite3.Connection:
        if not self.path.exists():
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"written by a newer Netwarden (schema {version}, "
                                            f"this one knows {SCHEMA_VERSION})")  # fmt: skip
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a power cut may lose the last commits, never consistency.
            db.execute("PRAGMA synchronous=NORMAL")
            if version < SCHEMA_VERSION:
                db.execute("BEGIN IMMEDIATE")
                steps = [_SCHEMA] if version == 0 else [
                    _MIGRATIONS[target] for target in range(version + 1, SCHEMA_VERSION + 1)
                ]  # fmt: skip
                for statement in ";".join(steps).split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                db.execute("COMMIT")
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def close(self) -> None:
        self._db.close()

    def next_flow_id(self) -> int:
        """The first flow id not used yet (flow ids are handed out before rows are written)."""
        return (self._db.execute("SELECT max(id) FROM flows").fetchone()[0] or 0) + 1

    # Writing

    def write(self, flows: Iterable[FlowRecord], samples: Iterable[BytesSample]) -> None:
        """Store new flows and byte samples in one transaction."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(
                "INSERT OR IGNORE INTO flows (id, time, program, destination, host, port, "
                "protocol, verdict, decided_by, rule_id) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [(f.id, f.time, self._program_id(f.program), f.destination, f.host, f.port,
                  f.protocol, f.verdict, f.decided_by, f.rule_id) for f in flows],
            )  # fmt: skip
            self._add_samples(list(samples))
        except BaseException:
            self._db.execute("ROLLBACK")
            self._program_ids.clear()  # ids of programs inserted in the lost transaction
            raise
        self._db.execute("COMMIT")

    def write_switch(self, when: float, switch: ProfileSwitch) -> dict[str, Any]:
        """Store a switch of the active profile made at `when`; returns it as a row of
        `profile_switches()`."""
        network = switch.network or Network()
        values = (when, switch.before, switch.after, switch.why, switch.uid, network.id,
                  network.uuid, network.ssid)  # fmt: skip
        cursor = self._db.execute(
            f"INSERT INTO profile_switches ({', '.join(SWITCH_FIELDS[1:])}) "
            "VALUES (?,?,?,?,?,?,?,?)",
            values,
        )
        return dict(zip(SWITCH_FIELDS, (cursor.lastrowid, *values), strict=True))

    def _add_samples(self, samples: list[BytesSample]) -> None:
        self._db.executemany(
            "UPDATE flows SET bytes_out = bytes_out + ?, bytes_in = bytes_in + ? WHERE id = ?",
            [(s.bytes_out, s.bytes_in, s.flow_id) for s in samples],
        )
        self._db.executemany(
            "INSERT INTO traffic VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
            "bytes_out = bytes_out + excluded.bytes_out, bytes_in = bytes_in + excluded.bytes_in",
            [(self._program_id(s.program), int(s.time) // MINUTE * MINUTE, MINUTE,
              s.bytes_out, s.bytes_in) for s in samples],
        )  # fmt: skip
        self._db.executemany(
            "INSERT INTO host_traffic VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
            "bytes_out = bytes_out + excluded.bytes_out, bytes_in = bytes_in + excluded.bytes_in",
            [(s.host, int(s.time) // HOUR * HOUR, s.bytes_out, s.bytes_in) for s in samples],
        )

    def _program_id(self, program: Program) -> int:
        known = self._program_ids.get(program)
        if known is not None:
            return known
        values = astuple(program)
        self._db.execute(
            "INSERT OR IGNORE INTO programs (exe, sha256, unit, flatpak, uid, script, "
            "forwarded_from) VALUES (?,?,?,?,?,?,?)",
            values,
        )
        program_id = self._db.execute(
            "SELECT id FROM programs WHERE exe = ? AND sha256 = ? AND unit = ? AND flatpak = ? "
            "AND uid = ? AND script = ? AND forwarded_from = ?",
            values,
        ).fetchone()[0]
        self._program_ids[program] = program_id
        return program_id

    def maintain(self, now: float, retention_days: int) -> tuple[int, int]:
        """Delete what is older than the retention and compact minutes older than
        `COMPACT_AFTER_S` into hours. Returns (flows deleted, minute rows compacted)."""
        cutoff = now - retention_days * 86400
        compact_before = int(now - COMPACT_AFTER_S) // HOUR * HOUR
        self._db.execute("BEGIN IMMEDIATE")
        try:
            deleted = self._db.execute("DELETE FROM flows WHERE time < ?", (cutoff,)).rowcount
            self._db.execute("DELETE FROM traffic WHERE bucket + width <= ?", (cutoff,))
            self._db.execute("DELETE FROM host_traffic WHERE hour + 3600 <= ?", (cutoff,))
            self._db.execute("DELETE FROM profile_switches WHERE time < ?", (cutoff,))
            hours = self._db.execute(
                "SELECT program, bucket / 3600 * 3600 AS hour, sum(bytes_out), sum(bytes_in) "
                "FROM traffic WHERE width = 60 AND bucket < ? GROUP BY program, hour",
                (compact_before,),
            ).fetchall()
            compacted = self._db.execute(
                "DELETE FROM traffic WHERE width = 60 AND bucket < ?", (compact_before,)
            ).rowcount
            self._db.executemany(
                "INSERT INTO traffic VALUES (?, ?, 3600, ?, ?) ON CONFLICT DO UPDATE SET "
                "bytes_out = bytes_out + excluded.bytes_out, "
                "bytes_in = bytes_in + excluded.bytes_in",
                hours,
            )
            self._db.execute(
                "DELETE FROM programs WHERE id NOT IN (SELECT program FROM flows) "
                "AND id NOT IN (SELECT program FROM traffic)"
            )
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        self._program_ids.clear()
        return deleted, compacted

    # Queries

    def flows(
        self, selected: HistoryFilter, offset: int = 0, limit: int = 100
    ) -> tuple[list[dict[str, Any]], bool]:
        """A page of flows, newest first, and whether there are more after it."""
        where, values = self._where(selected)
        return self._page(
            EXPORT_FIELDS,
            f"SELECT {_FLOW_COLUMNS} FROM flows JOIN programs ON programs.id = flows.program "
            f"WHERE {where} ORDER BY time DESC, flows.id DESC",
            values, offset, limit,
        )  # fmt: skip

    def profile_switches(
        self, since: float, until: float, offset: int = 0, limit: int = 100
    ) -> tuple[list[dict[str, Any]], bool]:
        """A page of the active profile's switches in [since, until), newest first, and
        whether there are more after it."""
        return self._page(
            SWITCH_FIELDS,
            f"SELECT {', '.join(SWITCH_FIELDS)} FROM profile_switches WHERE time >= ? "
            "AND time < ? ORDER BY time DESC, id DESC",
            [since, until], offset, limit,
        )  # fmt: skip

    def _page(
        self, fields: tuple[str, ...], query: str, values: list[Any], offset: int, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """`limit` rows of `query` from `offset` on, as dicts of `fields`, and whether
        more follow."""
        paged = f"{query} LIMIT ? OFFSET ?"
        rows = self._db.execute(paged, [*values, limit + 1, offset]).fetchall()
        return [dict(zip(fields, row, strict=True)) for row in rows[:limit]], len(rows) > limit

    def _where(self, selected: HistoryFilter) -> tuple[str, list[Any]]:
        clauses = ["time >= ?", "time < ?"]
        values: list[Any] = [selected.since, selected.until]
        if selected.exe:
            clauses.append("program IN (SELECT id FROM programs WHERE exe = ?)")
            values.append(selected.exe)
        if selected.host:  # an address matches the destination, a name the host
            clauses.append("destination = ?" if _is_address(selected.host) else "host = ?")
            values.append(selected.host)
        if selected.uid is not None:
            clauses.append("program IN (SELECT id FROM programs WHERE uid = ?)")
            values.append(selected.uid)
        if selected.forwarded_from:
            clauses.append("program IN (SELECT id FROM programs WHERE forwarded_from = ?)")
            values.append(selected.forwarded_from)
        if selected.verdict:
            clauses.append("verdict = ?")
            values.append(selected.verdict)
        if selected.decided_by:
            clauses.append("decided_by = ?")
            values.append(selected.decided_by)
        return " AND ".join(clauses), values

    def export(self, selected: HistoryFilter, out: TextIO, fmt: str) -> int:
        """Write every flow `selected` picks, oldest first, as CSV or JSON; returns how many."""
        where, values = self._where(selected)
        cursor = self._db.execute(
            f"SELECT {_FLOW_COLUMNS} FROM flows JOIN programs ON programs.id = flows.program "
            f"WHERE {where} ORDER BY time, flows.id",
            values,
        )
        count = 0
        if fmt == "csv":
            writer = csv.writer(out)
            writer.writerow(EXPORT_FIELDS)
            for row in cursor:
                writer.writerow(row)
                count += 1
            return count
        out.write("[")
        for row in cursor:
            out.write(",\n" if count else "\n")
            out.write(json.dumps(dict(zip(EXPORT_FIELDS, row, strict=True))))
            count += 1
        out.write("\n]\n")
        return count

    def series(
        self, since: float, until: float, bucket: int, exe: str = "", uid: int | None = None
    ) -> list[tuple[int, int, int]]:
        """(bucket start, bytes out, bytes in) per `bucket` seconds in [since, until), for
        one program path or all, one user's or everyone's; empty buckets are left out.
        Buckets are multiples of a minute; stored hours (older than a week) fall into the
        bucket of their start."""
        which, chosen = _programs(exe, uid)
        program_clause = f"AND program IN (SELECT id FROM programs WHERE {which})" if which else ""
        values: list[Any] = [bucket, bucket, since, until, *chosen]
        rows = self._db.execute(
            "SELECT bucket / ? * ? AS b, sum(bytes_out), sum(bytes_in) FROM traffic "
            f"WHERE bucket >= ? AND bucket < ? {program_clause} GROUP BY b ORDER BY b",
            values,
        )
        return [tuple(row) for row in rows]

    def top_programs(
        self, since: float, until: float, limit: int, uid: int | None = None
    ) -> list[dict[str, Any]]:
        """Programs (by path and user) that moved the most bytes in [since, until), of one
        user or everyone."""
        users = "" if uid is None else "WHERE programs.uid = ? "
        rows = self._db.execute(
            "SELECT exe, uid, forwarded_from, sum(t.bytes_out) AS o, sum(t.bytes_in) AS i FROM "
            "(SELECT program, sum(bytes_out) AS bytes_out, sum(bytes_in) AS bytes_in "
            " FROM traffic WHERE bucket >= ? AND bucket < ? GROUP BY program) AS t "
            f"JOIN programs ON programs.id = t.program {users}GROUP BY exe, uid, forwarded_from "
            "ORDER BY o + i DESC LIMIT ?",
            (since, until, *([] if uid is None else [uid]), limit),
        )
        return [{"exe": exe, "uid": uid, "forwarded_from": forwarded, "bytes_out": o,
                 "bytes_in": i} for exe, uid, forwarded, o, i in rows]  # fmt: skip

    def top_hosts(
        self, since: float, until: float, limit: int, uid: int | None = None
    ) -> list[dict[str, Any]]:
        """Hosts that moved the most bytes in the hours overlapping [since, until): from
        the hourly totals for everyone's programs, from the flows for one user's."""
        if uid is None:
            rows = self._db.execute(
                "SELECT host, sum(bytes_out) AS o, sum(bytes_in) AS i FROM host_traffic "
                "WHERE hour > ? - 3600 AND hour < ? GROUP BY host ORDER BY o + i DESC LIMIT ?",
                (since, until, limit),
            )
        else:
            rows = self._db.execute(
                "SELECT CASE WHEN host != '' THEN host ELSE destination END AS h, "
                "sum(bytes_out) AS o, sum(bytes_in) AS i FROM flows WHERE time > ? - 3600 "
                "AND time < ? AND program IN (SELECT id FROM programs WHERE uid = ?) "
                "AND bytes_out + bytes_in > 0 GROUP BY h ORDER BY o + i DESC LIMIT ?",
                (since, until, uid, limit),
            )
        return [{"host": host, "bytes_out": o, "bytes_in": i} for host, o, i in rows]

    def integrity(self) -> str:
        """`PRAGMA integrity_check`'s verdict: "ok" or what is wrong."""
        return "; ".join(row[0] for row in self._db.execute("PRAGMA integrity_check"))


def _programs(exe: str, uid: int | None) -> tuple[str, list[Any]]:
    """The condition on `programs` for one path and/or one user, and its values."""
    conditions, values = [], list[Any]()
    if exe:
        conditions.append("exe = ?")
        values.append(exe)
    if uid is not None:
        conditions.append("uid = ?")
        values.append(uid)
    return " AND ".join(conditions), values
