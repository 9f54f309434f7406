"""The traffic half of the helper's D-Bus object: live connections, history, graphs.

`HistoryMethods` is a base of `HelperService` (one object, one interface). Queries run
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
import dbus.service

from netwarden_helper.accounting import TrackedFlow
from netwarden_helper.api import ACTION_MONITOR, INTERFACE
from netwarden_helper.authorization import Caller, authorized_method
from netwarden_helper.bus_peers import BusPeers
from netwarden_helper.dbus_values import dictionary, options
from netwarden_helper.errors import InvalidArgument
from netwarden_helper.history import History
from netwarden_helper.history_db import MINUTE, BytesSample, FlowRecord, HistoryDb, HistoryFilter
from netwarden_helper.loop import Loop

MAX_PAGE = 1000
MAX_POINTS = 10_000
MAX_TOP = 100
SAMPLE_S = 1.0
_FILTER_OPTIONS = {"since": float, "until": float, "exe": str, "host": str, "verdict": str}


def flow_record(record: FlowRecord) -> dict[str, Any]:
    """A decided flow as its a{sv} fields."""
    program = record.program
    return {
        "id": record.id,
        "time": record.time,
        "exe": program.exe,
        "sha256": program.sha256,
        "unit": program.unit,
        "flatpak": program.flatpak,
        "uid": program.uid,
        "script": program.script,
        "destination": record.destination,
        "host": record.host,
        "port": record.port,
        "protocol": record.protocol,
        "verdict": record.verdict,
        "decided_by": record.decided_by,
        "rule_id": record.rule_id,
    }


def live_record(tracked: TrackedFlow) -> dict[str, Any]:
    return {**flow_record(tracked.record), "bytes_out": tracked.bytes_out,
            "bytes_in": tracked.bytes_in}  # fmt: skip


def history_filter(values: Mapping[str, Any]) -> HistoryFilter:
    """The filter part of a query's options, checked."""
    selected = HistoryFilter(**{k: v for k, v in values.items() if k in _FILTER_OPTIONS})
    if selected.since > selected.until:
        raise InvalidArgument("since: must not be after until")
    if selected.verdict not in ("", "allow", "deny"):
        raise InvalidArgument("verdict: must be allow or deny")
    if len(selected.exe) > 4096 or len(selected.host) > 1024:
        raise InvalidArgument("exe or host: too long")
    return selected


def _bounded(values: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = values.get(name, default)
    if not low <= value <= high:
        raise InvalidArgument(f"{name}: must be between {low} and {high}")
    return value


def _writable_file(fd: int) -> TextIO:
    """The caller's file descriptor as a text file, if it is a regular file open for
    writing (anything else is refused and closed)."""
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode) or fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
        os.close(fd)
        raise InvalidArgument("the file descriptor must be a regular file open for writing")
    return os.fdopen(fd, "w", encoding="utf-8", newline="")


class HistoryMethods(dbus.service.Object):
    """Methods and signals over the connection history and traffic."""

    def _serve_history(self, history: History, loop: Loop) -> None:
        self._history = history
        self._watchers: BusPeers[int] = BusPeers(self.connection)
        self._bytes: Counter[tuple[str, int, str]] = Counter()
        history.listener = self
        self._sample_timer = loop.call_every(SAMPLE_S, self._send_sample)

    def stop_serving_history(self) -> None:
        self._history.listener = None
        Loop.cancel(self._sample_timer)

    @authorized_method(ACTION_MONITOR)
    def WatchConnections(self, caller: Caller) -> None:
        """Receive ConnectionEvent and TrafficSample until UnwatchConnections or leaving
        the bus."""
        self._watchers.add(caller.bus_name, caller.uid)

    @authorized_method(ACTION_MONITOR)
    def UnwatchConnections(self, caller: Caller) -> None:
        """Stop receiving ConnectionEvent and TrafficSample."""
        self._watchers.remove(caller.bus_name)

    @authorized_method(ACTION_MONITOR, out_signature="aa{sv}")
    def ListConnections(self, caller: Caller) -> dbus.Array:
        """Open connections with the bytes they moved so far, oldest first."""
        return dbus.Array(
            [dictionary(live_record(t)) for t in self._history.live()], signature="a{sv}"
        )

    @authorized_method(ACTION_MONITOR, in_signature="a{sv}", out_signature="a{sv}")
    def QueryHistory(self, caller: Caller, query: dbus.Dictionary) -> Future:
        """A page of decided flows, newest first. Options: since, until (d, Unix time),
        exe, host, verdict (s), offset (x), limit (x, 1 to 1000, default 100). Returns
        flows (aa{sv}) and more (b: whether another page follows)."""
        values = options(query, {**_FILTER_OPTIONS, "offset": int, "limit": int})
        selected = history_filter(values)
        offset = _bounded(values, "offset", 0, 0, 1 << 40)
        limit = _bounded(values, "limit", 100, 1, MAX_PAGE)

        def run(db: HistoryDb) -> dbus.Dictionary:
            flows, more = db.flows(selected, offset, limit)
            return dictionary({"flows": flows, "more": more})

        return self._history.query(run)

    @authorized_method(ACTION_MONITOR, in_signature="a{sv}", out_signature="a(ttt)")
    def TrafficSeries(self, caller: Caller, query: dbus.Dictionary) -> Future:
        """Bytes per time bucket: (bucket start, bytes out, bytes in), empty buckets left
        out. Options: since, until (d, default: the last hour), bucket (x: seconds, a
        multiple of 60, default 60), exe (s: one program, default all). At most 10,000
        buckets."""
        values = options(query, {"since": float, "until": float, "bucket": int, "exe": str})
        values.setdefault("until", self._history.clock())
        values.setdefault("since", values["until"] - 3600)
        selected = history_filter(values)
        bucket = _bounded(values, "bucket", MINUTE, MINUTE, 366 * 86400)
        if bucket % MINUTE or (selected.until - selected.since) / bucket > MAX_POINTS:
            raise InvalidArgument(f"bucket: must be a multiple of 60 giving at most "
                                  f"{MAX_POINTS} buckets for the range")  # fmt: skip

        def run(db: HistoryDb) -> dbus.Array:
            points = db.series(selected.since, selected.until, bucket, selected.exe)
            return dbus.Array([dbus.Struct(p, signature="ttt") for p in points], "(ttt)")

        return self._history.query(run)

    @authorized_method(ACTION_MONITOR, in_signature="a{sv}", out_signature="a{sv}")
    def TopTraffic(self, caller: Caller, query: dbus.Dictionary) -> Future:
        """The programs and the hosts that moved the most bytes. Options: since, until
        (d), limit (x, 1 to 100, default 10). Returns programs and hosts (aa{sv})."""
        values = options(query, {"since": float, "until": float, "limit": int})
        selected = history_filter(values)
        limit = _bounded(values, "limit", 10, 1, MAX_TOP)

        def run(db: HistoryDb) -> dbus.Dictionary:
            since, until = selected.since, selected.until
            return dictionary({"programs": db.top_programs(since, until, limit),
                               "hosts": db.top_hosts(since, until, limit)})  # fmt: skip

        return self._history.query(run)

    @authorized_method(ACTION_MONITOR, in_signature="ha{sv}", out_signature="t")
    def ExportHistory(
        self, caller: Caller, fd: dbus.types.UnixFd, query: dbus.Dictionary
    ) -> Future:
        """Write the flows of a range into a file the caller opened for writing (passed
        as a file descriptor: the helper never opens a path it is given). Options:
        format (s: csv or json, default csv), since, until, exe, host, verdict. Returns
        how many flows were written."""
        values = options(query, {**_FILTER_OPTIONS, "format": str})
        selected = history_filter(values)
        fmt = values.get("format", "csv")
        if fmt not in ("csv", "json"):
            raise InvalidArgument("format: must be csv or json")
        out = _writable_file(fd.take())

        def run(db: HistoryDb) -> int:
            with out:
                return db.export(selected, out, fmt)

        return self._history.query(run)

    @dbus.service.signal(INTERFACE, signature="a{sv}")
    def ConnectionEvent(self, flow: dbus.Dictionary) -> None:
        """A flow was decided (fields as in QueryHistory). Declared for introspection;
        sent only to watchers (unicast)."""

    @dbus.service.signal(INTERFACE, signature="a{sv}")
    def TrafficSample(self, sample: dbus.Dictionary) -> None:
        """Bytes moved in the last second: time (d) and programs (aa{sv}: exe, uid,
        bytes_out, bytes_in). Sent only to watchers (unicast), only when bytes moved."""

    # The history's listener

    def flow_recorded(self, record: FlowRecord) -> None:
        if self._watchers:
            event = dictionary(flow_record(record))
            for name, _uid in self._watchers.items():
                self._watchers.send(name, "ConnectionEvent", "a{sv}", event)

    def bytes_counted(self, samples: list[BytesSample]) -> None:
        for sample in samples:
            exe, uid = sample.program.exe, sample.program.uid
            self._bytes[(exe, uid, "out")] += sample.bytes_out
            self._bytes[(exe, uid, "in")] += sample.bytes_in

    def _send_sample(self) -> None:
        if not self._bytes:
            return
        moved, self._bytes = self._bytes, Counter()
        if not self._watchers:
            return
        programs = {(exe, uid) for exe, uid, _direction in moved}
        sample = dictionary({
            "time": self._history.clock(),
            "programs": [{"exe": exe, "uid": uid, "bytes_out": moved[(exe, uid, "out")],
                          "bytes_in": moved[(exe, uid, "in")]} for exe, uid in sorted(programs)],
        })  # fmt: skip
        for name, _uid in self._watchers.items():
            self._watchers.send(name, "TrafficSample", "a{sv}", sample)
