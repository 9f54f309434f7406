"""`ConnectionMap`: who talks to whom, laid out for the Network Monitor's map view.

Made from the `ConnectionsModel`'s rows (the live connections, or a past period's flows
when one is picked on the traffic diagram): programs in one column, the hosts they talk
to in the other, one link per program, host and verdict whose width follows its bytes.
The columns hold at most `programSlots` and `hostSlots` nodes (set by the view from its
height); the smaller ones are grouped into one node ("and 430 smaller hosts"). Hosts
with denied attempts get up to a quarter of the host slots whatever their bytes, so
denied attempts stay visible. Hosts are ordered by the mean place of their programs
(weighted by bytes), which keeps most links from crossing. Layout is done here, once per
change (coalesced, at most every `UPDATE_MS`); the view only places what it is given.
"""

import math
from collections.abc import Iterable, Iterator

from PySide6.QtCore import Property, QObject, Slot
from PySide6.QtQml import QmlElement, QmlUncreatable

from netwarden.client.helper_client import HelperClient, to_dbus_options
from netwarden.models.coalesced import Coalesced
from netwarden.models.connections import ConnectionsModel, RecentFlowsModel, flow_row
from netwarden.models.row_model import RowModel
from netwarden.models.searched import SearchedMap

QML_IMPORT_NAME = "Netwarden.Backend"
QML_IMPORT_MAJOR_VERSION = 1

UPDATE_MS = 200
MIN_WIDTH, MAX_WIDTH = 1.0, 12.0  # a link's width in pixels, least and most bytes
DENIED_SHARE = 4  # denied hosts take up to 1/DENIED_SHARE of the host slots
HOST_FLOWS = 20  # a host's latest flows on its details
PROGRAMS_GROUP, HOSTS_GROUP = "group:programs", "group:hosts"


@QmlElement
@QmlUncreatable("made by ConnectionMap")
class MapNodeModel(RowModel):
    """The nodes of one column of the map, top to bottom (`slot`)."""

    ROLES = ("key", "name", "detail", "iconName", "slot", "total", "allowed", "denied",
             "grouped", "programKey")  # fmt: skip
    KEY = "key"


@QmlElement
@QmlUncreatable("made by ConnectionMap")
class MapLinkModel(RowModel):
    """The links between a program's node (`fromSlot`) and a host's (`toSlot`)."""

    ROLES = ("key", "program", "host", "fromSlot", "toSlot", "thickness", "denied", "bytes",
             "attempts")  # fmt: skip
    KEY = "key"


def link_width(count: float, largest: float) -> float:
    """A link's width: its bytes' share of the largest link's, on a square-root scale (so
    a link with a hundredth of the bytes is still a tenth as wide)."""
    share = math.sqrt(count / largest) if largest > 0 else 0.0
    return round(MIN_WIDTH + (MAX_WIDTH - MIN_WIDTH) * share, 1)


def matching(rows: Iterable[dict], filter_text: str) -> Iterator[tuple[dict, dict]]:
    """Each (row, destination) of `rows` (ConnectionsModel rows) whose program (name,
    path, user) or host contains `filter_text`, case-insensitive: what the Monitor's
    search box leaves on its maps."""
    wanted = filter_text.strip().casefold()
    for row in rows:
        program_matches = wanted in "\n".join((row["program"], row["exe"], row["user"])).casefold()
        for destination in row["destinations"]:
            if program_matches or wanted in destination["host"].casefold():
                yield row, destination


def layout(
    rows: list[dict], filter_text: str, program_slots: int, host_slots: int
) -> tuple[list[dict], list[dict], list[dict]]:
    """The program nodes, host nodes and links of the map of `rows` (ConnectionsModel
    rows) that match `filter_text`, at most `program_slots` and `host_slots` nodes."""
    programs: dict[str, dict] = {}
    hosts: dict[str, dict] = {}
    links: dict[tuple[str, str, bool], dict] = {}
    for row, destination in matching(rows, filter_text):
        host = destination["host"]
        denied = destination["verdict"] == "deny"
        count = destination["bytesIn"] + destination["bytesOut"]
        node = programs.setdefault(row["programKey"], {
            "key": row["programKey"], "name": row["program"],
            "detail": row["user"], "iconName": row["iconName"], "total": 0, "allowed": 0,
            "denied": 0, "grouped": False, "programKey": row["programKey"]})  # fmt: skip
        target = hosts.setdefault(host, {
            "key": host, "name": host, "detail": "", "iconName": "network-server",
            "total": 0, "allowed": 0, "denied": 0, "grouped": False, "programKey": "",
            "programs": {}})  # fmt: skip
        verdict = "denied" if denied else "allowed"
        for each in (node, target):
            each["total"] += count
            each[verdict] += destination["count"]
        target["programs"][row["programKey"]] = target["programs"].get(row["programKey"], 0) + count
        link = links.setdefault((row["programKey"], host, denied), {"bytes": 0, "attempts": 0})
        link["bytes"] += count
        link["attempts"] += destination["count"]

    shown_programs = _fit(sorted(programs.values(), key=lambda n: (-n["total"], n["name"])),
                          program_slots, PROGRAMS_GROUP, "and %d smaller programs")  # fmt: skip
    program_slot = {n["key"]: i for i, n in enumerate(shown_programs)}
    by_bytes = sorted(hosts.values(), key=lambda n: (-n["total"], n["name"]))
    denied_first = [n for n in by_bytes if n["denied"]][: max(1, host_slots // DENIED_SHARE)]
    first = {n["key"] for n in denied_first}
    ranked = denied_first + [n for n in by_bytes if n["key"] not in first]
    shown_hosts = _fit(ranked, host_slots, HOSTS_GROUP, "and %d smaller hosts")
    grouped_programs = shown_programs[-1]["key"] == PROGRAMS_GROUP if shown_programs else False

    def program_place(key: str) -> int:
        at = program_slot.get(key)
        return at if at is not None else len(shown_programs) - 1

    def centre(node: dict) -> float:
        if node["grouped"]:
            return math.inf  # the group stays last
        weights = node["programs"]
        total = sum(weights.values()) + len(weights)
        return sum(program_place(k) * (w + 1) for k, w in weights.items()) / total

    shown_hosts.sort(key=centre)
    host_slot = {n["key"]: i for i, n in enumerate(shown_hosts)}
    grouped_hosts = bool(shown_hosts) and shown_hosts[-1]["key"] == HOSTS_GROUP
    merged: dict[tuple[str, str, bool], dict] = {}
    for (program_key, host_key, denied), link in links.items():
        shown_program = program_key in program_slot or not grouped_programs
        source = program_key if shown_program else PROGRAMS_GROUP
        host_end = host_key if host_key in host_slot or not grouped_hosts else HOSTS_GROUP
        entry = merged.setdefault((source, host_end, denied), {"bytes": 0, "attempts": 0})
        entry["bytes"] += link["bytes"]
        entry["attempts"] += link["attempts"]
    largest = max((e["bytes"] for e in merged.values()), default=0)
    link_rows = [{"key": f"{'deny' if denied else 'allow'} {program} {host}", "program": program,
                  "host": host, "fromSlot": program_slot[program], "toSlot": host_slot[host],
                  "thickness": 2.0 if denied else link_width(entry["bytes"], largest),
                  "denied": denied, "bytes": entry["bytes"], "attempts": entry["attempts"]}
                 for (program, host, denied), entry in merged.items()]  # fmt: skip
    link_rows.sort(key=lambda link: (link["denied"], link["fromSlot"], link["toSlot"]))
    for column in (shown_programs, shown_hosts):
        for slot, node in enumerate(column):
            node["slot"] = slot
            node.pop("programs", None)
    return shown_programs, shown_hosts, link_rows


def _fit(ranked: list[dict], slots: int, group_key: str, group_text: str) -> list[dict]:
    """The first of `ranked` that fit in `slots`, the rest grouped into one last node."""
    if len(ranked) <= slots:
        return [dict(n) for n in ranked]
    shown, rest = [dict(n) for n in ranked[: slots - 1]], ranked[slots - 1 :]
    group = {"key": group_key, "name": group_text % len(rest), "detail": "", "total": 0,
             "iconName": "view-more-symbolic", "allowed": 0, "denied": 0, "grouped": True,
             "programKey": "", "programs": {}}  # fmt: skip
    for node in rest:
        group["total"] += node["total"]
        group["allowed"] += node["allowed"]
        group["denied"] += node["denied"]
    return [*shown, group]


@QmlElement
@QmlUncreatable("ConnectionMap is made by the app")
class ConnectionMap(SearchedMap):
    """The map of `connections`: `programs`, `hosts` and `links`, for the view's slots."""

    def __init__(
        self, client: HelperClient, connections: ConnectionsModel, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._client = client
        self._connections = connections
        self._slots = (12, 30)  # programs, hosts
        self._programs = MapNodeModel(self)
        self._hosts = MapNodeModel(self)
        self._links = MapLinkModel(self)
        self._host_flows = RecentFlowsModel(self)
        self._pending = Coalesced(self, UPDATE_MS, self.rebuild, connections)

    @Property(QObject, constant=True)
    def programs(self) -> MapNodeModel:
        return self._programs

    @Property(QObject, constant=True)
    def hosts(self) -> MapNodeModel:
        return self._hosts

    @Property(QObject, constant=True)
    def links(self) -> MapLinkModel:
        return self._links

    @Property(QObject, constant=True)
    def hostFlows(self) -> RecentFlowsModel:
        """The latest flows to the host whose details are shown (`loadHost`)."""
        return self._host_flows

    @Slot(int, int)
    def setSlots(self, programs: int, hosts: int) -> None:
        """How many nodes each column has room for (the rest are grouped)."""
        slots = (max(2, programs), max(2, hosts))
        if slots != self._slots:
            self._slots = slots
            self.rebuild()

    @Slot()
    def rebuild(self) -> None:
        """Lay the map out again from the connections' rows."""
        self._pending.stop()
        programs, hosts, links = layout(self._connections.rows(), self._filter, *self._slots)
        self._programs.sync(programs)
        self._hosts.sync(hosts)
        self._links.sync(links)

    @Slot(str, result=list)
    def programsOf(self, host: str) -> list[dict]:
        """The programs talking to `host` ({programKey, name, user, verdict, bytes}), most
        bytes first."""
        found = []
        for row in self._connections.rows():
            for destination in row["destinations"]:
                if destination["host"] == host:
                    found.append({"programKey": row["programKey"], "name": row["program"],
                                  "user": row["user"], "verdict": destination["verdict"],
                                  "destination": destination["text"], "bytes":
                                  destination["bytesIn"] + destination["bytesOut"]})  # fmt: skip
        return sorted(found, key=lambda f: -f["bytes"])

    @Slot(str)
    def loadHost(self, host: str) -> None:
        """Fill `hostFlows` with the latest flows to `host` (by name or address)."""
        scope = {"all_users": True} if self._connections.allUsers else {}
        query = to_dbus_options({"host": host, "limit": HOST_FLOWS, **scope})
        self._client.call(
            "QueryHistory", "a{sv}", (query,),
            lambda page: self._host_flows.sync([flow_row(f) for f in page["flows"]]),
            lambda _error: self._host_flows.sync([]),
        )  # fmt: skip
