"""Benchmark: verdict latency for a program with a cached allow rule while the helper
hashes a 500 MB binary that makes its first connection.

netwarden-helper as shipped runs in fresh namespaces (`host`, `peer`) on a private
system bus with polkitd (via bench/throughput.py). HASHES copies of a small real ELF
(nc.openbsd, padded with random bytes to SIZE_MB MB) sit in a temporary folder each,
each with a rule pinning it to its sha256; the helper has never hashed them. One client
process (bench/throughput.py's, allowed by a pinned rule whose hash is cached) connects
sequentially to connect_latency's server in `peer` for SECONDS; 2 s in, the copies
connect one after another (`nc -z`), and each first connection waits while the helper's
worker thread hashes its 500 MB (helper/hashing.py: off the packet loop). The client's
connects that started while some copy was being hashed are compared with its connects
outside those windows (the baseline, same run, same client and helper).

    tools/devenv run -- python3 bench/hashing_isolation.py [--size-mb N] [--hashes N]
"""

import argparse
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

from bench.connect_latency import PORT, Run, fresh_box, server
from bench.throughput import allow_rule, clients, counters, real_helper
from netwarden_helper.identity.hashing import sha256_of
from tests.fixtures.binaries import NC
from tests.fixtures.netns import Sandbox

MARGIN_NS = 50_000_000  # connects this close to a hashing window count as neither


def big_binaries(folder: Path, size: int, count: int) -> list[str]:
    """`count` copies of nc padded to `size` bytes, each in a folder of its own."""
    paths = [str(folder / f"copy{i}" / "nc-big") for i in range(count)]
    os.makedirs(os.path.dirname(paths[0]))
    shutil.copyfile(NC, paths[0])
    block = os.urandom(1 << 20)
    with open(paths[0], "ab") as file:
        while (left := size - file.tell()) > 0:
            file.write(block[:left])
    os.chmod(paths[0], 0o755)
    for path in paths[1:]:
        os.makedirs(os.path.dirname(path))
        shutil.copy(paths[0], path)
    return paths


def first_connects(box: Sandbox, paths: list[str]) -> list[tuple[int, int]]:
    """Each binary's first connection, one after another: (start, end) monotonic ns."""
    windows = []
    for path in paths:
        began = time.monotonic_ns()
        box.host.run(path, "-z", "-w", "30", box.peer_v4, str(PORT), timeout=60)
        windows.append((began, time.monotonic_ns()))
    return windows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=500, help="binary size, MB (500)")
    parser.add_argument("--hashes", type=int, default=4, help="binaries hashed (4)")
    parser.add_argument("--seconds", type=float, default=12.0, help="client run, s (12)")
    args = parser.parse_args()
    size = args.size_mb * 1_000_000
    print(f"{args.hashes} first connections of a {args.size_mb} MB binary during a "
          f"{args.seconds:g} s client run, {os.cpu_count()} cores\n", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        paths = big_binaries(Path(folder), size, args.hashes)
        digest = sha256_of(paths[0])
        with fresh_box() as box, server(box), real_helper(box) as (_, root, _pid):
            root.call("AddRule", allow_rule(box))
            for path in paths:
                root.call("AddRule", {"action": "allow", "exe": path, "sha256": digest,
                                      "uid": 0, "destination": box.peer_v4,
                                      "ports": str(PORT), "protocol": "tcp"})  # fmt: skip
            clients(box, 1, 1.0)  # warm-up: the client's interpreter is hashed and cached
            before = counters(root)
            results: list[dict] = []
            run = threading.Thread(target=lambda: results.extend(clients(box, 1, args.seconds)))
            run.start()
            time.sleep(1.5 + 2.0)  # the clients' common start, then 2 s of baseline
            windows = first_connects(box, paths)
            run.join()
            delta = counters(root) - before
    (result,) = results
    during, outside = [], []
    for began, latency in zip(result["starts"], result["latencies"], strict=True):
        if any(start <= began <= end for start, end in windows):
            during.append(latency)
        elif all(began < start - MARGIN_NS or began > end + MARGIN_NS for start, end in windows):
            outside.append(latency)
    base = Run("cached allow rule, no hashing (baseline)", outside, 0, 1.0)
    busy = Run(f"cached allow rule, while {args.size_mb} MB are hashed", during, 0, 1.0)
    hashed_ms = [(end - start) / 1e6 for start, end in windows]
    print("## Hashing isolation (ratios: to the baseline, same run)\n")
    print(f"{'connects of the client':46} {'count':>6} {'p50 µs':>8} {'p90 µs':>8} "
          f"{'p99 µs':>8} {'max µs':>8} {'p50':>6} {'p99':>6}")  # fmt: skip
    for row in (base, busy):
        cells = [row.percentile(q) for q in (0.5, 0.9, 0.99, 1.0)]
        print(f"{row.name:46} {len(row.latencies_ns):6,} {cells[0]:8,.0f} {cells[1]:8,.0f} "
              f"{cells[2]:8,.0f} {cells[3]:8,.0f} {cells[0] / base.percentile(0.5):5.2f}x "
              f"{cells[2] / base.percentile(0.99):5.2f}x")  # fmt: skip
    print(
        f"\n  first connection of each {args.size_mb} MB binary (waits for its hash): "
        + ", ".join(f"{ms:,.0f} ms" for ms in hashed_ms)
    )
    expected = len(result["latencies"]) + args.hashes
    shown = delta["allowed"] >= expected and not delta["errors"] and not result["failed"]
    proof = (f"helper: {delta['allowed']:,} allowed (client {len(result['latencies']):,} + "
             f"{args.hashes} binaries), {delta['default_action']} default actions, "
             f"{delta['errors']} errors; client: {result['failed']} failed")  # fmt: skip
    print(f"  {proof}{'' if shown else '  (NOT all shown)'}\n")


if __name__ == "__main__":
    main()
