"""Benchmark: the Network Monitor's connection map and world map with 50 programs and
500 hosts, and the period queries of the traffic diagram on a month of history (issue 20).

Frames: the app's real main window (Kirigami, offscreen) on the Network Monitor with the
real `ConnectionsModel`, `ConnectionMap` and `WorldMap`; the helper is model_flood's
`FloodClient`, its ListConnections answering with PROGRAMS × HOSTS_EACH open flows to
HOSTS hosts (each its own address) whose bytes grow at each refresh (every 2 s: the maps
are laid out again), its LocateAddresses answering from a real MMDB file (written with
tests/fixtures/mmdb.py: 60 cities and 120 countries) through the helper's own code
(`geo.places.located`). The window is asked for a frame every 16 ms; frame intervals
(between `frameSwapped`) are measured for `--seconds` on each map, beside the same data
as the list (the baseline, same run).

Queries: a month of history (`--rows` flows, built as bench/history_queries.py does); the
QueryHistory pages a picked period reads (`PERIOD_LIMIT` flows at most) for a 5-minute,
1-hour, 1-day and 1-week period in the middle of the month, and the TrafficSeries of each
diagram range, beside the newest page of the whole history (the baseline).

    tools/devenv run -- python3 bench/connection_map.py
"""

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.fixtures
from history_queries import DAY, build, timed
from model_flood import FloodClient, Probe, percentile, run_for
from PySide6.QtCore import QMetaObject, QObject, QTimer
from PySide6.QtQml import QQmlApplicationEngine
from PySide6.QtWidgets import QApplication

from netwarden.client.helper_state import HelperState
from netwarden.main import load_main_window
from netwarden.models.connection_map import ConnectionMap
from netwarden.models.connections import PAGE, PERIOD_LIMIT, ConnectionsModel
from netwarden.models.locations import LocationDatabase
from netwarden.models.traffic import RANGES
from netwarden.models.world_map import WorldMap
from netwarden_helper.geo import database, places
from netwarden_helper.records.history_db import HistoryDb, HistoryFilter
from tests.fixtures import mmdb

PROGRAMS, HOSTS, HOSTS_EACH = 50, 500, 20


def address(host: int) -> str:
    """Host `host`'s address: one of 180 /8 networks (127.0.0.0/8 among them: this
    network), one of 3 /16s in it."""
    return f"{20 + host % 180}.{host // 180 + 1}.0.1"


def location_file(folder: Path) -> Path:
    """An MMDB placing each /8 of `address`: the first 60 in cities, the rest in
    countries (codes the outline has)."""
    chance = random.Random(5)
    codes = ["DE", "FR", "US", "BR", "JP", "AU", "IN", "ZA", "CA", "RU", "CN", "MX"]
    networks = {}
    for n in range(180):
        code = codes[n % len(codes)]
        networks[f"{20 + n}.0.0.0/8"] = (
            mmdb.city(code, code, f"City {n}", chance.uniform(-40, 65), chance.uniform(-170, 175))
            if n < 60 else mmdb.country(code, code))  # fmt: skip
    path = folder / "locations.mmdb"
    path.write_bytes(mmdb.build(networks))
    return path


class MapClient(FloodClient):
    """FloodClient whose open flows are PROGRAMS programs' to HOSTS hosts, 5 % denied,
    located from `locations` (an MMDB file)."""

    def __init__(self, locations: Path) -> None:
        super().__init__()
        self.caller_uid = lambda: 1000
        self.reader, _about = database.opened(locations)
        chance = random.Random(3)
        for program in range(PROGRAMS):
            for n in range(HOSTS_EACH):
                host = (program * 7 + n * 13 + chance.randrange(HOSTS)) % HOSTS
                self.open_flows.append({
                    "id": len(self.open_flows) + 1, "exe": f"/usr/bin/app{program}", "uid": 1000,
                    "host": f"host{host}.example.org", "destination": address(host), "port": 443,
                    "protocol": "tcp", "verdict": "deny" if chance.random() < 0.05 else "allow",
                    "bytes_in": 0, "bytes_out": 0})  # fmt: skip

    def listed(self) -> list[dict]:
        for flow in self.open_flows:
            if flow["verdict"] == "allow":
                flow["bytes_in"] += self.chance.randrange(1000, 5_000_000)
        return [dict(flow) for flow in self.open_flows]

    def call(
        self, method: str, signature: str, args: tuple, on_reply: Callable[..., None],
        on_error: Callable[[Any], None],
    ) -> None:  # fmt: skip
        if method == "LocateAddresses":
            found = places.located(args[0], self.reader.get)
            QTimer.singleShot(0, lambda: on_reply(found))
        elif method == "GetLocationDatabase":
            state = {"enabled": True, "loaded": True, "database_type": "bench", "built_at": 0.0}
            QTimer.singleShot(0, lambda: on_reply(state))
        else:
            super().call(method, signature, args, on_reply, on_error)


def frames(seconds: float, locations: Path) -> dict[str, list[float]]:
    """Frame intervals (ms) on the list, then on the map, then on the world map."""
    app = QApplication.instance() or QApplication([])
    client = MapClient(locations)
    connections = ConnectionsModel(client, app)
    database = LocationDatabase(client, app)
    models = {"connections": connections, "connectionMap": ConnectionMap(client, connections, app),
              "worldMap": WorldMap(client, connections, database, app),
              "locationDatabase": database}  # fmt: skip
    engine = QQmlApplicationEngine()
    window = load_main_window(engine, HelperState(client), models)
    window.show()
    run_for(10, lambda: connections.count == PROGRAMS)
    probe, found = Probe(window), {}
    for view in ("list", "map", "world"):
        if view != "list":
            action = window.findChild(QObject, f"monitor{view.title()}Action")
            QMetaObject.invokeMethod(action, "trigger")
        run_for(1)
        probe.start()
        run_for(seconds)
        probe.stop()
        found[view] = probe.frames
    hosts = models["connectionMap"].hosts
    print(
        f"map: {hosts.count} host nodes shown of {HOSTS} (the rest grouped: "
        f"{hosts.get(hosts.count - 1)['name']!r}), {models['connectionMap'].links.count} links"
    )
    world = models["worldMap"]
    apart = ", ".join(f"{p['name']}: {len(p['hosts'])} hosts" for p in world.apart.rows())
    print(f"world: {world.places.count} places on the map ({apart})")
    return found


def queries(rows: int) -> list[tuple[str, float, float]]:
    """(what, ms, baseline ms) of the diagram's queries on a month of `rows` flows."""
    now = float(int(time.time()) // 3600 * 3600)
    found = []
    with tempfile.TemporaryDirectory() as folder:
        db = HistoryDb(Path(folder))
        build(db, rows, 100, 5000, now)
        newest = timed(lambda: db.flows(HistoryFilter(), 0, PAGE))
        middle = now - 15 * DAY
        for name, span in (("5 min", 300), ("1 hour", 3600), ("1 day", DAY), ("1 week", 7 * DAY)):
            chosen = HistoryFilter(since=middle - span / 2, until=middle + span / 2)

            def period(chosen: HistoryFilter = chosen) -> None:
                for offset in range(0, PERIOD_LIMIT, PAGE):
                    if len(db.flows(chosen, offset, PAGE)) < PAGE:
                        return

            found.append((f"period's flows: {name}", timed(period), newest))
        for name, shown in RANGES.items():
            found.append((f"diagram series: {name}",
                           timed(lambda s=shown: db.series(now - s.span, now, s.query_bucket)),
                           newest))  # fmt: skip
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        found = frames(args.seconds, location_file(Path(folder)))
    print(f"\nframe interval (ms), {PROGRAMS} programs, {HOSTS} hosts, relaid every 2 s")
    print(f"{'view':<22}{'frames':>8}{'p50':>8}{'p99':>8}{'max':>8}")
    for view, label in (("list", "list (baseline)"), ("map", "map"), ("world", "world map")):
        values = found[view]
        cells = [f"{percentile(values, s):.1f}" for s in (0.5, 0.99)] + [f"{max(values):.1f}"]
        print(f"{label:<22}{len(values):>8}" + "".join(f"{c:>8}" for c in cells))
    print(f"\nqueries on a month of {args.rows:,} flows (median ms; baseline: newest page of "
          f"{PAGE})")  # fmt: skip
    for name, ms, base in queries(args.rows):
        print(f"{name:<36}{ms:>10.2f}{base:>10.2f}")


if __name__ == "__main__":
    main()
