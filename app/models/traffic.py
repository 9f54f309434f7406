"""`TrafficTimeline`: bytes over a range, as a graph draws them (the Network Monitor's
traffic diagram); `TrafficHistory`, the History page's data: a timeline, the range's top
programs and hosts, its latest connections (allowed and denied), the switches of the
active profile in it, and the export of the range's flows into a file the person picked.

A range is about the last 5 minutes or hour (a point a minute), day or week (a point an
hour) or month (a point a day). It starts at a round time of the local clock (the first
tick of the time axis: a whole minute, 10 minutes, 3 hours or day) so that each tick
falls on a time worth reading, and the axis ends at the next tick after now.
TrafficSeries leaves empty buckets out; here every bucket up to now gets a point, so
quiet times show as zero.
"""

import math
import os
import time
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta

import dbus
from PySide6.QtCore import Property, QObject, QUrl, Signal, Slot
from PySide6.QtQml import QmlElement, QmlUncreatable

from netwarden.client.helper_bound import HelperBound
from netwarden.client.helper_client import HelperCallError, HelperClient, to_dbus_options
from netwarden.models import programs
from netwarden.models.connections import RecentFlowsModel, flow_row
from netwarden.models.profile_switches import SwitchRows, switch_row
from netwarden.models.row_model import RowModel
from netwarden.models.rules import user_name

QML_IMPORT_NAME = "Netwarden.Backend"
QML_IMPORT_MAJOR_VERSION = 1

DAY = 86400


@dataclass(frozen=True)
class Range:
    """How a range is asked for and drawn."""

    span: int  # seconds shown, at least
    query_bucket: int  # TrafficSeries bucket (seconds)
    point: int  # seconds per point of the graph (whole days: local days)
    tick: int  # seconds between the time axis's ticks (local clock)
    label: str  # Qt date format of the tick labels


RANGES = {
    "minutes": Range(300, 60, 60, 60, "hh:mm"),
    "hour": Range(3600, 60, 60, 600, "hh:mm"),
    "day": Range(DAY, 3600, 3600, 3 * 3600, "ddd hh:mm"),
    "week": Range(7 * DAY, 3600, 3600, DAY, "ddd d"),
    "month": Range(30 * DAY, 3600, DAY, 5 * DAY, "d MMM"),
}
TOP_LIMIT = 10
FLOWS_LIMIT = 100  # the range's latest connections listed under the graph
UNITS = ((1e9, "GB"), (1e6, "MB"), (1e3, "kB"), (1, "B"))  # as Format.bytes and the CLI


def local_steps(since: float, until: float, step: int) -> list[float]:
    """Times `step` seconds apart on the local clock, from `since` rounded down to a whole
    `step` (counted from local midnight; whole days from midnight) up to the first at
    or after `until`."""
    midnight = datetime.fromtimestamp(since).replace(hour=0, minute=0, second=0, microsecond=0)
    if step % DAY:
        first = midnight.timestamp() + (since - midnight.timestamp()) // step * step
        times = [first]
        while times[-1] < until:
            times.append(times[-1] + step)
        return times
    days, stamps = step // DAY, [midnight]
    while stamps[-1].timestamp() < until:
        stamps.append(stamps[-1] + timedelta(days=days))
    return [stamp.timestamp() for stamp in stamps]


def bucket_points(series: list[tuple[int, int, int]], starts: list[float]) -> list[dict]:
    """One point per start of `starts` ({time ms, sent, received} bytes): the series'
    buckets (start, bytes out, bytes in) summed into the point they fall in."""
    points = [{"time": start * 1000.0, "sent": 0, "received": 0} for start in starts]
    for start, out, received in series:
        at = bisect_right(starts, start) - 1
        if at >= 0:
            points[at]["sent"] += out
            points[at]["received"] += received
    return points


def unit_for(peak: float) -> tuple[float, str]:
    """The divisor and name of the unit that shows `peak` bytes best."""
    return next(((size, name) for size, name in UNITS if peak >= size), (1, "B"))


def scale_for(peak: float) -> tuple[float, float]:
    """A round top for a value axis showing up to `peak`, and its step: at most 5 steps of
    1, 2 or 5 times a power of ten."""
    if peak <= 0:
        return 1.0, 0.5
    power = 10.0 ** math.floor(math.log10(peak / 5))
    step = next(s * power for s in (1, 2, 5, 10) if peak / (s * power) <= 5)
    return step * math.ceil(peak / step), step


@QmlElement
@QmlUncreatable("made by TrafficHistory")
class TopModel(RowModel):
    """Programs or hosts with the most bytes in the range, most first."""

    ROLES = ("key", "name", "detail", "exe", "bytesIn", "bytesOut", "total")
    KEY = "key"
    largestChanged = Signal()

    @Property(float, notify=largestChanged)
    def largest(self) -> float:
        """The most bytes of any row (the full length of the bars)."""
        return float(max((row["total"] for row in self._rows), default=0))

    def sync(self, rows: list[dict]) -> None:
        super().sync(rows)
        self.largestChanged.emit()


def top_program_row(entry: dict) -> dict:
    exe, forwarded_from = entry.get("exe", ""), entry.get("forwarded_from", "")
    name = programs.identity(exe, "", forwarded_from)[0]
    return {
        "key": f"{entry.get('uid')}:{exe}:{forwarded_from}",
        "name": name if forwarded_from else f"{name} ({user_name(entry.get('uid'))})",
        "detail": exe or forwarded_from,
        "exe": exe,
        "bytesIn": entry.get("bytes_in", 0),
        "bytesOut": entry.get("bytes_out", 0),
        "total": entry.get("bytes_in", 0) + entry.get("bytes_out", 0),
    }


def top_host_row(entry: dict) -> dict:
    return {
        "key": entry.get("host", ""),
        "name": entry.get("host", ""),
        "detail": "",
        "exe": "",
        "bytesIn": entry.get("bytes_in", 0),
        "bytesOut": entry.get("bytes_out", 0),
        "total": entry.get("bytes_in", 0) + entry.get("bytes_out", 0),
    }


class Timeline(HelperBound, QObject):
    """Traffic over `range` for all programs or for `exe`: a point per bucket, the time
    axis's ticks and a round value axis. Loaded when the helper appears (and on
    `refresh`); emptied when it goes. The base of the two QML types below (PySide cannot
    make a QML type of a subclass of another Python QML type)."""

    changed = Signal()
    allUsersChanged = Signal()
    pointsChanged = Signal()
    failed = Signal(str)

    def __init__(self, client: HelperClient, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._client = client
        self._range = "hour"
        self._exe = ""
        self._all_users = False  # every user's traffic (an administrator's view)
        self._points: list[dict] = []
        self._ticks: list[float] = []
        self._tick_format = RANGES[self._range].label
        self._peak = 0.0
        self._totals = (0, 0)
        self._bind_helper(client)  # answers on a later loop turn, once subclasses are made

    # The read-write properties are made with `Property(type, getter, setter)`: mypy
    # takes a `@name.setter` of PySide's Property for a second definition of `name`.

    def _get_range(self) -> str:
        """ "minutes" (the last 5), "hour", "day", "week" or "month" up to now."""
        return self._range

    def _set_range(self, name: str) -> None:
        if name in RANGES and name != self._range:
            self._range = name
            self.changed.emit()
            self.refresh()

    range = Property(str, _get_range, _set_range, notify=changed)

    def _get_exe(self) -> str:
        """The program whose traffic the graph shows ("" for all)."""
        return self._exe

    def _set_exe(self, exe: str) -> None:
        if exe != self._exe:
            self._exe = exe
            self.changed.emit()
            self.refresh()

    exe = Property(str, _get_exe, _set_exe, notify=changed)

    def _get_all_users(self) -> bool:
        """Every user's and the system's traffic, not only this user's programs' (the
        helper asks polkit for an administrator)."""
        return self._all_users

    def _set_all_users(self, all_users: bool) -> None:
        if all_users != self._all_users:
            self._all_users = all_users
            self.allUsersChanged.emit()
            self.refresh()

    allUsers = Property(bool, _get_all_users, _set_all_users, notify=allUsersChanged)

    @Property(list, notify=pointsChanged)
    def points(self) -> list[dict]:
        """{time (ms), sent, received (in `unit`s), sentBytes, receivedBytes} per point."""
        return self._points

    @Property(str, notify=pointsChanged)
    def unit(self) -> str:
        return unit_for(self._peak)[1]

    @Property(float, notify=pointsChanged)
    def peak(self) -> float:
        """The largest point, in `unit`s."""
        return self._peak / unit_for(self._peak)[0]

    @Property(float, notify=pointsChanged)
    def scaleMax(self) -> float:
        """The top of the value axis: a round number at or above `peak`."""
        return scale_for(self.peak)[0]

    @Property(float, notify=pointsChanged)
    def scaleStep(self) -> float:
        """The value axis's step (4 or 5 of them up to `scaleMax`)."""
        return scale_for(self.peak)[1]

    @Property(float, notify=pointsChanged)
    def totalReceived(self) -> float:
        return float(self._totals[1])

    @Property(float, notify=pointsChanged)
    def totalSent(self) -> float:
        return float(self._totals[0])

    @Property(float, notify=pointsChanged)
    def since(self) -> float:
        """The time axis's start (ms): the range's first tick."""
        return self._ticks[0] * 1000 if self._ticks else 0.0

    @Property(float, notify=pointsChanged)
    def until(self) -> float:
        """The time axis's end (ms): the first tick after now."""
        return self._ticks[-1] * 1000 if self._ticks else 0.0

    @Property(int, notify=pointsChanged)
    def tickCount(self) -> int:
        """How many steps the time axis has from `since` to `until`."""
        return max(1, len(self._ticks) - 1)

    @Property(str, notify=pointsChanged)
    def tickFormat(self) -> str:
        """The Qt date format of the time axis's labels (of the range the points are of)."""
        return self._tick_format

    def _window(self) -> tuple[float, float, list[float]]:
        """The range's start and end (now), and the time axis's ticks."""
        until = time.time()
        ticks = local_steps(until - RANGES[self._range].span, until, RANGES[self._range].tick)
        return ticks[0], until, ticks

    def _scope(self) -> dict:
        return {"all_users": True} if self._all_users else {}

    @Slot()
    def refresh(self) -> None:
        """Ask the helper for the range's series."""
        if not self._helper_running:
            return
        since, until, ticks = self._window()
        chosen_range = RANGES[self._range]
        chosen = {"since": since, "until": until, "bucket": chosen_range.query_bucket,
                  **self._scope(), **({"exe": self._exe} if self._exe else {})}  # fmt: skip
        starts = [t for t in local_steps(since, until, chosen_range.point) if t < until]
        self._client.call(
            "TrafficSeries", "a{sv}", (to_dbus_options(chosen),),
            lambda series: self._plot(series, starts, ticks, chosen_range.label), self._failed,
        )  # fmt: skip

    def _plot(self, series: list, starts: list[float], ticks: list[float], label: str) -> None:
        raw = bucket_points(series, starts)
        self._peak = float(max((max(p["sent"], p["received"]) for p in raw), default=0))
        self._totals = (sum(p["sent"] for p in raw), sum(p["received"] for p in raw))
        self._ticks, self._tick_format = ticks, label
        size = unit_for(self._peak)[0]
        self._points = [{"time": p["time"], "sent": p["sent"] / size,
                         "received": p["received"] / size, "sentBytes": p["sent"],
                         "receivedBytes": p["received"]} for p in raw]  # fmt: skip
        self.pointsChanged.emit()

    def _failed(self, error: HelperCallError) -> None:
        if error.helper_absent:  # the page says so in its own words
            return
        self.failed.emit(error.message)
        if error.not_authorized and self._all_users:  # back to this user's own view
            self._set_all_users(False)

    def _helper_appeared(self) -> None:
        self.refresh()

    def _helper_gone(self) -> None:
        self._plot([], [], [], self._tick_format)


@QmlElement
@QmlUncreatable("TrafficTimeline is made by the app")
class TrafficTimeline(Timeline):
    """The Network Monitor's traffic diagram: a timeline."""


@QmlElement
@QmlUncreatable("TrafficHistory is made by the app")
class TrafficHistory(Timeline):
    """A timeline, and its range's top lists, latest connections and profile switches,
    and the export of its connections."""

    exportingChanged = Signal()
    choicesChanged = Signal()  # (a base's signal cannot notify a subclass's property)
    switchesTruncatedChanged = Signal()
    exported = Signal(int, str)  # flows written, into which file

    def __init__(self, client: HelperClient, parent: QObject | None = None) -> None:
        super().__init__(client, parent)
        self.changed.connect(self.choicesChanged)
        self._exporting = False
        self._programs = TopModel(self)
        self._hosts = TopModel(self)
        self._flows = RecentFlowsModel(self)
        self._switches = SwitchRows(self)
        self._switches_more = False  # the range has more switches than `FLOWS_LIMIT`

    @Property(bool, notify=exportingChanged)
    def exporting(self) -> bool:
        """An export is being written."""
        return self._exporting

    @Property(QObject, constant=True)
    def programs(self) -> TopModel:
        return self._programs

    @Property(QObject, constant=True)
    def hosts(self) -> TopModel:
        return self._hosts

    @Property(QObject, constant=True)
    def flows(self) -> RecentFlowsModel:
        """The range's latest connections (of `exe`, if set), newest first."""
        return self._flows

    @Property(QObject, constant=True)
    def switches(self) -> SwitchRows:
        """The switches of the active profile in the range, newest first."""
        return self._switches

    @Property(bool, notify=switchesTruncatedChanged)
    def switchesTruncated(self) -> bool:
        """The range had more switches than are listed (its latest `FLOWS_LIMIT`)."""
        return self._switches_more

    @Property(list, notify=choicesChanged)
    def programChoices(self) -> list[dict]:
        """ "All programs", then the range's top programs (and the chosen one): {name, exe}."""
        choices = [{"name": self.tr("All programs"), "exe": ""}]
        choices += [{"name": row["name"], "exe": row["exe"]} for row in self._programs.rows()]
        if self._exe and all(choice["exe"] != self._exe for choice in choices):
            choices.append({"name": programs.identity(self._exe)[0], "exe": self._exe})
        return choices

    @Slot()
    def refresh(self) -> None:
        """Ask the helper for the range's series, top lists, latest connections and
        profile switches."""
        if not self._helper_running:
            return
        super().refresh()
        since, until, _ticks = self._window()
        scope = self._scope()
        top = to_dbus_options({"since": since, "until": until, "limit": TOP_LIMIT, **scope})
        self._client.call("TopTraffic", "a{sv}", (top,), self._top, self._failed)
        chosen = {"since": since, "until": until, "limit": FLOWS_LIMIT, **scope,
                  **({"exe": self._exe} if self._exe else {})}  # fmt: skip
        self._client.call(
            "QueryHistory", "a{sv}", (to_dbus_options(chosen),),
            lambda page: self._flows.sync([flow_row(f) for f in page["flows"]]), self._failed,
        )  # fmt: skip
        span = to_dbus_options({"since": since, "until": until, "limit": FLOWS_LIMIT, **scope})
        self._client.call("QueryProfileSwitches", "a{sv}", (span,), self._switches_read,
                          self._failed)  # fmt: skip

    @Slot(QUrl, str)
    def exportTo(self, url: QUrl, fmt: str) -> None:
        """Write the range's flows (of `exe`, if set) as `fmt` (csv, json) into `url`."""
        path = url.toLocalFile()
        if not os.path.isabs(path) or os.path.basename(path).startswith("."):
            self.failed.emit(f"Choose a file name to export to (not {url.toString()!r}).")
            return
        since, until, _ticks = self._window()
        options: dict[str, object] = {"format": fmt, "since": since, "until": until}
        if self._exe:
            options["exe"] = self._exe
        if self._all_users:
            options["all_users"] = True
        try:
            file = open(path, "w")  # noqa: SIM115 (closed when the helper has answered)
        except OSError as exc:
            self.failed.emit(f"{path}: {exc.strerror}")
            return

        def written(count: int) -> None:
            file.close()
            self._set_exporting(False)
            self.exported.emit(count, os.path.basename(path))

        def refused(error: HelperCallError) -> None:
            file.close()
            self._set_exporting(False)
            self._failed(error)

        self._set_exporting(True)
        self._client.call("ExportHistory", "ha{sv}",
                          (dbus.types.UnixFd(file), to_dbus_options(options)), written,
                          refused)  # fmt: skip

    def _set_exporting(self, exporting: bool) -> None:
        self._exporting = exporting
        self.exportingChanged.emit()

    def _switches_read(self, page: dict) -> None:
        self._switches.sync([switch_row(switch) for switch in page["switches"]])
        self._set_switches_truncated(bool(page["more"]))

    def _set_switches_truncated(self, more: bool) -> None:
        if more != self._switches_more:
            self._switches_more = more
            self.switchesTruncatedChanged.emit()

    def _top(self, top: dict) -> None:
        self._programs.sync([top_program_row(p) for p in top.get("programs", [])])
        self._hosts.sync([top_host_row(h) for h in top.get("hosts", [])])
        self.changed.emit()

    def _helper_gone(self) -> None:
        super()._helper_gone()
        self._top({})
        self._flows.sync([])
        self._switches.sync([])
        self._set_switches_truncated(False)
