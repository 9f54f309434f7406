"""`WorldMap`: where in the world the Network Monitor's hosts are, for its world view.

Made from the `ConnectionsModel`'s rows like the connection map (the live connections,
or the period picked on the traffic diagram; only those the Monitor's search box leaves,
`filterText`): each destination's address is located by
the helper (LocateAddresses: its own offline database, nothing leaves the machine; the
answers are kept until the database changes) and its bytes are added to its place: a
city when the database has coordinates, else its country (a dot at the country's centre
from the outline). Addresses of this network, those the database does not know, and
countries the outline has no point for are kept apart (`apart`). Dots are sized by
bytes on a square-root scale; arcs go from "here", the place of this computer's time zone
(tzdata's zone1970.tab), when known.

The outline is Natural Earth's 1:110m countries, made into SVG path data by
tools/world_outline.py (`world-110m.json`, with a point without an outline for the
countries too small for it), in an equirectangular projection in degrees: x = longitude +
180, y = 84 − latitude.
"""

import functools
import json
import math
from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import Property, QObject, QTimeZone, Slot
from PySide6.QtQml import QmlElement, QmlUncreatable

from netwarden.client.helper_client import HelperCallError, HelperClient
from netwarden.models.coalesced import Coalesced
from netwarden.models.connection_map import matching
from netwarden.models.connections import ConnectionsModel
from netwarden.models.locations import LocationDatabase
from netwarden.models.row_model import RowModel
from netwarden.models.searched import SearchedMap

QML_IMPORT_NAME = "Netwarden.Backend"
QML_IMPORT_MAJOR_VERSION = 1

OUTLINE = Path(__file__).with_name("world-110m.json")
ZONES = Path("/usr/share/zoneinfo/zone1970.tab")
UPDATE_MS = 200
MAX_ASK = 1024  # addresses in one LocateAddresses call
MAX_KNOWN = 50_000  # located addresses kept
LOCAL, UNKNOWN = "local", "unknown"

Point = tuple[float, float]


@QmlElement
@QmlUncreatable("made by WorldMap")
class WorldPlaceModel(RowModel):
    """Places with traffic: a dot at (`mapX`, `mapY`) on the map, `size` from 0 to 1."""

    ROLES = ("key", "kind", "name", "countryCode", "mapX", "mapY", "size", "bytes", "attempts",
             "denied", "hosts")  # fmt: skip
    KEY = "key"


def projected(longitude: float, latitude: float, top: float = 84.0, bottom: float = -60.0) -> Point:
    """A point on the map, in degrees from its top left corner."""
    return round(longitude + 180, 2), round(top - max(bottom, min(top, latitude)), 2)


def zone_point(zone: str, table: str) -> Point | None:
    """(longitude, latitude) of time zone `zone` in a zone1970.tab's text (None if absent)."""
    for line in table.splitlines():
        fields = line.split("\t")
        if len(fields) >= 3 and fields[2] == zone:
            return _iso6709(fields[1])
    return None


def _iso6709(text: str) -> Point | None:
    """ "+4230+00131" (±DDMM[SS]±DDDMM[SS]) as (longitude, latitude)."""
    split = max(text.rfind("+"), text.rfind("-"))
    if split <= 0:
        return None
    try:
        latitude, longitude = (_degrees(text[:split], 2), _degrees(text[split:], 3))
    except ValueError:
        return None
    return longitude, latitude


def _degrees(text: str, width: int) -> float:
    sign, digits = (-1 if text[0] == "-" else 1), text[1:]
    whole, minutes, seconds = digits[:width], digits[width : width + 2], digits[width + 2 :]
    return sign * (int(whole) + int(minutes) / 60 + (int(seconds) if seconds else 0) / 3600)


def place_of(located: dict, centres: dict[str, Point]) -> tuple[str, str, str, Point | None]:
    """(key, kind, name, point) of a LocateAddresses answer: a city, a country (at its
    centre on the outline; no point when the outline has none), or this network /
    unknown (no point)."""
    kind, code = located.get("kind", UNKNOWN), located.get("country_code", "")
    country = located.get("country", code)
    if kind == "city" and "latitude" in located:
        city = located.get("city", "")
        name = f"{city}, {country}" if city and country else city or country or "?"
        point = projected(located["longitude"], located["latitude"])
        return f"city:{code}:{name}:{point}", "city", name, point
    if kind in ("city", "country") and code:
        return f"country:{code}", "country", country, centres.get(code)
    if kind == LOCAL:
        return LOCAL, LOCAL, "This network", None
    return UNKNOWN, UNKNOWN, "Not in the location database", None


def world_layout(
    rows: Iterable[dict], located: dict[str, dict], centres: dict[str, Point], filter_text: str = ""
) -> tuple[list[dict], list[dict]]:
    """The places on the map (most bytes first) and those kept apart (this network, not
    in the database, countries without a point) of `rows` (ConnectionsModel rows) that
    match `filter_text` (`matching`), from the located addresses."""
    places: dict[str, dict] = {}
    hosts: dict[str, dict[str, int]] = {}
    for _row, destination in matching(rows, filter_text):
        answer = located.get(destination.get("address", ""))
        if answer is None:
            continue  # not located yet
        key, kind, name, point = place_of(answer, centres)
        x, y = point if point is not None else (-1.0, -1.0)
        place = places.setdefault(key, {
            "key": key, "kind": kind, "name": name, "mapX": x, "mapY": y, "size": 0.0,
            "countryCode": answer.get("country_code", ""), "bytes": 0, "attempts": 0,
            "denied": 0})  # fmt: skip
        count = destination["bytesIn"] + destination["bytesOut"]
        place["bytes"] += count
        place["attempts"] += destination["count"]
        place["denied"] += destination["count"] if destination["verdict"] == "deny" else 0
        by_host = hosts.setdefault(key, {})
        by_host[destination["host"]] = by_host.get(destination["host"], 0) + count
    for key, place in places.items():
        place["hosts"] = sorted(hosts[key], key=lambda h: (-hosts[key][h], h))
    on_map = [p for p in places.values() if p["mapX"] >= 0]
    largest = max((p["bytes"] for p in on_map), default=0)
    for place in on_map:
        place["size"] = round(math.sqrt(place["bytes"] / largest), 3) if largest else 0.0
    on_map.sort(key=lambda p: (-p["bytes"], p["name"]))
    pointless = [p for k, p in places.items() if p["mapX"] < 0 and k not in (LOCAL, UNKNOWN)]
    apart = [places[k] for k in (LOCAL, UNKNOWN) if k in places]
    return on_map, apart + sorted(pointless, key=lambda p: p["name"])


def arcs_path(here: Point | None, places: list[dict]) -> str:
    """SVG path data of an arc from `here` to each place (bowed to the north), in the
    places' key order: the same places make the same path, whatever their bytes (a
    changed path is drawn anew)."""
    if here is None:
        return ""
    hx, hy = here
    steps = []
    for place in sorted(places, key=lambda p: p["key"]):
        x, y = place["mapX"], place["mapY"]
        lift = math.hypot(x - hx, y - hy) * 0.3
        steps.append(f"M{hx} {hy}Q{(hx + x) / 2:.2f} {min(hy, y) - lift:.2f} {x} {y}")
    return "".join(steps)


def load_outline(path: Path = OUTLINE) -> tuple[str, dict[str, Point], float, float]:
    """The outline's path data, each country's centre by code, and the map's size."""
    outline = json.loads(path.read_text())
    countries, top, bottom = outline["countries"], outline["top"], outline["bottom"]
    centres = {c["code"]: projected(c["longitude"], c["latitude"], top, bottom)
               for c in countries if c["code"]}  # fmt: skip
    return "".join(c["path"] for c in countries), centres, 360.0, top - bottom


def here_point(zones: Path = ZONES) -> Point | None:
    """Where this computer is, as far as its time zone tells (None when it does not)."""
    try:
        table = zones.read_text()
    except OSError:
        return None
    zone = bytes(QTimeZone.systemTimeZoneId().data()).decode()
    found = zone_point(zone, table)
    return projected(*found) if found else None


@QmlElement
@QmlUncreatable("WorldMap is made by the app")
class WorldMap(SearchedMap):
    """The places of `connections`' destinations: `places`, `apart`, `arcs`, on `outline`."""

    def __init__(
        self,
        client: HelperClient,
        connections: ConnectionsModel,
        database: LocationDatabase,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._client = client
        self._connections = connections
        self._database = database
        self._outline, self._centres, self._width, self._height = load_outline()
        self._here = here_point()
        self._located: dict[str, dict] = {}
        self._asking: set[str] = set()
        self._generation = 0  # of the database the answers come from
        self._places = WorldPlaceModel(self)
        self._apart = WorldPlaceModel(self)
        self._arcs = ""
        self._active = False
        self._pending = Coalesced(self, UPDATE_MS, self.rebuild, connections)
        self._database_seen = (database.loaded, database.summary)
        database.changed.connect(self._database_changed)

    @Property(QObject, constant=True)
    def places(self) -> WorldPlaceModel:
        return self._places

    @Property(QObject, constant=True)
    def apart(self) -> WorldPlaceModel:
        """This network's hosts, and those the database does not place."""
        return self._apart

    @Property(str, constant=True)
    def outline(self) -> str:
        """The countries' outlines as SVG path data, in map units."""
        return self._outline

    @Property(float, constant=True)
    def mapWidth(self) -> float:
        return self._width

    @Property(float, constant=True)
    def mapHeight(self) -> float:
        return self._height

    @Property(bool, constant=True)
    def hereKnown(self) -> bool:
        return self._here is not None

    @Property(float, constant=True)
    def hereX(self) -> float:
        return self._here[0] if self._here else -1.0

    @Property(float, constant=True)
    def hereY(self) -> float:
        return self._here[1] if self._here else -1.0

    @Property(str, notify=SearchedMap.changed)
    def arcs(self) -> str:
        """An arc from here to each place, as SVG path data in map units."""
        return self._arcs

    def _get_active(self) -> bool:
        """Whether a view shows the map: only then are addresses located and placed."""
        return self._active

    def _set_active(self, active: bool) -> None:
        if active != self._active:
            self._active = active
            self.changed.emit()
            if active:
                self.rebuild()

    active = Property(bool, _get_active, _set_active, notify=SearchedMap.changed)

    @Slot()
    def rebuild(self) -> None:
        """Place the connections' destinations again (asking for the new addresses)."""
        self._pending.stop()
        if not self._active:
            return
        rows = self._connections.rows()
        self._locate({d["address"] for row in rows for d in row["destinations"]} - {""})
        places, apart = world_layout(rows, self._located, self._centres, self._filter)
        self._places.sync(places)
        self._apart.sync(apart)
        arcs = arcs_path(self._here, places)
        if arcs != self._arcs:
            self._arcs = arcs
            self.changed.emit()

    def _locate(self, addresses: set[str]) -> None:
        missing = sorted(addresses - self._located.keys() - self._asking)
        if len(self._located) + len(missing) > MAX_KNOWN:
            self._located.clear()
        for start in range(0, len(missing), MAX_ASK):
            chunk = missing[start : start + MAX_ASK]
            self._asking.update(chunk)
            self._client.call(
                "LocateAddresses", "as", (chunk,),
                functools.partial(self._located_now, self._generation, chunk),
                functools.partial(self._not_located, chunk),
            )  # fmt: skip

    def _located_now(self, generation: int, chunk: list[str], found: list[dict]) -> None:
        """Keep the answers (in the order asked) unless the database changed meanwhile;
        either way place again: what an older database answered is asked anew."""
        self._asking.difference_update(chunk)
        if generation == self._generation:
            self._located.update(zip(chunk, found, strict=False))
        self._pending.schedule()

    def _not_located(self, chunk: list[str], _error: HelperCallError) -> None:
        self._asking.difference_update(chunk)  # asked again at the next rebuild

    def _database_changed(self) -> None:
        seen = (self._database.loaded, self._database.summary)
        if seen == self._database_seen:
            return
        self._database_seen = seen
        self._generation += 1
        self._located.clear()
        self._pending.schedule()
