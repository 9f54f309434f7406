"""Benchmark: the history queries the app and netwardenctl make, on a busy machine's month.

Builds a history database of ROWS flows from PROGRAMS programs to HOSTS hosts over 30
days (each flow with a byte sample, written through `HistoryDb.write` in batches as the
helper does, then compacted as the hourly job does), and times every query the UI makes
(median of REPEAT runs after a warm-up). Side by side, the baseline: the same answer
computed naively from the flows table, without the rollups.

    sudo make bench            (or: tools/devenv run -- python3 bench/history_queries.py)
    python3 bench/history_queries.py --rows 100000    (a quicker run)
"""

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from netwarden_helper.records.flows import BytesSample, FlowRecord, Program
from netwarden_helper.records.history_db import HistoryDb, HistoryFilter

DAY = 86400
REPEAT = 5


def build(db: HistoryDb, rows: int, programs: int, hosts: int, now: float) -> float:
    """Fill `db`; returns the write rate in flows per second."""
    chance = random.Random(1)
    apps = [Program(f"/usr/bin/app{i}", f"{i:064x}", "", "", 1000 + i % 3) for i in range(programs)]
    names = [f"host{i}.example.org" for i in range(hosts)]
    start = now - 30 * DAY
    step = 30 * DAY / rows
    batch, elapsed = 5000, 0.0
    for first in range(1, rows + 1, batch):
        flows, samples = [], []
        for flow_id in range(first, min(first + batch, rows + 1)):
            when = start + flow_id * step
            app = apps[int(chance.paretovariate(1.2)) % programs]
            host = names[int(chance.paretovariate(1.1)) % hosts]
            verdict = "allow" if chance.random() < 0.95 else "deny"
            flows.append(FlowRecord(flow_id, when, app, "192.0.2.2", host, 443, "tcp", verdict,
                                    "rule", 1))  # fmt: skip
            if verdict == "allow":
                samples.append(BytesSample(flow_id, app, host, when + 1,
                                           chance.randrange(500, 5000),
                                           chance.randrange(1000, 2_000_000)))  # fmt: skip
        began = time.perf_counter()
        db.write(flows, samples)
        elapsed += time.perf_counter() - began
    db.maintain(now, retention_days=31)
    return rows / elapsed


def timed(query: Callable[[], Any]) -> float:
    """Median milliseconds of `query()`."""
    query()
    runs = []
    for _ in range(REPEAT):
        began = time.perf_counter()
        query()
        runs.append((time.perf_counter() - began) * 1000)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--programs", type=int, default=100)
    parser.add_argument("--hosts", type=int, default=5000)
    args = parser.parse_args()
    now = float(int(time.time()) // 3600 * 3600)
    with tempfile.TemporaryDirectory() as folder:
        db = HistoryDb(Path(folder))
        print(f"building {args.rows:,} flows, {args.programs} programs, {args.hosts:,} hosts "
              "over 30 days ...", flush=True)  # fmt: skip
        rate = build(db, args.rows, args.programs, args.hosts, now)
        size = sum(p.stat().st_size for p in Path(folder).iterdir()) / 1e6
        print(f"written at {rate:,.0f} flows/s (with their byte samples); {size:.0f} MB\n")
        raw = db._db  # the baseline reads the same file without the rollups
        app, host = "/usr/bin/app7", "host3.example.org"
        month, week, day, hour = now - 30 * DAY, now - 7 * DAY, now - DAY, now - 3600

        def naive_series(since: float, bucket: int, exe: str = "") -> list:
            program = "AND program IN (SELECT id FROM programs WHERE exe = ?)" if exe else ""
            values = [bucket, bucket, since, now] + ([exe] if exe else [])
            return raw.execute(
                f"SELECT CAST(time AS INT) / ? * ? AS b, sum(bytes_out), sum(bytes_in) "
                f"FROM flows WHERE time >= ? AND time < ? {program} GROUP BY b", values
            ).fetchall()  # fmt: skip

        def naive_top(since: float, column: str) -> list:
            return raw.execute(
                f"SELECT {column}, sum(bytes_out + bytes_in) AS b FROM flows "
                f"WHERE time >= ? GROUP BY {column} ORDER BY b DESC LIMIT 10", (since,)
            ).fetchall()  # fmt: skip

        cases = [
            ("history: newest page (100 rows)", lambda: db.flows(HistoryFilter(), 0, 100),
             lambda: raw.execute("SELECT * FROM flows ORDER BY time DESC LIMIT 100").fetchall()),
            ("history: one program, newest page", lambda: db.flows(HistoryFilter(exe=app)),
             lambda: raw.execute("SELECT * FROM flows WHERE program = (SELECT id FROM programs "
                                 "WHERE exe = ?) ORDER BY time DESC LIMIT 100", (app,)).fetchall()),
            ("history: one host, newest page", lambda: db.flows(HistoryFilter(host=host)),
             lambda: raw.execute("SELECT * FROM flows WHERE host = ? ORDER BY time DESC "
                                 "LIMIT 100", (host,)).fetchall()),
            ("history: page at offset 10,000", lambda: db.flows(HistoryFilter(), 10_000, 100),
             lambda: raw.execute("SELECT * FROM flows ORDER BY time DESC LIMIT 100 "
                                 "OFFSET 10000").fetchall()),
            ("series: last hour, per minute, all", lambda: db.series(hour, now, 60),
             lambda: naive_series(hour, 60)),
            ("series: last day, per minute, all", lambda: db.series(day, now, 60),
             lambda: naive_series(day, 60)),
            ("series: last week, per hour, one program", lambda: db.series(week, now, 3600, app),
             lambda: naive_series(week, 3600, app)),
            ("series: last month, per day, all", lambda: db.series(month, now, DAY),
             lambda: naive_series(month, DAY)),
            ("top programs: last day", lambda: db.top_programs(day, now, 10),
             lambda: naive_top(day, "program")),
            ("top programs: last month", lambda: db.top_programs(month, now, 10),
             lambda: naive_top(month, "program")),
            ("top hosts: last month", lambda: db.top_hosts(month, now, 10),
             lambda: naive_top(month, "host")),
        ]  # fmt: skip
        # One user's view (what a caller without all_users gets), beside everyone's.
        user = 1000
        own_cases = [
            ("history: one user's newest page", lambda: db.flows(HistoryFilter(uid=user)),
             lambda: db.flows(HistoryFilter())),
            ("series: last day, per minute, one user's", lambda: db.series(day, now, 60, uid=user),
             lambda: db.series(day, now, 60)),
            ("top programs: last month, one user's",
             lambda: db.top_programs(month, now, 10, user),
             lambda: db.top_programs(month, now, 10)),
            ("top hosts: last day, one user's", lambda: db.top_hosts(day, now, 10, user),
             lambda: db.top_hosts(day, now, 10)),
            ("top hosts: last month, one user's", lambda: db.top_hosts(month, now, 10, user),
             lambda: db.top_hosts(month, now, 10)),
        ]  # fmt: skip
        print(f"{'query':44} {'Netwarden':>11} {'naive scan':>11} {'ratio':>7}")
        for name, query, baseline in cases:
            ours, naive = timed(query), timed(baseline)
            print(f"{name:44} {ours:8.2f} ms {naive:8.2f} ms {naive / ours:6.1f}x", flush=True)
        print(f"\n{'one user':44} {'one user':>11} {'everyone':>11} {'ratio':>7}")
        for name, query, everyone in own_cases:
            ours, all_users = timed(query), timed(everyone)
            print(f"{name:44} {ours:8.2f} ms {all_users:8.2f} ms {all_users / ours:6.1f}x",
                  flush=True)  # fmt: skip
        db.close()


if __name__ == "__main__":
    main()
