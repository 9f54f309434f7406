"""Benchmark: the helper's idle cost while it accounts many open connections.

In one run, in fresh network namespaces (tests/fixtures/netns.py), the real helper parts
(no D-Bus) run twice with an allow rule for the client: (a) with the eBPF data plane,
whose cgroup_skb programs count each flow's bytes (the helper reads a map, and nothing
when nothing changed); (b) without it, where bytes come from conntrack dumps every second.
One client, placed in a cgroup the benchmark creates (never the machine's root), opens
CONNECTIONS TCP connections to a server in `peer` that holds them open, then all sit idle
for IDLE seconds while the helper's CPU time is measured. Figures count only if every
connection was allowed by the rule and is being accounted (the helper's own books).

    tools/devenv run -- sh -c 'make bpf && python3 bench/idle_accounting.py'
"""

import argparse
import contextlib
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.connect_latency import process_usage
from netwarden_helper.data_plane.plane import OBJECT
from tests.fixtures.data_plane import CGROUP2, own_cgroup
from tests.fixtures.netns import sandbox

SCRIPT = str(Path(__file__).resolve())
PORT = 8090
FLOW_QUEUE, DNS_QUEUE = 7700, 7701
PYTHON = os.path.realpath(sys.executable)


def _more_files(count: int) -> None:
    wanted = count + 64
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(wanted, hard), max(wanted, hard)))


def role_server(address: str, count: int) -> None:
    """Accept connections and hold them open until stdin ends."""
    _more_files(count)
    listener = socket.create_server((address, PORT), backlog=4096)
    print("ready", flush=True)
    held = []
    listener.settimeout(0.5)
    while len(held) < count:
        with contextlib.suppress(TimeoutError):
            held.append(listener.accept()[0])
    sys.stdin.read()


def role_helper(state_dir: str, bpf_object: str, cgroup: str) -> None:
    """The helper's parts with an allow rule for the client; `status` on stdin prints
    how many flows it accounts (and how), `quit` stops it."""
    from netwarden_common.rules import validate
    from netwarden_helper.composition import Helper
    from netwarden_helper.runtime.loop import Loop

    loop = Loop()
    helper = Helper(loop, Path(state_dir), FLOW_QUEUE, DNS_QUEUE,
                    bpf_object=Path(bpf_object) if bpf_object != "none" else None,
                    bpf_cgroup=Path(cgroup))  # fmt: skip
    helper.rule_book.add_rule(validate({"action": "allow", "exe": PYTHON, "protocol": "tcp"}))

    def command() -> None:
        if sys.stdin.readline().strip() != "status":
            loop.quit()
            return
        history = helper.history
        print(json.dumps({**helper.status(), "attribution": helper.attribution.mode,
                          "by_conntrack": len(history.accounting),
                          "by_data_plane": len(history.socket_accounting)}),
              flush=True)  # fmt: skip

    loop.watch_fd(sys.stdin.fileno(), command)
    print("ready", flush=True)
    loop.run()
    helper.close()


def role_client(cgroup: str, address: str, count: int) -> None:
    """Join `cgroup`, open `count` connections, say so, hold them until stdin ends."""
    Path(cgroup, "cgroup.procs").write_text(str(os.getpid()))
    _more_files(count)
    held = [socket.create_connection((address, PORT), timeout=10) for _ in range(count)]
    print("ready", flush=True)
    sys.stdin.read()
    for sock in held:
        sock.close()


def measure(bpf_object: str, cgroup: Path, count: int, idle: float) -> dict:
    """One helper, `count` idle connections: its CPU over `idle` seconds and its books."""
    cgroup_fd = os.open(cgroup, os.O_RDONLY | os.O_DIRECTORY)
    seen = f"/proc/self/fd/{cgroup_fd}"  # `ip netns exec` hides /sys/fs/cgroup
    started = []
    try:
        with sandbox() as box, tempfile.TemporaryDirectory() as state:
            for argv in (("server", box.peer_v4, str(count)),
                         ("helper", state, bpf_object, seen),
                         ("client", seen, box.peer_v4, str(count))):  # fmt: skip
                ns = box.peer if argv[0] == "server" else box.host
                process = ns.popen(sys.executable, SCRIPT, *argv, stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True,
                                   pass_fds=(cgroup_fd,))  # fmt: skip
                started.append(process)
                line = process.stdout.readline().strip()
                assert line == "ready", f"{argv[0]}: {line!r}"
            helper = started[1]
            time.sleep(3)  # the last verdicts and counts settle
            cpu_before = process_usage(helper.pid)[0]
            time.sleep(idle)
            cpu_after, rss = process_usage(helper.pid)
            helper.stdin.write("status\n")
            helper.stdin.flush()
            figures = json.loads(helper.stdout.readline())
            conntrack = int(box.host.run("cat", "/proc/sys/net/netfilter/nf_conntrack_count")
                            .stdout)  # fmt: skip
    finally:
        for process in reversed(started):
            with contextlib.suppress(OSError):
                process.stdin.close()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        os.close(cgroup_fd)
    return {"cpu_percent": (cpu_after - cpu_before) / idle * 100, "rss_mb": rss,
            "conntrack": conntrack, **figures}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--idle", type=float, default=30.0, help="seconds measured")
    args = parser.parse_args()
    if CGROUP2 is None:
        print("no cgroup2 hierarchy: nothing to compare")
        return 1
    with own_cgroup() as cgroup:
        rows = [(name, measure(bpf_object, cgroup, args.connections, args.idle))
                for name, bpf_object in (("(a) eBPF data plane", str(OBJECT)),
                                         ("(b) conntrack dumps", "none"))]  # fmt: skip
    print(f"{args.connections:,} open TCP connections, idle for {args.idle:.0f} s\n")
    print(f"{'bytes counted by':<22} {'CPU %':>7} {'RSS MB':>7} {'accounted':>10} "
          f"{'conntrack':>10}")  # fmt: skip
    for name, row in rows:
        books = row["by_data_plane"] if name.startswith("(a)") else row["by_conntrack"]
        valid = books >= args.connections and row.get("allowed", 0) >= args.connections
        valid = valid and row["attribution"] == ("ebpf" if name.startswith("(a)") else "procfs")
        void = "" if valid else "  VOID (not every connection allowed and accounted)"
        print(f"{name:<22} {row['cpu_percent']:>7.2f} {row['rss_mb']:>7.1f} {books:>10,} "
              f"{row['conntrack']:>10,}{void}")  # fmt: skip
    return 0


if __name__ == "__main__":
    roles = {"server": lambda a: role_server(a[0], int(a[1])),
             "helper": lambda a: role_helper(*a),
             "client": lambda a: role_client(a[0], a[1], int(a[2]))}  # fmt: skip
    if len(sys.argv) > 1 and sys.argv[1] in roles:
        roles[sys.argv[1]](sys.argv[2:])
        sys.exit(0)
    sys.exit(main())
