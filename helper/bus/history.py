"""Traffic over the bus: live connections, history, graphs, export, and the switches of
the active profile (`QueryProfileSwitches`; `ProfileSwitched`, broadcast like
`ProfilesChanged` once the history stored one, without who made it).

Queries run
on the history's query thread and reply when done (`authorized_method` accepts a
`Future`), so a month-long query never delays a verdict. Watchers (apps and
`netwardenctl monitor`, after `WatchConnections`) receive `ConnectionEvent` for every
decided flow and one `TrafficSample` a second while bytes move; like prompts, these are
unicast to authorized subscribers, never broadcast to the whole bus.
"""

import fcntl
import os
import stat
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any, TextIO

import dbus

from netwarden_common.api import ACTION_MONITOR, ACTION_MONITOR_ALL
from netwarden_common.dbus_values import dictionary, options, plain
from netwarden_common.errors import BadValue
from netwarden_helper.bus.authorization import Caller, authorized_method
from netwarden_helper.bus.peers import BusPeers, Signals
from netwarden_helper.bus.records import flow_record, live_record
from netwarden_helper.records.flows import BytesSample, FlowRecord
from netwarden_helper.records.history import History
from netwarden_helper.records.history_db import MINUTE, HistoryDb, HistoryFilter

MAX_PAGE = 1000
MAX_POINTS = 10_000
MAX_TOP = 100
SAMPLE_S = 1.0
_FILTER_OPTIONS = {"since": float, "until": float, "exe": str, "host": str, "verdict": str,
                   "forwarded_from": str, "decided_by": str}  # fmt: skip
# what decided a flow (a flow record's `decided_by`)
DECIDERS = ("rule", "blocklist", "answered", "forwarded", "silent", "default", "pin_mismatch",
            "timeout", "no_agent", "shutdown")  # fmt: skip
_ALL_USERS = {"all_users": bool}


def monitor_action(values: Mapping) -> str:
    """A caller sees its own programs' flows; everyone's (`all_users`) is an admin's."""
    return ACTION_MONITOR_ALL if plain(values).get("all_users") is True else ACTION_MONITOR


def whose(caller: Caller, values: Mapping[str, Any]) -> int | None:
    """The uid whose flows the caller sees (None: everyone's). Root sees everyone's."""
    return None if values.get("all_users") or caller.uid == 0 else caller.uid


def history_filter(values: Mapping[str, Any], uid: int | None = None) -> HistoryFilter:
    """The filter part of a query's options, checked; `uid`: one user's programs only."""
    selected = HistoryFilter(**{k: v for k, v in values.items() if k in _FILTER_OPTIONS},
                             uid=uid)  # fmt: skip
    if selected.since > selected.until:
        raise BadValue("since: must not be after until")
    if selected.verdict not in ("", "allow", "deny"):
        raise BadValue("verdict: must be allow or deny")
    if selected.decided_by not in ("", *DECIDERS):
        raise BadValue(f"decided_by: must be one of {', '.join(DECIDERS)}")
    if len(selected.exe) > 4096 or len(selected.host) > 1024 or len(selected.forwarded_from) > 64:
        raise BadValue("exe, host or forwarded_from: too long")
    return selected


def _anonymous(switch: dict[str, Any]) -> dict[str, Any]:
    """A switch of the active profile without who made it (another user's data)."""
    return {key: value for key, value in switch.items() if key != "uid"}


def _bounded(values: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = values.get(name, default)
    if not low <= value <= high:
        raise BadValue(f"{name}: must be between {low} and {high}")
    return value


def _writable_file(fd: int) -> TextIO:
    """The caller's file descriptor as a text file, if it is a regular file open for
    writing (anything else is refused and closed)."""
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode) or fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
        os.close(fd)
        raise BadValue("the file descriptor must be a regular file open for writing")
    return os.fdopen(fd, "w", encoding="utf-8", newline="")


class HistoryMethods:
    def __init__(self, history: History, signals: Signals) -> None:
        self._history = history
        self._signals = signals
        # each watcher with the uid whose flows it sees (None: everyone's)
        self.watchers: BusPeers[int | None] = BusPeers(signals.connection)
        # (exe, uid, forwarded_from, "out" or "in") -> bytes since the last sample
        self._bytes: Counter[tuple[str, int, str, str]] = Counter()

    @authorized_method(lambda self, caller, watch: monitor_action(watch), in_signature="a{sv}")
    def WatchConnections(self, caller: Caller, watch: dbus.Dictionary) -> None:
        """Receive ConnectionEvent and TrafficSample for the caller's own programs (every
        user's with all_users (b), an administrator's action) until UnwatchConnections
        or leaving the bus."""
        self.watchers.add(caller.bus_name, whose(caller, options(watch, _ALL_USERS)))

    @authorized_method(ACTION_MONITOR)
    def UnwatchConnections(self, caller: Caller) -> None:
        """Stop receiving ConnectionEvent and TrafficSample."""
        self.watchers.remove(caller.bus_name)

    @authorized_method(
        lambda self, caller, query: monitor_action(query),
        in_signature="a{sv}",
        out_signature="aa{sv}",
    )
    def ListConnections(self, caller: Caller, query: dbus.Dictionary) -> dbus.Array:
        """Open connections of the caller's own programs (every user's with all_users
        (b)) with the bytes they moved so far, oldest first."""
        uid = whose(caller, options(query, _ALL_USERS))
        return dbus.Array(
            [dictionary(live_record(t)) for t in self._history.live()
             if uid is None or t.record.program.uid == uid],
            signature="a{sv}",
        )  # fmt: skip

    @authorized_method(
        lambda self, caller, query: monitor_action(query),
        in_signature="a{sv}",
        out_signature="a{sv}",
    )
    def QueryHistory(self, caller: Caller, query: dbus.Dictionary) -> Future:
        """A page of decided flows, newest first. Options: since, until (d, Unix time),
        exe, host, verdict (s), offset (x), limit (x, 1 to 1000, default 100), all_users
        (b). Returns flows (aa{sv}) and more (b: whether another page follows)."""
        values = options(query, {**_FILTER_OPTIONS, **_ALL_USERS, "offset": int, "limit": int})
        selected = history_filter(values, whose(caller, values))
        offset = _bounded(values, "offset", 0, 0, 1 << 40)
        limit = _bounded(values, "limit", 100, 1, MAX_PAGE)

        def run(db: HistoryDb) -> dbus.Dictionary:
            flows, more = db.flows(selected, offset, limit)
            return dictionary({"flows": flows, "more": more})

        return self._history.query(run)

    @authorized_method(
        lambda self, caller, query: monitor_action(query),
        in_signature="a{sv}",
        out_signature="a{sv}",
    )
    def QueryProfileSwitches(self, caller: Caller, query: dbus.Dictionary) -> Future:
        """A page of the active profile's switches, newest first. Options: since, until
        (d, Unix time), offset (x), limit (x, 1 to 1000, default 100), all_users (b: who
        made every switch, not only the caller's). Returns switches (aa{sv}) and more (b:
        whether another page follows)."""
        values = options(query, {"since": float, "until": float, **_ALL_USERS, "offset": int,
                                 "limit": int})  # fmt: skip
        selected = history_filter(values, whose(caller, values))
        offset = _bounded(values, "offset", 0, 0, 1 << 40)
        limit = _bounded(values, "limit", 100, 1, MAX_PAGE)

        def run(db: HistoryDb) -> dbus.Dictionary:
            switches, more = db.profile_switches(selected.since, selected.until, offset, limit)
            uid = selected.uid  # whose switches name who made them (None: everyone's)
            told = [s if uid is None or s["uid"] == uid else _anonymous(s) for s in switches]
            return dictionary({"switches": told, "more": more})

        return self._history.query(run)

    @authorized_method(
        lambda self, caller, query: monitor_action(query),
        in_signature="a{sv}",
        out_signature="a(ttt)",
    )
    def TrafficSeries(self, caller: Caller, query: dbus.Dictionary) -> Future:
        """Bytes per time bucket: (bucket start, bytes out, bytes in), empty buckets left
        out. Options: since, until (d, default: the last hour), bucket (x: seconds, a
        multiple of 60, default 60), exe (s: one program, default all), all_users (b). At
        most 10,000 buckets."""
        values = options(query, {"since": float, "until": float, "bucket": int, "exe": str,
                                 **_ALL_USERS})  # fmt: skip
        values.setdefault("until", self._history.clock())
        values.setdefault("since", values["until"] - 3600)
        selected = history_filter(values, whose(caller, values))
        bucket = _bounded(values, "bucket", MINUTE, MINUTE, 366 * 86400)
        if bucket % MINUTE or (selected.until - selected.since) / bucket > MAX_POINTS:
            raise BadValue(f"bucket: must be a multiple of 60 giving at most "
                                  f"{MAX_POINTS} buckets for the range")  # fmt: skip

        def run(db: HistoryDb) -> dbus.Array:
            points = db.series(selected.since, selected.until, bucket, selected.exe,
                               selected.uid)  # fmt: skip
            return dbus.Array([dbus.Struct(p, signature="ttt") for p in points], "(ttt)")

        return self._history.query(run)

    @authorized_method(
        lambda self, caller, query: monitor_action(query),
        in_signature="a{sv}",
        out_signature="a{sv}",
    )
    def TopTraffic(self, caller: Caller, query: dbus.Dictionary) -> Future:
        """The programs and the hosts that moved the most bytes. Options: since, until
        (d), limit (x, 1 to 100, default 10), all_users (b). Returns programs and hosts
        (aa{sv})."""
        values = options(query, {"since": float, "until": float, "limit": int, **_ALL_USERS})
        selected = history_filter(values, whose(caller, values))
        limit = _bounded(values, "limit", 10, 1, MAX_TOP)

        def run(db: HistoryDb) -> dbus.Dictionary:
            since, until = selected.since, selected.until
            uid = selected.uid
            return dictionary({"programs": db.top_programs(since, until, limit, uid),
                               "hosts": db.top_hosts(since, until, limit, uid)})  # fmt: skip

        return self._history.query(run)

    @authorized_method(
        lambda self, caller, fd, query: monitor_action(query),
        in_signature="ha{sv}",
        out_signature="t",
    )
    def ExportHistory(
        self, caller: Caller, fd: dbus.types.UnixFd, query: dbus.Dictionary
    ) -> Future:
        """Write the flows of a range into a file the caller opened for writing (passed
        as a file descriptor: the helper never opens a path it is given). Options:
        format (s: csv or json, default csv), since, until, exe, host, verdict,
        all_users (b). Returns how many flows were written."""
        values = options(query, {**_FILTER_OPTIONS, **_ALL_USERS, "format": str})
        selected = history_filter(values, whose(caller, values))
        fmt = values.get("format", "csv")
        if fmt not in ("csv", "json"):
            raise BadValue("format: must be csv or json")
        out = _writable_file(fd.take())

        def run(db: HistoryDb) -> int:
            with out:
                return db.export(selected, out, fmt)

        return self._history.query(run)

    # From the history (queued on the loop: never sent from inside a packet callback)

    def flow_recorded(self, record: FlowRecord) -> None:
        if self.watchers:
            event = dictionary(flow_record(record))
            for name, uid in self.watchers.items():
                if uid is None or uid == record.program.uid:
                    self._signals.send("ConnectionEvent", "a{sv}", event, to=name)

    def switch_recorded(self, switch: dict[str, Any]) -> None:
        self._signals.send("ProfileSwitched", "a{sv}", dictionary(_anonymous(switch)))

    def bytes_counted(self, samples: list[BytesSample]) -> None:
        for sample in samples:
            program = (sample.program.exe, sample.program.uid, sample.program.forwarded_from)
            self._bytes[(*program, "out")] += sample.bytes_out
            self._bytes[(*program, "in")] += sample.bytes_in

    def send_sample(self) -> None:
        """Tell watchers the bytes moved since the last sample (every `SAMPLE_S`)."""
        if not self._bytes:
            return
        moved, self._bytes = self._bytes, Counter()
        if not self.watchers:
            return
        programs = sorted({program[:3] for program in moved})
        now = self._history.clock()
        for name, seen in self.watchers.items():
            mine = [{"exe": exe, "uid": uid, "forwarded_from": forwarded,
                     "bytes_out": moved[(exe, uid, forwarded, "out")],
                     "bytes_in": moved[(exe, uid, forwarded, "in")]}
                    for exe, uid, forwarded in programs if seen is None or uid == seen]  # fmt: skip
            if mine:
                sample = dictionary({"time": now, "programs": mine})
                self._signals.send("TrafficSample", "a{sv}", sample, to=name)
