"""`ConnectionsModel`: the live connections, one row per program (and user).

While `active` (a Network Monitor page is open) the model watches the helper: it reads
ListConnections at once and every `REFRESH_MS` (closed connections leave), adds each
ConnectionEvent as it comes (a denied one stays `RECENT_SECONDS`, for its badge), and
takes each TrafficSample as the programs' current rates. Updates are coalesced: whatever
arrives is looked at once on the next loop turn, at most every `UPDATE_MS`; only the
rows of the programs whose flows or rates changed are rebuilt, and applied a slice
(`APPLY_MS`) per loop turn, so 10,000 live rows keep the window responsive
(bench/model_flood.py).
`recentFlows` holds a program's recent history (QueryHistory) for its details page.

With a `period` set (a range picked on the traffic diagram) the rows are that period's
flows from the history instead (QueryHistory pages, up to `PERIOD_LIMIT` flows, newest
first); events and samples are ignored until the period is cleared.
"""

import time
from bisect import bisect_left

from PySide6.QtCore import Property, QModelIndex, QObject, QTimer, Signal, Slot
from PySide6.QtQml import QmlElement, QmlUncreatable

from netwarden.client.helper_bound import HelperBound
from netwarden.client.helper_client import HelperCallError, HelperClient, to_dbus_options
from netwarden.models import programs
from netwarden.models.row_model import FIRST_ROLE, RowModel
from netwarden.models.rules import format_time, user_name

QML_IMPORT_NAME = "Netwarden.Backend"
QML_IMPORT_MAJOR_VERSION = 1

REFRESH_MS = 2000
RECENT_SECONDS = 10.0  # how long a connection only known from its event is shown
RATE_SECONDS = 2.5  # a traffic sample older than this no longer counts as a rate
HISTORY_LIMIT = 50
UPDATE_MS = 100  # the shortest time between two regroupings of the rows (see `_schedule`)
APPLY_MS = 8  # the longest the rows are changed for in one loop turn (`_apply_pending`)
PAGE = 1000  # flows per QueryHistory call (the helper's largest page)
PERIOD_LIMIT = 5000  # the most flows of a past period shown (the latest)

Group = tuple[str, int]  # (program key, uid): see `program_key`
FORWARDED = "forwarded:"  # program keys of forwarded traffic (exe paths start with "/")


def program_key(flow: dict) -> str:
    """Whose a flow (or a traffic sample's entry) is: its program's path, or where a
    forwarded flow came from."""
    forwarded = flow.get("forwarded_from", "")
    return FORWARDED + forwarded if forwarded else flow.get("exe", "")


def host_of(flow: dict) -> str:
    """The flow's remote host: its name when the helper saw one, else its address."""
    return flow.get("host") or flow.get("destination", "")


def destination_text(flow: dict) -> str:
    """ "host:port/protocol" (the address when no name is known)."""
    where = host_of(flow)
    if ":" in where:  # an IPv6 address
        where = f"[{where}]"
    port = f":{flow['port']}" if flow.get("port") else ""
    return f"{where}{port}/{flow.get('protocol', '')}"


def destination_rows(flows: list[dict]) -> list[dict]:
    """A program's flows merged by destination text, most bytes first."""
    merged: dict[str, dict] = {}
    for flow in flows:
        text = destination_text(flow)
        entry = merged.setdefault(text, {"text": text, "host": host_of(flow), "verdict": "allow",
                                         "address": flow.get("destination", ""),
                                         "bytesIn": 0, "bytesOut": 0, "count": 0})  # fmt: skip
        entry["bytesIn"] += flow.get("bytes_in", 0)
        entry["bytesOut"] += flow.get("bytes_out", 0)
        entry["count"] += 1
        if flow["verdict"] == "deny":
            entry["verdict"] = "deny"
    return sorted(merged.values(), key=lambda d: -d["bytesIn"] - d["bytesOut"])


def program_row(key: str, uid: int, flows: list[dict], rate: tuple[int, int]) -> dict:
    """One program's (and user's) flows as a Network Monitor row."""
    first = flows[0]
    forwarded_from = first.get("forwarded_from", "")
    name, icon = programs.identity(first.get("exe", ""), first.get("flatpak", ""), forwarded_from)
    destinations = destination_rows(flows)
    bytes_in = sum(f.get("bytes_in", 0) for f in flows)
    bytes_out = sum(f.get("bytes_out", 0) for f in flows)
    return {
        "programKey": f"{uid}:{key}",
        "program": name,
        "iconName": icon,
        "exe": first.get("exe", ""),
        "forwardedFrom": forwarded_from,
        "sha256": next((f["sha256"] for f in flows if f.get("sha256")), ""),
        "unit": flows[0].get("unit", ""),
        "flatpak": flows[0].get("flatpak", ""),
        "user": user_name(uid if uid >= 0 else None),
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


def busiest_first(row: dict) -> tuple[int, str, str]:
    """The Network Monitor's order of rows: most bytes first, then by name."""
    return (-row["total"], row["program"].casefold(), row["programKey"])


def flow_row(flow: dict) -> dict:
    """A flow of the history as a row of a list (a program's details, the History page)."""
    return {
        "flowId": flow["id"],
        "time": format_time(flow.get("time")),
        "program": programs.identity(
            flow.get("exe", ""), flow.get("flatpak", ""), flow.get("forwarded_from", "")
        )[0]
        or "?",
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
class ConnectionsModel(HelperBound, RowModel):
    """Programs with open (or just decided) connections, busiest first.

    The rows are not synced from a whole new list: each program's flows are kept
    (`_members`), an update marks the programs whose flows or rate it changed
    (`_outdated`) and their rows are made and applied one by one, a few milliseconds'
    worth per loop turn (`_apply_pending`), so no update holds the loop for long. A row
    keeps its place (`dataChanged`, its changed roles only) unless its sort key passes a
    neighbour's; then it is removed and inserted at its new place (found by bisection in
    `_keys`, each row's `busiest_first`): behind the page's QSortFilterProxyModel a move
    would be a layout change of every row, which the ListView redoes in full.
    """

    ROLES = (
        "programKey", "program", "iconName", "exe", "forwardedFrom", "sha256", "unit", "flatpak",
        "user",
        "destinations", "destinationsText", "connectionCount", "bytesIn", "bytesOut",
        "total", "rateIn", "rateOut", "allowed", "denied",
    )  # fmt: skip
    KEY = "programKey"

    activeChanged = Signal()
    largestChanged = Signal()
    allUsersChanged = Signal()
    periodChanged = Signal()
    failed = Signal(str)

    def __init__(self, client: HelperClient, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._viewers = 0  # pages showing the connections
        self._all_users = False  # every user's connections (an administrator's view)
        self._period: tuple[float, float] | None = None  # (since, until): the history's
        self._period_flows: list[dict] = []  # the period's flows read so far
        self._period_more = False  # the period has more flows than `PERIOD_LIMIT`
        self._open: dict[Group, list[dict]] = {}  # ListConnections' flows by program
        self._open_ids: set[int] = set()
        self._recent: dict[int, tuple[dict, float]] = {}
        self._recent_groups: dict[Group, dict[int, dict]] = {}  # `_recent` by program
        self._relisted = False  # a ListConnections reply came: compare every program
        self._touched: set[Group] = set()  # programs an event came for
        self._members: dict[Group, list[dict]] = {}  # each program's flows, as last grouped
        self._rates: dict[Group, tuple[int, int]] = {}
        self._rates_at = 0.0
        self._applied_rates: dict[Group, tuple[int, int]] = {}  # the rates the rows get
        self._outdated: dict[Group, bool] = {}  # rows to apply (True: flows changed, too)
        self._shown: dict[Group, dict] = {}  # the rows in the model
        self._keys: list[tuple[int, str, str]] = []  # `busiest_first` of each row, in order
        self._largest = 0.0
        self._regrouped_at = 0.0
        self._regroup_ms = 0.0
        self._pending = QTimer(self)  # one regrouping for all that arrived meanwhile
        self._pending.setSingleShot(True)
        self._pending.timeout.connect(self._regroup)
        self._applying = QTimer(self)  # the next slice of `_outdated`
        self._applying.setSingleShot(True)
        self._applying.timeout.connect(self._apply_pending)
        self._recent_flows = RecentFlowsModel(self)
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        client.on_signal("ConnectionEvent", self._event)
        client.on_signal("TrafficSample", self._sample)
        self._bind_helper(client)

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

    def _get_all_users(self) -> bool:
        """Every user's and the system's connections, not only this user's programs'
        (the helper asks polkit for an administrator)."""
        return self._all_users

    def _set_all_users(self, all_users: bool) -> None:
        if all_users == self._all_users:
            return
        self._all_users = all_users
        self.allUsersChanged.emit()
        self._helper_gone()  # what was shown was the other view's
        if self._viewers and self._helper_running:
            self._watch()

    allUsers = Property(bool, _get_all_users, _set_all_users, notify=allUsersChanged)

    def _scope(self) -> dict[str, bool]:
        return {"all_users": True} if self._all_users else {}

    @Property(float, notify=periodChanged)
    def periodSince(self) -> float:
        """The start of the period shown (seconds since the epoch; 0: live connections)."""
        return self._period[0] if self._period else 0.0

    @Property(float, notify=periodChanged)
    def periodUntil(self) -> float:
        """The end of the period shown (0: live connections)."""
        return self._period[1] if self._period else 0.0

    @Property(bool, notify=periodChanged)
    def periodTruncated(self) -> bool:
        """The period had more flows than are shown (its latest `PERIOD_LIMIT`)."""
        return self._period_more

    @Slot(float, float)
    def showPeriod(self, since: float, until: float) -> None:
        """Show the flows of the history from `since` to `until` (seconds) instead of the
        live connections."""
        self._period, self._period_more = (min(since, until), max(since, until)), False
        self._timer.stop()
        self._rates = {}
        self.periodChanged.emit()
        if self._viewers and self._helper_running:
            self.refresh()

    @Slot()
    def showLive(self) -> None:
        """Show the live connections again."""
        if self._period is None:
            return
        self._period, self._period_more = None, False
        self.periodChanged.emit()
        if self._viewers and self._helper_running:
            self._watch()

    @Property(float, notify=largestChanged)
    def largest(self) -> float:
        """The most bytes any row has (the full length of the traffic bars)."""
        return self._largest

    @Property(QObject, constant=True)
    def recentFlows(self) -> RecentFlowsModel:
        return self._recent_flows

    @Slot()
    def refresh(self) -> None:
        """Read the open connections (or the period's flows) again."""
        if self._period:
            self._period_flows = []
            self._read_period(self._period, 0)
            return
        self._client.call("ListConnections", "a{sv}", (to_dbus_options(self._scope()),),
                          self._listed_live, self._failed)  # fmt: skip

    def _listed_live(self, flows: list[dict]) -> None:
        if self._period is None:  # not a reply that crossed a switch to a period
            self._listed(flows)

    def _read_period(self, period: tuple[float, float], offset: int) -> None:
        """Read the period's flows from `offset` on, a page at a time, then show them."""
        query = {"since": period[0], "until": period[1], "offset": offset, "limit": PAGE}
        self._client.call("QueryHistory", "a{sv}", (to_dbus_options({**query, **self._scope()}),),
                          lambda page: self._period_page(period, offset, page),
                          self._failed)  # fmt: skip

    def _period_page(self, period: tuple[float, float], offset: int, page: dict) -> None:
        if period != self._period:  # another period (or live) was asked for meanwhile
            return
        self._period_flows += page["flows"]
        more = bool(page.get("more"))
        if more and len(self._period_flows) < PERIOD_LIMIT:
            self._read_period(period, offset + PAGE)
            return
        if more != self._period_more:
            self._period_more = more
            self.periodChanged.emit()
        self._recent, self._recent_groups = {}, {}
        self._listed(self._period_flows)

    @Slot(str, str)
    def loadHistory(self, exe: str, forwarded_from: str = "") -> None:
        """Fill `recentFlows` with the latest flows of program `exe`, or of the forwarded
        traffic from `forwarded_from`."""
        which = {"forwarded_from": forwarded_from} if forwarded_from else {"exe": exe}
        query = to_dbus_options({**which, "limit": HISTORY_LIMIT, **self._scope()})
        self._client.call(
            "QueryHistory", "a{sv}", (query,),
            lambda page: self._recent_flows.sync([flow_row(f) for f in page["flows"]]),
            self._failed,
        )  # fmt: skip

    def find(self, key: object) -> int | None:
        """The row number of the row whose `KEY` is `key` (by bisection)."""
        uid, _, exe = str(key).partition(":")
        row = self._shown.get((exe, int(uid))) if uid.lstrip("-").isdigit() else None
        return None if row is None else bisect_left(self._keys, busiest_first(row))

    def _watch(self) -> None:
        self._client.call("WatchConnections", "a{sv}", (to_dbus_options(self._scope()),),
                          lambda: None, self._failed)  # fmt: skip
        self.refresh()
        if self._period is None:
            self._timer.start()

    def _helper_appeared(self) -> None:
        if self._viewers:
            self._watch()

    def _helper_gone(self) -> None:
        self._timer.stop()
        self._open, self._open_ids, self._rates = {}, set(), {}
        self._recent, self._recent_groups = {}, {}
        self._relisted = True
        self._schedule()

    def _listed(self, flows: list[dict]) -> None:
        self._open = {}
        for flow in flows:
            self._open.setdefault(_group(flow), []).append(flow)
        now, self._open_ids = time.monotonic(), {flow["id"] for flow in flows}
        # A listed flow is followed by the list from now on: once closed, it leaves.
        self._recent = {k: v for k, v in self._recent.items()
                        if k not in self._open_ids and now - v[1] < RECENT_SECONDS}  # fmt: skip
        self._recent_groups = {}
        for flow_id, (flow, _) in self._recent.items():
            self._recent_groups.setdefault(_group(flow), {})[flow_id] = flow
        self._relisted = True
        self._schedule()

    def _event(self, flow: dict) -> None:
        if not self._viewers or self._period:
            return
        group, last = _group(flow), self._recent.get(flow["id"])
        if last is not None and _group(last[0]) != group:
            self._recent_groups[_group(last[0])].pop(flow["id"], None)
            self._touched.add(_group(last[0]))
        self._recent[flow["id"]] = (flow, time.monotonic())
        self._recent_groups.setdefault(group, {})[flow["id"]] = flow
        self._touched.add(group)
        self._schedule()

    def _sample(self, sample: dict) -> None:
        if not self._viewers or self._period:
            return
        self._rates = {(program_key(p), p["uid"]): (p.get("bytes_out", 0), p.get("bytes_in", 0))
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

    def _flows_of(self, group: Group) -> list[dict]:
        """Program `group`'s flows: the listed ones, then those only known from events."""
        recent = self._recent_groups.get(group, {})
        return self._open.get(group, []) + [
            flow for flow_id, flow in recent.items() if flow_id not in self._open_ids
        ]

    def _regroup(self) -> None:
        """Find the programs whose flows or rates changed (into `_outdated`)."""
        began = time.monotonic()
        self._pending.stop()
        if self._relisted:
            touched = self._members.keys() | self._open.keys() | self._recent_groups.keys()
        else:
            touched = self._touched
        self._relisted, self._touched = False, set()
        for group in touched:
            flows = self._flows_of(group)
            if flows != self._members.get(group, []):
                self._outdated[group] = True
                if flows:
                    self._members[group] = flows
                else:
                    self._members.pop(group, None)
        fresh = time.monotonic() - self._rates_at < RATE_SECONDS
        rates, last = (self._rates if fresh else {}), self._applied_rates
        self._applied_rates = rates
        for group in rates.keys() | last.keys():
            if rates.get(group) != last.get(group) and group in self._members:
                self._outdated.setdefault(group, False)
        self._regrouped_at = time.monotonic()
        self._regroup_ms = (self._regrouped_at - began) * 1000
        self._apply_pending()

    def _apply_pending(self, budget_ms: float | None = APPLY_MS) -> None:
        """Apply the `_outdated` rows, for `budget_ms` (then again on the next loop turn)."""
        self._applying.stop()
        began, before = time.monotonic(), len(self._rows)
        while self._outdated:
            if budget_ms is not None and (time.monotonic() - began) * 1000 >= budget_ms:
                self._applying.start(0)
                break
            group, rebuild = next(iter(self._outdated.items()))
            del self._outdated[group]
            self._apply(group, self._row_of(group, rebuild))
        self._settle(before)

    def _row_of(self, group: Group, rebuild: bool) -> dict | None:
        """Program `group`'s row as it is now (None: it has none): made anew from its flows
        (`rebuild`) or, when only its rate changed, a copy of its row with the new rate."""
        flows, shown = self._members.get(group), self._shown.get(group)
        rate = self._applied_rates.get(group, (0, 0))
        if not flows:
            return None
        if rebuild or shown is None:
            return program_row(*group, flows, rate)
        return dict(shown, rateOut=rate[0], rateIn=rate[1])

    def _settle(self, count_before: int) -> None:
        """Tell of a new `count` (it was `count_before`) and a new `largest`."""
        if len(self._rows) != count_before:
            self.countChanged.emit()
        largest = float(self._rows[0]["total"]) if self._rows else 0.0  # busiest first
        if largest != self._largest:
            self._largest = largest
            self.largestChanged.emit()

    def _apply(self, group: Group, new: dict | None) -> None:
        """Make program `group`'s row `new` (None: no row) at its place in the order."""
        old = self._shown.pop(group, None)
        at = None if old is None else bisect_left(self._keys, busiest_first(old))
        if new is None:
            if at is not None:
                self._remove(at)
            return
        key = busiest_first(new)
        place = bisect_left(self._keys, key)
        if at is not None and key > self._keys[at]:
            place -= 1  # the place once the old row is out
        if old is not None and place == at:  # it stays: only its changed roles
            roles = [FIRST_ROLE + n for n, name in enumerate(self.ROLES)
                     if old.get(name) != new.get(name)]  # fmt: skip
            self._rows[place], self._keys[place], self._shown[group] = new, key, new
            if roles:
                self.dataChanged.emit(self.index(place), self.index(place), roles)
            return
        if at is not None:
            self._remove(at)
        self._shown[group] = new
        self._insert(place, new, key)

    def _remove(self, at: int) -> None:
        self.beginRemoveRows(QModelIndex(), at, at)
        del self._rows[at], self._keys[at]
        self.endRemoveRows()

    def _insert(self, at: int, row: dict, key: tuple[int, str, str]) -> None:
        self.beginInsertRows(QModelIndex(), at, at)
        self._rows.insert(at, row)
        self._keys.insert(at, key)
        self.endInsertRows()

    def _failed(self, error: HelperCallError) -> None:
        if error.helper_absent:  # the page says so (NotConnected)
            return
        self.failed.emit(error.message)
        if error.not_authorized and self._all_users:  # back to this user's own view
            self._set_all_users(False)


def _group(flow: dict) -> Group:
    return (program_key(flow), flow.get("uid", -1))
