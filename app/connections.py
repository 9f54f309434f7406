"""`ConnectionsModel`: the live connections, one row per program (and user).

While `active` (a Network Monitor page is open) the model watches the helper: it reads
ListConnections at once and every `REFRESH_MS` (closed connections leave), adds each
ConnectionEvent as it comes (a denied one stays `RECENT_SECONDS`, for its badge), and
takes each TrafficSample as the programs' current rates. Rows are applied by program
(`RowModel.sync`). Updates are coalesced: whatever arrives is grouped once on the next
loop turn, at most every `UPDATE_MS`, and only the programs whose flows or rates changed
are rebuilt, so a flood of events keeps the window responsive (bench/model_flood.py).
`recentFlows` holds a program's recent history (QueryHistory) for its details page.
"""

import time
from collections import defaultdict
from functools import lru_cache

from PySide6.QtCore import Property, QObject, QTimer, Signal, Slot
from PySide6.QtQml import QmlElement, QmlUncreatable

from netwarden import programs
from netwarden.helper_client import HelperCallError, HelperClient, to_dbus_options
from netwarden.row_model import RowModel
from netwarden.rules import format_time, user_name

QML_IMPORT_NAME = "Netwarden.Backend"
QML_IMPORT_MAJOR_VERSION = 1

REFRESH_MS = 2000
RECENT_SECONDS = 10.0  # how long a connection only known from its event is shown
RATE_SECONDS = 2.5  # a traffic sample older than this no longer counts as a rate
HISTORY_LIMIT = 50
UPDATE_MS = 100  # the shortest time between two regroupings of the rows (see `_schedule`)

Group = tuple[str, int]  # (exe, uid)
_user_name = lru_cache(maxsize=1024)(user_name)  # getpwuid costs 20 µs


def destination_text(flow: dict) -> str:
    """ "host:port/protocol" (the address when no name is known)."""
    where = flow.get("host") or flow.get("destination", "")
    if ":" in where:  # an IPv6 address
        where = f"[{where}]"
    port = f":{flow['port']}" if flow.get("port") else ""
    return f"{where}{port}/{flow.get('protocol', '')}"


def destination_rows(flows: list[dict]) -> list[dict]:
    """A program's flows merged by destination text, most bytes first."""
    merged: dict[str, dict] = {}
    for flow in flows:
        text = destination_text(flow)
        entry = merged.setdefault(text, {"text": text, "verdict": "allow", "bytesIn": 0,
                                         "bytesOut": 0, "count": 0})  # fmt: skip
        entry["bytesIn"] += flow.get("bytes_in", 0)
        entry["bytesOut"] += flow.get("bytes_out", 0)
        entry["count"] += 1
        if flow["verdict"] == "deny":
            entry["verdict"] = "deny"
    return sorted(merged.values(), key=lambda d: -d["bytesIn"] - d["bytesOut"])


def program_row(exe: str, uid: int, flows: list[dict], rate: tuple[int, int]) -> dict:
    """One program's (and user's) flows as a Network Monitor row."""
    name, icon = programs.identity(exe, flows[0].get("flatpak", ""))
    destinations = destination_rows(flows)
    bytes_in = sum(f.get("bytes_in", 0) for f in flows)
    bytes_out = sum(f.get("bytes_out", 0) for f in flows)
    return {
        "programKey": f"{uid}:{exe}",
        "program": name,
        "iconName": icon,
        "exe": exe,
        "sha256": next((f["sha256"] for f in flows if f.get("sha256")), ""),
        "unit": flows[0].get("unit", ""),
        "flatpak": flows[0].get("flatpak", ""),
        "user": _user_name(uid if uid >= 0 else None),
        "destinations": destinations,
        "destinationsText": " ".join(d["text"] for d in destinations),
        "connectionCount": len(flows),
        "bytesIn": bytes_in,
        "bytesOut": bytes_out,
        "total": bytes_in + bytes_out,
        "rateOut": rate[0],
        "rateIn": rate[1],
        "allowed": sum(f["verdict"] == "allow" for f in flows),
        "denied": sum(f["verdict"] == "deny" for f in flows),
    }


def program_rows(
    flows: list[dict],
    rates: dict[Group, tuple[int, int]],
    cache: dict[Group, tuple[list[dict], tuple[int, int], dict]] | None = None,
) -> list[dict]:
    """Flows grouped by (program, user) into the Network Monitor's rows, busiest first.

    `cache` (when given) holds each group's flows, rate and row from the last call: a
    group whose flows and rate are the same keeps its row; it is refilled with this call's.
    """
    groups: dict[Group, list[dict]] = defaultdict(list)
    for flow in flows:
        groups[(flow.get("exe", ""), flow.get("uid", -1))].append(flow)
    known = dict(cache or {})
    rows = []
    for (exe, uid), members in groups.items():
        rate = rates.get((exe, uid), (0, 0))
        last = known.get((exe, uid))
        if last is None or last[0] != members:
            row = program_row(exe, uid, members, rate)
        elif last[1] != rate:
            row = dict(last[2], rateOut=rate[0], rateIn=rate[1])
        else:
            row = last[2]
        if cache is not None:
            cache[(exe, uid)] = (members, rate, row)
        rows.append(row)
    if cache is not None:
        for gone in known.keys() - groups.keys():
            del cache[gone]
    rows.sort(key=_busiest_first)
    return rows


def _busiest_first(row: dict) -> tuple[int, str, str]:
    return (-row["total"], row["program"].casefold(), row["programKey"])


def flow_row(flow: dict) -> dict:
    """A flow of the history as a row of a list (a program's details, the History page)."""
    return {
        "flowId": flow["id"],
        "time": format_time(flow.get("time")),
        "program": programs.identity(flow.get("exe", ""), flow.get("flatpak", ""))[0] or "?",
        "destination": destination_text(flow),
        "verdict": flow.get("verdict", ""),
        "decidedBy": flow.get("decided_by", ""),
        "bytesIn": flow.get("bytes_in", 0),
        "bytesOut": flow.get("bytes_out", 0),
    }


@QmlElement
@QmlUncreatable("made by ConnectionsModel")
class RecentFlowsModel(RowModel):
    """Flows from the history, newest first."""

    ROLES = ("flowId", "time", "program", "destination", "verdict", "decidedBy", "bytesIn",
             "bytesOut")  # fmt: skip
    KEY = "flowId"


@QmlElement
@QmlUncreatable("ConnectionsModel is made by the app")
class ConnectionsModel(RowModel):
    """Programs with open (or just decided) connections, busiest first."""

    ROLES = (
        "programKey", "program", "iconName", "exe", "sha256", "unit", "flatpak", "user",
        "destinations", "destinationsText", "connectionCount", "bytesIn", "bytesOut",
        "total", "rateIn", "rateOut", "allowed", "denied",
    )  # fmt: skip
    KEY = "programKey"

    activeChanged = Signal()
    largestChanged = Signal()
    failed = Signal(str)

    def __init__(self, client: HelperClient, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._client = client
        self._viewers = 0  # pages showing the connections
        self._helper_running = False
        self._open: list[dict] = []
        self._recent: dict[int, tuple[dict, float]] = {}
        self._rates: dict[tuple[str, int], tuple[int, int]] = {}
        self._rates_at = 0.0
        self._largest = 0.0
        self._row_cache: dict[Group, tuple[list[dict], tuple[int, int], dict]] = {}
        self._regrouped_at = 0.0
        self._regroup_ms = 0.0
        self._pending = QTimer(self)  # one regrouping for all that arrived meanwhile
        self._pending.setSingleShot(True)
        self._pending.timeout.connect(self._regroup)
        self._recent_flows = RecentFlowsModel(self)
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        client.on_signal("ConnectionEvent", self._event)
        client.on_signal("TrafficSample", self._sample)
        client.watch_helper(self._on_helper_presence)

    @Property(bool, notify=activeChanged)
    def active(self) -> bool:
        """Watching the helper's connections (while a Network Monitor page is shown)."""
        return self._viewers > 0

    @Slot()
    def startWatching(self) -> None:
        """A page that shows the connections opened (pair with `stopWatching`)."""
        self._viewers += 1
        if self._viewers == 1:
            self.activeChanged.emit()
            if self._helper_running:
                self._watch()

    @Slot()
    def stopWatching(self) -> None:
        """A page that showed the connections closed."""
        self._viewers = max(0, self._viewers - 1)
        if self._viewers == 0:
            self.activeChanged.emit()
            self._timer.stop()
            if self._helper_running:
                self._client.call("UnwatchConnections", "", (), lambda: None, lambda _e: None)

    @Property(float, notify=largestChanged)
    def largest(self) -> float:
        """The most bytes any row has (the full length of the traffic bars)."""
        return self._largest

    @Property(QObject, constant=True)
    def recentFlows(self) -> RecentFlowsModel:
        return self._recent_flows

    @Slot()
    def refresh(self) -> None:
        """Read the open connections again."""
        self._client.call("ListConnections", "", (), self._listed, self._failed)

    @Slot(str)
    def loadHistory(self, exe: str) -> None:
        """Fill `recentFlows` with program `exe`'s latest flows."""
        query = to_dbus_options({"exe": exe, "limit": HISTORY_LIMIT})
        self._client.call(
            "QueryHistory", "a{sv}", (query,),
            lambda page: self._recent_flows.sync([flow_row(f) for f in page["flows"]]),
            self._failed,
        )  # fmt: skip

    def _watch(self) -> None:
        self._client.call("WatchConnections", "", (), lambda: None, self._failed)
        self.refresh()
        self._timer.start()

    def _on_helper_presence(self, running: bool) -> None:
        self._helper_running = running
        if running and self._viewers:
            self._watch()
        elif not running:
            self._timer.stop()
            self._open, self._recent, self._rates = [], {}, {}
            self._schedule()

    def _listed(self, flows: list[dict]) -> None:
        self._open = flows
        now, listed = time.monotonic(), {flow["id"] for flow in flows}
        # A listed flow is followed by the list from now on: once closed, it leaves.
        self._recent = {k: v for k, v in self._recent.items()
                        if k not in listed and now - v[1] < RECENT_SECONDS}  # fmt: skip
        self._schedule()

    def _event(self, flow: dict) -> None:
        if self._viewers:
            self._recent[flow["id"]] = (flow, time.monotonic())
            self._schedule()

    def _sample(self, sample: dict) -> None:
        if not self._viewers:
            return
        self._rates = {(p["exe"], p["uid"]): (p.get("bytes_out", 0), p.get("bytes_in", 0))
                       for p in sample.get("programs", [])}  # fmt: skip
        self._rates_at = time.monotonic()
        self._schedule()

    def _schedule(self) -> None:
        """Regroup on the next loop turn, but no sooner than `UPDATE_MS` (or twice what the
        last regrouping took, if more) after the last: the loop stays free at least two
        thirds of the time for input and frames, however fast events come."""
        if not self._pending.isActive():
            since = (time.monotonic() - self._regrouped_at) * 1000
            gap = max(UPDATE_MS, 2 * self._regroup_ms)
            self._pending.start(max(0, int(gap - since)))

    def _regroup(self) -> None:
        began = time.monotonic()
        self._pending.stop()
        open_ids = {flow["id"] for flow in self._open}
        flows = self._open + [f for f, _ in self._recent.values() if f["id"] not in open_ids]
        fresh = time.monotonic() - self._rates_at < RATE_SECONDS
        rows = program_rows(flows, self._rates if fresh else {}, self._row_cache)
        self.sync(rows)
        largest = float(max((row["total"] for row in rows), default=0))
        if largest != self._largest:
            self._largest = largest
            self.largestChanged.emit()
        self._regrouped_at = time.monotonic()
        self._regroup_ms = (self._regrouped_at - began) * 1000

    def _failed(self, error: HelperCallError) -> None:
        self.failed.emit(error.message)
