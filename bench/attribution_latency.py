"""Benchmark: connect latency and footprint with the eBPF data plane and without it.

In one run, in fresh network namespaces (tests/fixtures/netns.py), the real helper parts
(netfilter rules, queues, attribution, rules; no D-Bus) run with an allow rule for the
client: (a) attribution by the eBPF data plane, its programs attached to a cgroup the
benchmark creates (never the machine's root) and removes; (b) by sock_diag and /proc (no
object); each for every FDS given (10 and 500 by default). Each time one client process,
placed in that cgroup before it opens anything, holds FDS UDP sockets (as a browser
does) and makes COUNT sequential TCP connects to a
server in `peer`, timing each `connect()`. Figures count only if every connect was
decided by the rule (the helper's own counters) and, for (a), attributed by the data
plane. The helper's RSS is read after its run.

    tools/devenv run -- sh -c 'make bpf && python3 bench/attribution_latency.py'
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.connect_latency import server
from netwarden_helper.data_plane.plane import OBJECT
from tests.fixtures.data_plane import CGROUP2, own_cgroup
from tests.fixtures.netns import sandbox

SCRIPT = str(Path(__file__).resolve())
PORT = 8080  # connect_latency's server listens there
FLOW_QUEUE, DNS_QUEUE = 7700, 7701
PYTHON = os.path.realpath(sys.executable)  # the client, as attribution names it


def role_helper(state_dir: str, exe: str, bpf_object: str, cgroup: str) -> None:
    """The helper's parts with an allow rule for `exe`; `quit` on stdin prints its
    counters, attribution and RSS, and stops it."""
    from netwarden_common.rules import validate
    from netwarden_helper.composition import Helper
    from netwarden_helper.runtime.loop import Loop

    loop = Loop()
    helper = Helper(loop, Path(state_dir), FLOW_QUEUE, DNS_QUEUE,
                    bpf_object=Path(bpf_object) if bpf_object != "none" else None,
                    bpf_cgroup=Path(cgroup))  # fmt: skip
    helper.rule_book.add_rule(validate({"action": "allow", "exe": exe, "protocol": "tcp"}))

    def command() -> None:
        sys.stdin.readline()
        status = Path("/proc/self/status").read_text().splitlines()
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        print(json.dumps({**helper.status(), "attribution": helper.attribution.mode,
                          "rss_kb": rss}), flush=True)  # fmt: skip
        loop.quit()

    loop.watch_fd(sys.stdin.fileno(), command)
    print("ready", flush=True)
    loop.run()
    helper.close()


def role_client(cgroup: str, address: str, count: int, fds: int) -> None:
    """Join `cgroup`, hold `fds` UDP sockets, make `count` connects; print their times."""
    Path(cgroup, "cgroup.procs").write_text(str(os.getpid()))
    held = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(fds)]
    latencies = []
    for _ in range(count):
        sock = socket.socket()
        sock.settimeout(5)
        start = time.perf_counter_ns()
        sock.connect((address, PORT))
        latencies.append(time.perf_counter_ns() - start)
        sock.close()
    print(json.dumps(latencies))
    for sock in held:
        sock.close()


def percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000


def measure(bpf_object: str, cgroup: Path, count: int, fds: int) -> dict:
    """One helper, one client: latencies (µs quantiles) and the helper's figures."""
    cgroup_fd = os.open(cgroup, os.O_RDONLY | os.O_DIRECTORY)
    seen = f"/proc/self/fd/{cgroup_fd}"  # `ip netns exec` hides /sys/fs/cgroup
    try:
        with sandbox() as box, server(box), tempfile.TemporaryDirectory() as state:
            helper = box.host.popen(sys.executable, SCRIPT, "helper", state, PYTHON,
                                    bpf_object, seen, stdin=subprocess.PIPE, text=True,
                                    stdout=subprocess.PIPE, pass_fds=(cgroup_fd,))  # fmt: skip
            assert helper.stdout.readline().strip() == "ready"
            client = box.host.popen(sys.executable, SCRIPT, "client", seen, box.peer_v4,
                                    str(count), str(fds), stdout=subprocess.PIPE, text=True,
                                    pass_fds=(cgroup_fd,))  # fmt: skip
            latencies = json.loads(client.communicate(timeout=120)[0])
            figures = json.loads(helper.communicate("quit\n", timeout=30)[0])
    finally:
        os.close(cgroup_fd)
    return {"p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99),
            "connects": len(latencies), **figures}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--fds", type=int, nargs="+", default=[10, 500],
                        help="the sockets the client holds, one row each")  # fmt: skip
    args = parser.parse_args()
    if CGROUP2 is None:
        print("no cgroup2 hierarchy: nothing to compare")
        return 1
    with own_cgroup() as cgroup:
        # the first helper of a run is slower whatever it measures (caches, clocks): not shown
        measure(str(OBJECT), cgroup, args.count // 4, args.fds[0])
        rows = [(name, fds, measure(bpf_object, cgroup, args.count, fds))
                for name, bpf_object in (("(a) eBPF data plane", str(OBJECT)),
                                         ("(b) sock_diag + /proc", "none"))
                for fds in args.fds]  # fmt: skip
    print(f"{args.count} connects from a client holding some sockets\n")
    print(f"{'attribution':<24} {'sockets':>7} {'p50 µs':>8} {'p99 µs':>8} {'allowed':>8} "
          f"{'RSS MB':>7}")  # fmt: skip
    for name, fds, row in rows:
        # every connect allowed by the rule: none by the default action, none unattributed
        valid = row["connects"] == args.count and row.get("allowed", 0) >= args.count
        valid = valid and not row.get("default_action") and not row.get("unattributed")
        valid = valid and row["attribution"] == ("ebpf" if name.startswith("(a)") else "procfs")
        print(f"{name:<24} {fds:>7} {row['p50']:>8.0f} {row['p99']:>8.0f} "
              f"{row.get('allowed', 0):>8} {row['rss_kb'] / 1024:>7.1f}"
              + ("" if valid else "  VOID (not every connect allowed by the rule)"))  # fmt: skip
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("helper", "client"):
        role = sys.argv[1]
        if role == "helper":
            role_helper(*sys.argv[2:6])
        else:
            role_client(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
        sys.exit(0)
    sys.exit(main())
