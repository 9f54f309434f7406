"""`TrafficHistory`: the History page's data: bytes over a range, top programs and hosts,
the range's latest connections (allowed and denied), and the export of the range's flows
into a file the person picked.

A range is the last hour (minute buckets), day or week (hour buckets) or month (day
buckets). TrafficSeries leaves empty buckets out; here every bucket of the range gets a
point, so the graph shows the quiet times as zero.
"""

import os
import time

import dbus
from PySide6.QtCore import Property, QObject, QUrl, Signal, Slot
from PySide6.QtQml import QmlElement, QmlUncreatable

from netwarden.client.helper_client import HelperCallError, HelperClient, to_dbus_options
from netwarden.models import programs
from netwarden.models.connections import RecentFlowsModel, flow_row
from netwarden.models.row_model import RowModel
from netwarden.models.rules import user_name

QML_IMPORT_NAME = "Netwarden.Backend"
QML_IMPORT_MAJOR_VERSION = 1

RANGES = {  # name: (seconds shown, bucket seconds)
    "hour": (3600, 60),
    "day": (86400, 3600),
    "week": (7 * 86400, 3600),
    "month": (30 * 86400, 86400),
}
TOP_LIMIT = 10
FLOWS_LIMIT = 100  # the range's latest connections listed under the graph
UNITS = ((1e9, "GB"), (1e6, "MB"), (1e3, "KB"), (1, "B"))


def bucket_points(series: list[tuple[int, int, int]], since: float, until: float,
                  bucket: int) -> list[dict]:  # fmt: skip
    """One point per bucket from `since` to `until` ({time ms, sent, received} bytes)."""
    by_start = {start: (out, received) for start, out, received in series}
    first = int(since) // bucket * bucket
    points = []
    for start in range(first, int(until) + 1, bucket):
        out, received = by_start.get(start, (0, 0))
        points.append({"time": start * 1000.0, "sent": out, "received": received})
    return points


def unit_for(peak: float) -> tuple[float, str]:
    """The divisor and name of the unit that shows `peak` bytes best."""
    return next(((size, name) for size, name in UNITS if peak >= size), (1, "B"))


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
    exe = entry.get("exe", "")
    name = programs.identity(exe)[0]
    return {
        "key": f"{entry.get('uid')}:{exe}",
        "name": f"{name} ({user_name(entry.get('uid'))})",
        "detail": exe,
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


@QmlElement
@QmlUncreatable("TrafficHistory is made by the app")
class TrafficHistory(QObject):
    """Traffic over `range` for all programs or for `exe`, and the range's top lists."""

    changed = Signal()
    allUsersChanged = Signal()
    pointsChanged = Signal()
    failed = Signal(str)
    exported = Signal(int, str)  # flows written, into which file

    def __init__(self, client: HelperClient, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._client = client
        self._range = "hour"
        self._exe = ""
        self._all_users = False  # every user's traffic (an administrator's view)
        self._points: list[dict] = []
        self._peak = 0.0
        self._totals = (0, 0)
        self._programs = TopModel(self)
        self._hosts = TopModel(self)
        self._flows = RecentFlowsModel(self)

    # The read-write properties are made with `Property(type, getter, setter)`: mypy
    # takes a `@name.setter` of PySide's Property for a second definition of `name`.

    def _get_range(self) -> str:
        """ "hour", "day", "week" or "month" up to now."""
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
        """{time (ms), sent, received} per bucket, in `unit`s."""
        return self._points

    @Property(str, notify=pointsChanged)
    def unit(self) -> str:
        return unit_for(self._peak)[1]

    @Property(float, notify=pointsChanged)
    def peak(self) -> float:
        """The largest bucket, in `unit`s."""
        return self._peak / unit_for(self._peak)[0]

    @Property(float, notify=pointsChanged)
    def totalReceived(self) -> float:
        return float(self._totals[1])

    @Property(float, notify=pointsChanged)
    def totalSent(self) -> float:
        return float(self._totals[0])

    @Property(float, notify=pointsChanged)
    def since(self) -> float:
        """The range's start (ms), for the time axis."""
        return self._points[0]["time"] if self._points else 0.0

    @Property(float, notify=pointsChanged)
    def until(self) -> float:
        return self._points[-1]["time"] if self._points else 0.0

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

    @Property(list, notify=changed)
    def programChoices(self) -> list[dict]:
        """ "All programs", then the range's top programs (and the chosen one): {name, exe}."""
        choices = [{"name": self.tr("All programs"), "exe": ""}]
        choices += [{"name": row["name"], "exe": row["exe"]} for row in self._programs.rows()]
        if self._exe and all(choice["exe"] != self._exe for choice in choices):
            choices.append({"name": programs.identity(self._exe)[0], "exe": self._exe})
        return choices

    def _window(self) -> tuple[float, float, int]:
        span, bucket = RANGES[self._range]
        until = time.time()
        return until - span, until, bucket

    @Slot()
    def refresh(self) -> None:
        """Ask the helper for the range's series, top lists and latest connections."""
        since, until, bucket = self._window()
        scope = {"all_users": True} if self._all_users else {}
        chosen = {"since": since, "until": until, **scope,
                  **({"exe": self._exe} if self._exe else {})}  # fmt: skip
        self._client.call(
            "TrafficSeries", "a{sv}", (to_dbus_options({**chosen, "bucket": bucket}),),
            lambda series: self._plot(series, since, until, bucket), self._failed,
        )  # fmt: skip
        top = to_dbus_options({"since": since, "until": until, "limit": TOP_LIMIT, **scope})
        self._client.call("TopTraffic", "a{sv}", (top,), self._top, self._failed)
        self._client.call(
            "QueryHistory", "a{sv}", (to_dbus_options({**chosen, "limit": FLOWS_LIMIT}),),
            lambda page: self._flows.sync([flow_row(f) for f in page["flows"]]), self._failed,
        )  # fmt: skip

    @Slot(QUrl, str)
    def exportTo(self, url: QUrl, fmt: str) -> None:
        """Write the range's flows (of `exe`, if set) as `fmt` (csv, json) into `url`."""
        path = url.toLocalFile()
        if not os.path.isabs(path) or os.path.basename(path).startswith("."):
            self.failed.emit(f"Choose a file name to export to (not {url.toString()!r}).")
            return
        since, until, _bucket = self._window()
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
            self.exported.emit(count, os.path.basename(path))

        def refused(error: HelperCallError) -> None:
            file.close()
            self._failed(error)

        self._client.call("ExportHistory", "ha{sv}",
                          (dbus.types.UnixFd(file), to_dbus_options(options)), written,
                          refused)  # fmt: skip

    def _plot(self, series: list, since: float, until: float, bucket: int) -> None:
        raw = bucket_points(series, since, until, bucket)
        self._peak = float(max((max(p["sent"], p["received"]) for p in raw), default=0))
        self._totals = (sum(p["sent"] for p in raw), sum(p["received"] for p in raw))
        size = unit_for(self._peak)[0]
        self._points = [{"time": p["time"], "sent": p["sent"] / size,
                         "received": p["received"] / size} for p in raw]  # fmt: skip
        self.pointsChanged.emit()

    def _top(self, top: dict) -> None:
        self._programs.sync([top_program_row(p) for p in top.get("programs", [])])
        self._hosts.sync([top_host_row(h) for h in top.get("hosts", [])])
        self.changed.emit()

    def _failed(self, error: HelperCallError) -> None:
        self.failed.emit(error.message)
        if error.not_authorized and self._all_users:  # back to this user's own view
            self._set_all_users(False)
