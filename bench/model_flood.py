"""Benchmark: the Network Monitor under a flood of live connections (issue 7).

Loads the app's real main window (Kirigami, offscreen, org.kde.desktop style) on the
Network Monitor page with the real `ConnectionsModel`. The helper is replaced at the
`HelperClient` boundary only: `FloodClient` hands the model's own handlers the
ConnectionEvent and TrafficSample signals and answers ListConnections (every
`REFRESH_MS`, as the model asks) with the flows "open" so far, their byte counts growing.
The flood: one ConnectionEvent per new program, `--batch` of them every 10 ms (as D-Bus
delivers a burst in one loop turn), until `--rows` programs are listed; then `--steady`
seconds at that size with a TrafficSample a second for 1,000 programs.

Measured in each phase: frame interval (the window is asked for a frame every 16 ms, as
a running animation does; time between `frameSwapped`), event latency (how late a 10 ms
QTimer fires) and resident memory. Baselines in the same run: the idle window with 0
rows, and a naive model that resets itself (beginResetModel/endResetModel) on every
update instead of changing only the rows that changed. Then the time of one update of
10,000 rows.

    sudo make bench            (or: tools/devenv run -- python3 bench/model_flood.py)
    python3 bench/model_flood.py --rows 2000 --steady 2    (a quicker run)
"""

import argparse
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_QUICK_CONTROLS_STYLE", "org.kde.desktop")
os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="netwarden-xdg-"))

from PySide6.QtCore import QElapsedTimer, QEventLoop, QObject, Qt, QTimer
from PySide6.QtQml import QQmlApplicationEngine
from PySide6.QtWidgets import QApplication

from netwarden.client.helper_state import HelperState
from netwarden.main import load_main_window
from netwarden.models.connections import ConnectionsModel, busiest_first

TICK_MS = 10  # the probe timer, and the flood's delivery interval
FRAME_MS = 16  # how often the window is asked for a frame
SAMPLE_PROGRAMS = 1000


class FloodClient:
    """Stands in for `HelperClient`: signals go straight to the registered handlers (after
    `to_python`, as the real one does), calls are answered on the next loop turn."""

    def __init__(self) -> None:
        self.handlers: dict[str, list[Callable[..., None]]] = defaultdict(list)
        self.open_flows: list[dict] = []
        self.chance = random.Random(7)

    def watch_helper(self, on_change: Callable[[bool], None]) -> None:
        QTimer.singleShot(0, lambda: on_change(True))

    def on_signal(self, name: str, handler: Callable[..., None]) -> None:
        self.handlers[name].append(handler)

    def emit(self, name: str, *values: object) -> None:
        for handler in self.handlers[name]:
            handler(*values)

    def call(
        self,
        method: str,
        _signature: str,
        _args: tuple,
        on_reply: Callable[..., None],
        _on_error: Callable[[Any], None],
    ) -> None:
        replies: dict[str, tuple] = {
            "GetStatus": ({"version": "bench", "started_at": 0},),
            "ListConnections": (self.listed(),),
            "QueryHistory": ({"flows": []},),
        }
        values = replies.get(method, ())
        QTimer.singleShot(0, lambda: on_reply(*values))

    def listed(self) -> list[dict]:
        """The open flows as ListConnections lists them; a tenth have moved more bytes."""
        for flow in self.chance.sample(self.open_flows, len(self.open_flows) // 10):
            flow["bytes_in"] += self.chance.randrange(1000, 100_000)
            flow["bytes_out"] += self.chance.randrange(100, 10_000)
        return [dict(flow) for flow in self.open_flows]

    def sample(self) -> dict:
        """A TrafficSample: current rates of `SAMPLE_PROGRAMS` programs."""
        chosen = self.chance.sample(self.open_flows, min(SAMPLE_PROGRAMS, len(self.open_flows)))
        return {"programs": [{"exe": f["exe"], "uid": f["uid"],
                              "bytes_out": self.chance.randrange(0, 50_000),
                              "bytes_in": self.chance.randrange(0, 500_000)}
                             for f in chosen]}  # fmt: skip


def flow(number: int) -> dict:
    """Flow `number`: the first connection of program `number`, as ConnectionEvent sends it."""
    return {
        "id": number,
        "exe": f"/usr/bin/program{number}",
        "uid": 1000,
        "sha256": "",
        "unit": "",
        "flatpak": "",
        "destination": f"198.51.{number // 250 % 256}.{number % 250 + 1}",
        "host": f"host{number}.example.org",
        "port": 443,
        "protocol": "tcp",
        "verdict": "deny" if number % 20 == 0 else "allow",
        "bytes_in": 1000 + number * 7 % 5000,
        "bytes_out": 200 + number * 3 % 900,
    }


class NaiveConnectionsModel(ConnectionsModel):
    """The baseline: every update resets the whole model (its rows sorted again)."""

    def _apply_pending(self, budget_ms: float | None = None) -> None:
        for group, rebuild in self._outdated.items():
            row = self._row_of(group, rebuild)
            if row is None:
                self._shown.pop(group, None)
            else:
                self._shown[group] = row
        self._outdated.clear()
        before = len(self._rows)
        self.beginResetModel()
        self._rows = sorted(self._shown.values(), key=busiest_first)
        self._keys = [busiest_first(row) for row in self._rows]
        self.endResetModel()
        self._settle(before)


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class Probe(QObject):
    """Frame intervals and timer lateness (ms), while recording."""

    def __init__(self, window: Any) -> None:
        super().__init__()
        self.window = window
        self.frames: list[float] = []
        self.late: list[float] = []
        self._last_frame = self._last_tick = 0.0
        self._clock = QElapsedTimer()
        self._clock.start()
        self._tick = QTimer(self)
        self._tick.setTimerType(Qt.TimerType.PreciseTimer)
        self._tick.setInterval(TICK_MS)
        self._tick.timeout.connect(self._ticked)
        self._animate = QTimer(self)
        self._animate.setTimerType(Qt.TimerType.PreciseTimer)
        self._animate.setInterval(FRAME_MS)
        self._animate.timeout.connect(window.update)
        window.frameSwapped.connect(self._swapped, Qt.ConnectionType.DirectConnection)

    def now(self) -> float:
        return self._clock.nsecsElapsed() / 1e6

    def start(self) -> None:
        self.frames, self.late = [], []
        self._last_frame = self._last_tick = self.now()
        self._tick.start()
        self._animate.start()

    def stop(self) -> None:
        self._tick.stop()
        self._animate.stop()

    def _ticked(self) -> None:
        now = self.now()
        self.late.append(max(0.0, now - self._last_tick - TICK_MS))
        self._last_tick = now

    def _swapped(self) -> None:
        now = self.now()
        self.frames.append(now - self._last_frame)
        self._last_frame = now


def run_for(seconds: float, until: Callable[[], bool] | None = None) -> float:
    """Run the event loop for `seconds` (or until `until()`); returns the seconds run."""
    began = time.perf_counter()
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    if until is not None:
        check = QTimer()
        check.setInterval(5)
        check.timeout.connect(lambda: until() and loop.quit())
        check.start()
    loop.exec()
    return time.perf_counter() - began


class Bench:
    """One window per model kind; the phases run on it."""

    def __init__(self, engine: QQmlApplicationEngine, model_class: type[ConnectionsModel]) -> None:
        self.client = FloodClient()
        self.helper = HelperState(self.client, parent=engine)
        self.model = model_class(self.client, engine)
        self.window = load_main_window(engine, self.helper, {"connections": self.model})
        self.window.resize(1000, 800)
        self.window.show()
        run_for(10, until=lambda: self.model.active and self.helper.state == "running")
        run_for(1)
        self.probe = Probe(self.window)

    def measure(self, seconds: float) -> dict:
        self.probe.start()
        run_for(seconds)
        self.probe.stop()
        return self.result(seconds)

    def flood(self, rows: int, batch: int, limit: float) -> dict:
        """ConnectionEvents, `batch` per tick, until `rows` rows (or `limit` seconds)."""
        sent = 0

        def deliver() -> None:
            nonlocal sent
            for number in range(sent, min(rows, sent + batch)):
                new = flow(number)
                self.client.open_flows.append(new)
                self.client.emit("ConnectionEvent", dict(new))
            sent = min(rows, sent + batch)
            if sent >= rows:
                feeder.stop()

        feeder = QTimer()
        feeder.setInterval(TICK_MS)
        feeder.timeout.connect(deliver)
        self.probe.start()
        feeder.start()
        took = run_for(limit, until=lambda: self.model.count >= rows)
        feeder.stop()
        self.probe.stop()
        return self.result(took, sent=sent)

    def steady(self, seconds: float) -> dict:
        """The rows as they are, a TrafficSample a second (and the model's own refresh)."""
        sampler = QTimer()
        sampler.setInterval(1000)
        sampler.timeout.connect(lambda: self.client.emit("TrafficSample", self.client.sample()))
        sampler.start()
        result = self.measure(seconds)
        sampler.stop()
        return result

    def result(self, seconds: float, **extra: object) -> dict:
        return {"seconds": seconds, "rows": self.model.count, "rss": rss_mib(),
                "frames": self.probe.frames, "late": self.probe.late, **extra}  # fmt: skip

    def close(self) -> None:
        self.model.stopWatching()
        self.window.close()


def timed(action: Callable[[], object], repeat: int = 3) -> float:
    """Best milliseconds of `action()` over `repeat` runs."""
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        action()
        best = min(best, (time.perf_counter() - began) * 1000)
    return best


def sync_times(bench: Bench, rows: int) -> list[tuple[str, float]]:
    """Milliseconds of one update of `rows` rows (regroup + sync), the window showing it."""
    model, flows = bench.model, [flow(n) for n in range(rows)]
    grown = [dict(f, bytes_in=f["bytes_in"] + (n % 10 == 0) * n * 13) for n, f in enumerate(flows)]
    rates = {"programs": [{"exe": f["exe"], "uid": f["uid"], "bytes_in": n % 977,
                           "bytes_out": n % 97} for n, f in enumerate(flows)]}  # fmt: skip

    def listed(flows: list[dict]) -> None:
        model._listed(flows)
        model._regroup()  # now, not on the next loop turn
        model._apply_pending(None)  # all of it, not a slice a turn

    def sampled() -> None:
        model._sample(rates)
        model._regroup()
        model._apply_pending(None)

    figures = []
    for _ in range(3):
        listed([])
        run_for(0.2)
        figures.append(timed(lambda: listed(flows), 1))
    run_for(0.2)
    return [
        (f"ListConnections reply, 0 -> {rows:,} rows", min(figures)),
        (f"the same {rows:,} flows again (no change)", timed(lambda: listed(flows))),
        ("a tenth of the rows with more bytes (moves)",
         timed(lambda: (listed(grown), listed(flows)), 2) / 2),
        (f"TrafficSample with rates for all {rows:,}", timed(sampled, 1)),
        (f"RowModel.sync alone, {rows:,} unchanged rows", timed(lambda: model.sync(model.rows()))),
    ]  # fmt: skip


def row(name: str, result: dict, base: dict) -> str:
    def ratio(key: str, share: float) -> str:
        value, ref = percentile(result[key], share), percentile(base[key], share)
        return f"{value / ref:.1f}x" if ref > 0 else "-"

    cells = [name, f"{result['rows']:,}", f"{result['seconds']:.1f} s", f"{len(result['frames'])}"]
    for key in ("frames", "late"):
        cells += [f"{percentile(result[key], s):.1f}" for s in (0.5, 0.99, 1.0)]
    cells += [ratio("frames", 0.99), ratio("late", 0.99), f"{result['rss']:.0f} MiB"]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=20, help="events per 10 ms")
    parser.add_argument("--steady", type=float, default=5.0, help="seconds at full size")
    parser.add_argument("--idle", type=float, default=3.0, help="seconds of the idle baseline")
    parser.add_argument("--limit", type=float, default=60.0, help="longest a flood may take")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive baseline")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the flood, steady")
    args = parser.parse_args()

    app = QApplication(sys.argv[:1])
    engine = QQmlApplicationEngine()
    results: list[tuple[str, dict]] = []

    bench = Bench(engine, ConnectionsModel)
    idle = bench.measure(args.idle)
    results.append(("idle, 0 rows", idle))
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    results.append(("flood (incremental)", bench.flood(args.rows, args.batch, args.limit)))
    results.append((f"steady, {args.rows:,} rows (incremental)", bench.steady(args.steady)))
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    syncs = sync_times(bench, args.rows)
    bench.close()

    if not args.no_naive:
        naive = Bench(engine, NaiveConnectionsModel)
        results.append(("flood (naive reset)", naive.flood(args.rows, args.batch, args.limit)))
        results.append((f"steady, {args.rows:,} rows (naive reset)", naive.steady(args.steady)))
        naive_syncs = dict(sync_times(naive, args.rows))
        naive.close()
    del app  # keeps the QApplication alive until here

    print(f"\nflood: {args.rows:,} programs, {args.batch} ConnectionEvents per {TICK_MS} ms; "
          f"frame requested every {FRAME_MS} ms; probe timer every {TICK_MS} ms")  # fmt: skip
    print("\n| phase | rows | took | frames | frame p50 | p99 | max | timer late p50 | p99 | max "
          "| frame p99 ratio | late p99 ratio | RSS |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
          "| ---: |")  # fmt: skip
    for name, result in results:
        print(row(name, result, idle))
    print("\n(milliseconds; ratios to the idle window)")
    print("\n| one update | incremental | naive reset | ratio |")
    print("| --- | ---: | ---: | ---: |")
    for name, ms in syncs:
        other = naive_syncs.get(name) if not args.no_naive else None
        cells = [name, f"{ms:.1f} ms"]
        cells += [f"{other:.1f} ms", f"{other / ms:.1f}x"] if other else ["", ""]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
