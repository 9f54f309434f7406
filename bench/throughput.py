"""Benchmark: new TCP connections per second with 8 parallel clients, and the bulk
throughput of one established flow, through each firewall.

Rate: every candidate gets fresh namespaces (tests/fixtures/netns.py, `host` and `peer`
on a veth link) and 8 servers in `peer` (bench/connect_latency.py's, one port each); 8
client processes in `host` start together and connect, close, connect again, flat out
for SECONDS (after a 1 s warm-up run), each to its own port (so no 4-tuple repeats in
TIME_WAIT). Candidates: (a) no firewall, (b) connect_latency's Python accept-all NFQUEUE
loop behind Netwarden's iptables rules, (c) netwarden-helper as shipped (its own process,
on a private system bus with polkitd) with a cached allow rule for the clients, made
through AddRule. Reported: decided connections per second, connect() latencies, failed
connects, and the queue's own counters (/proc/net/netfilter/nfnetlink_queue: packets
queued and dropped) as proof of interception and of no drops.

Open loop (`--open-loop`, on by default; `--only-open-loop`): for (b), (c) and (c2)
(connect_latency's kernel verdict candidate: the helper's parts with the data plane, the
clients a copy of python3 in a cgroup the programs watch), the 8
client processes together offer a fixed rate of new connections (non-blocking connects
paced by the clock, each closed once established or after `--open-timeout` s), 3 s per
rate of `--offered`, rising until failures or the queue's drops (its queue_dropped and
user_dropped columns) pass 1 % of the connects sent.

Bulk: one TCP flow from `host` uploads SIZE bytes (1 GiB) to a reader in `peer`, ROUNDS
times alternately with no firewall and with netwarden-helper (allow rule); the ratio of
the medians, and the packets queued against the packets the flows sent (established
packets must never reach the queue).

    tools/devenv run -- python3 bench/throughput.py [--seconds S] [--clients N]
        [--no-open-loop | --only-open-loop] [--offered 2000,4000,...] [--step S]
"""

import argparse
import collections
import contextlib
import errno
import json
import os
import resource
import select
import socket
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.connect_latency import (
    BENCH_CLIENT,
    DNS_QUEUE,
    FLOW_QUEUE,
    PORT,
    Client,
    Counters,
    Run,
    fresh_box,
    kernel_client,
    netwarden,
    process_usage,
    start,
    stop,
    table,
)
from netwarden_helper.identity.hashing import sha256_of
from tests.fixtures.api import ApiClient
from tests.fixtures.helper import running_helper
from tests.fixtures.netns import Sandbox
from tests.fixtures.polkit import polkitd, rules
from tests.fixtures.system_bus import SystemBus, system_bus

SCRIPT = str(Path(__file__).resolve())
BULK_PORT = 9000
CHUNK = 1 << 20


# Roles: the processes the benchmark starts (`throughput.py ROLE ...`)


def role_client(address: str, port: int, begin: float, seconds: float) -> None:
    """From monotonic time `begin`, connect and close flat out for `seconds`; print one
    JSON line: each connect's start (monotonic ns) and duration (ns), failures, lateness."""
    late = time.monotonic() - begin
    time.sleep(max(0.0, -late))
    end = begin + seconds
    starts, latencies, failed = [], [], 0
    while time.monotonic() < end:
        sock = socket.socket()
        sock.settimeout(5)
        began = time.perf_counter_ns()  # CLOCK_MONOTONIC, like time.monotonic
        try:
            sock.connect((address, port))
            latencies.append(time.perf_counter_ns() - began)
            starts.append(began)
        except OSError:
            failed += 1
        sock.close()
    print(json.dumps({"starts": starts, "latencies": latencies, "failed": failed,
                      "late": max(0.0, late)}))  # fmt: skip


def role_opener(address: str, port: int, begin: float, seconds: float, rate: float,
                timeout: float) -> None:  # fmt: skip
    """Open loop: from monotonic time `begin`, start a non-blocking connect every 1/`rate`
    s for `seconds`, never waiting for earlier ones; close each once established, refused
    or `timeout` s old. Print one JSON line: connect latencies (ns) of the established
    ones, connects sent, failed, timed out, and how far behind schedule sending fell (s)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    poller = select.epoll()
    pending: dict[int, tuple[socket.socket, int]] = {}  # fd: (socket, start ns)
    oldest: collections.deque[tuple[socket.socket, int]] = collections.deque()
    latencies, sent, failed, timed_out, behind = [], 0, 0, 0, 0.0
    total = round(seconds * rate)

    def done(sock: socket.socket, error: int, began: int) -> None:
        nonlocal failed
        if error:
            failed += 1
        else:
            latencies.append(time.perf_counter_ns() - began)
        pending.pop(sock.fileno(), None)
        sock.close()  # its fd leaves the epoll set with it

    time.sleep(max(0.0, begin - time.monotonic()))
    while sent < total or pending:
        now = time.monotonic()
        while sent < total and begin + sent / rate <= now:
            behind = max(behind, now - begin - sent / rate)
            sent += 1
            sock = socket.socket()
            sock.setblocking(False)
            began = time.perf_counter_ns()  # CLOCK_MONOTONIC, like time.monotonic
            error = sock.connect_ex((address, port))
            if error == errno.EINPROGRESS:
                pending[sock.fileno()] = (sock, began)
                oldest.append((sock, began))
                poller.register(sock.fileno(), select.EPOLLOUT)
            else:
                done(sock, error, began)
        wait = begin + sent / rate - time.monotonic() if sent < total else 0.01
        for fd, _ in poller.poll(min(max(wait, 0.0), 0.01)):
            sock, began = pending[fd]
            done(sock, sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), began)
        expired = time.perf_counter_ns() - int(timeout * 1e9)
        while oldest and oldest[0][1] < expired:
            sock, _ = oldest.popleft()
            if sock.fileno() != -1:  # still connecting
                timed_out += 1
                pending.pop(sock.fileno())
                sock.close()
    print(json.dumps({"latencies": latencies, "sent": sent, "failed": failed,
                      "timed_out": timed_out, "behind": behind}))  # fmt: skip


def role_source(address: str, port: int, size: int, limit: float) -> None:
    """Upload `size` bytes (at most `limit` seconds), wait for the reader's count back;
    print {"bytes": acknowledged, "seconds": elapsed}."""
    block = memoryview(os.urandom(CHUNK))
    with socket.create_connection((address, port), timeout=10) as sock:
        began = time.perf_counter()
        sent, deadline = 0, began + limit
        while sent < size and time.perf_counter() < deadline:
            sent += sock.send(block[: min(CHUNK, size - sent)])
        sock.shutdown(socket.SHUT_WR)
        received = int(sock.makefile().readline())
        elapsed = time.perf_counter() - began
    print(json.dumps({"bytes": received, "seconds": elapsed}))


# The real helper, on a private system bus


def allow_rule(box: Sandbox, script: str = SCRIPT) -> dict[str, Any]:
    """What a prompt's "allow, this host, forever" makes for `python3 script`: the
    interpreter pinned to its sha256, the script, uid 0, the peer, TCP."""
    exe = os.path.realpath(sys.executable)
    return {"action": "allow", "exe": exe, "sha256": sha256_of(exe), "script": script,
            "uid": 0, "destination": box.peer_v4, "protocol": "tcp"}  # fmt: skip


@contextlib.contextmanager
def real_helper(box: Sandbox) -> Iterator[tuple[SystemBus, ApiClient, int]]:
    """netwarden-helper in `box.host` on a private system bus with polkitd (the test
    fixtures); yields the bus, a root client of its API and the helper's pid."""
    with (
        system_bus() as bus,
        polkitd(bus, rules()),
        tempfile.TemporaryDirectory() as state,
        running_helper(bus, box.host, Path(state) / "state", "--log-level=warning") as helper,
    ):
        root = ApiClient(bus, uid=0)
        try:
            yield bus, root, helper.pid
        finally:
            root.close()


def counters(root: ApiClient) -> collections.Counter[str]:
    """The helper's verdict counters (GetStatus)."""
    status = root.call("GetStatus")["counters"]
    return collections.Counter({str(k): int(v) for k, v in status.items()})


# Connection rate


def clients(box: Sandbox, count: int, seconds: float, port: int = PORT,
            role: str = "client", extra: tuple[str, ...] = (),
            client_as: Client = BENCH_CLIENT) -> list[dict]:  # fmt: skip
    """`count` `role` processes in `host` (arguments `extra` after the common ones), from
    a common start 1.5 s ahead (time for their interpreters to start), each to its own
    port from `port`; their JSON results."""
    begin = time.monotonic() + 1.5
    processes = [
        client_as.start(box, SCRIPT, role, box.peer_v4, str(port + i), repr(begin),
                        str(seconds), *extra)
        for i in range(count)
    ]  # fmt: skip
    results = []
    for process in processes:
        try:
            out, _ = process.communicate(timeout=seconds + 60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
        results.append(json.loads(out))
    late = max(result.get("late", 0.0) for result in results)
    if late > 0:
        print(f"  a client started {late * 1000:.0f} ms late", flush=True)
    return results


@contextlib.contextmanager
def servers(box: Sandbox, count: int) -> Iterator[None]:
    """connect_latency's server, once per port from PORT, in `peer`."""
    started = []
    try:
        for i in range(count):
            started.append(start(box.peer, "server", box.peer_v4, str(PORT + i)))
        yield
    finally:
        for process in started:
            stop(process)


def rate_run(name: str, box: Sandbox, args: argparse.Namespace, pid: int | None = None,
             queued: bool = True, warmed: Callable[[], Any] | None = None) -> Run:  # fmt: skip
    """Warm up, then `args.clients` clients flat out for `args.seconds` (`warmed` is
    called between the two)."""
    clients(box, args.clients, 1.0)
    if warmed:
        warmed()
    counter = Counters(box.host, FLOW_QUEUE, "NETWARDEN_OUT") if queued else None
    if counter:
        counter.mark()
    cpu = process_usage(pid)[0] if pid else 0.0
    results = clients(box, args.clients, args.seconds)
    latencies = [ns for result in results for ns in result["latencies"]]
    failed = sum(result["failed"] for result in results)
    run = Run(name, latencies, failed, args.seconds, firewall=queued)
    if pid:
        run.footprint = {"cpu_s": process_usage(pid)[0] - cpu}
    if counter:
        run.proof, text = counter.proof(len(latencies))
        if run.proof is None:
            print(f"  {name}: interception NOT shown: {text}", flush=True)
        elif " 0 dropped" not in text:
            print(f"  {name}: QUEUE DROPS: {text}", flush=True)
    print(f"  {name}: {run.rate:,.0f} conn/s, {failed} failed", flush=True)
    return run


ACCEPT_ALL = "(b) Python accept-all NFQUEUE"
HELPER = "(c) netwarden-helper, cached allow rule"
KERNEL = "(c2) Netwarden, kernel verdicts"


@contextlib.contextmanager
def accept_all(box: Sandbox) -> Iterator[int]:
    """(b): connect_latency's accept-all loop behind Netwarden's iptables rules; its pid."""
    from netwarden_helper.packet_path.netfilter import Interception, IptablesBackend

    loop = start(box.host, "accept_all", str(FLOW_QUEUE))  # bound before the rules
    try:
        box.host.call(IptablesBackend().install, Interception(FLOW_QUEUE, DNS_QUEUE))
        yield loop.pid
    finally:
        stop(loop)


@contextlib.contextmanager
def allowing_helper(box: Sandbox) -> Iterator[tuple[ApiClient, int]]:
    """(c): `real_helper` with the clients' allow rule; its API client and pid."""
    with real_helper(box) as (_, root, pid):
        root.call("AddRule", allow_rule(box))
        yield root, pid


def rates(args: argparse.Namespace) -> list[Run]:
    runs = []
    with fresh_box() as box, servers(box, args.clients):
        runs.append(rate_run("(a) no firewall", box, args, queued=False))
    with fresh_box() as box, servers(box, args.clients), accept_all(box) as pid:
        runs.append(rate_run(ACCEPT_ALL, box, args, pid))
    with fresh_box() as box, servers(box, args.clients), allowing_helper(box) as (root, pid):
        name = HELPER
        before: collections.Counter[str] = collections.Counter()
        run = rate_run(name, box, args, pid, warmed=lambda: before.update(counters(root)))
        after = counters(root)
        delta = after - before
        own = (f"helper: {delta['allowed']:,} allowed, {delta['unattributed']} unattributed, "
               f"{delta['default_action']} default actions, {delta['errors']} errors")  # fmt: skip
        if run.proof and delta["allowed"] >= len(run.latencies_ns) and not delta["errors"]:
            run.proof += "; " + own
        else:
            print(f"  {name}: verdicts NOT shown: {own}", flush=True)
            run.proof = None
        runs.append(run)
    return runs


# Open loop: rising offered rates until the queue drops


def queue_row(box: Sandbox) -> tuple[int, int, int]:
    """(packets ever queued, queue_dropped, user_dropped) of the flow queue in `host`
    (/proc/net/netfilter/nfnetlink_queue, as connect_latency's `queue_packets` reads it)."""
    table = box.host.run("cat", "/proc/net/netfilter/nfnetlink_queue").stdout
    for cells in (line.split() for line in table.splitlines()):
        if cells and int(cells[0]) == FLOW_QUEUE:
            return int(cells[7]), int(cells[5]), int(cells[6])
    raise RuntimeError(f"queue {FLOW_QUEUE} is not bound")


def open_steps(name: str, box: Sandbox, args: argparse.Namespace,
               client_as: Client = BENCH_CLIENT) -> list[dict[str, Any]]:  # fmt: skip
    """After a closed-loop warm-up, each offered rate of `args.offered` for `args.step`
    s, until drops or failures pass 1 % of the connects sent."""
    clients(box, args.clients, 1.0, client_as=client_as)
    steps = []
    for offered in args.offered:
        before = queue_row(box)
        extra = (repr(offered / args.clients), repr(args.open_timeout))
        results = clients(box, args.clients, args.step, role="opener", extra=extra,
                          client_as=client_as)  # fmt: skip
        queued, queue_dropped, user_dropped = (
            a - b for a, b in zip(queue_row(box), before, strict=True)
        )
        step = Run(name, [ns for r in results for ns in r["latencies"]],
                   sum(r["failed"] for r in results), args.step)  # fmt: skip
        sent = sum(r["sent"] for r in results)
        timed_out = sum(r["timed_out"] for r in results)
        behind = max(r["behind"] for r in results)
        row = {"offered": offered, "sent": sent, "done": step.rate, "failed": step.failed,
               "timed_out": timed_out, "queued": queued, "queue_dropped": queue_dropped,
               "user_dropped": user_dropped, "behind": behind,
               "p50": step.percentile(0.5) if step.latencies_ns else 0.0,
               "p99": step.percentile(0.99) if step.latencies_ns else 0.0}  # fmt: skip
        steps.append(row)
        print(f"  {name}: offered {offered:,}/s: {open_line(row)}", flush=True)
        lost = max(step.failed + timed_out, queue_dropped + user_dropped)
        if lost > 0.01 * sent:
            break
    return steps


def open_line(row: dict[str, Any]) -> str:
    return (f"sent {row['sent']:,}, {row['done']:,.0f} conn/s done, {row['failed']:,} failed, "
            f"{row['timed_out']:,} timed out, queue: {row['queued']:,} queued, "
            f"{row['queue_dropped']:,} queue_dropped, {row['user_dropped']:,} user_dropped; "
            f"p50 {row['p50']:,.0f} µs, p99 {row['p99']:,.0f} µs, sending up to "
            f"{row['behind'] * 1000:,.0f} ms behind")  # fmt: skip


def open_loop(args: argparse.Namespace) -> None:
    results = {}
    with fresh_box() as box, servers(box, args.clients), accept_all(box):
        results[ACCEPT_ALL] = open_steps(ACCEPT_ALL, box, args)
    with fresh_box() as box, servers(box, args.clients), allowing_helper(box):
        results[HELPER] = open_steps(HELPER, box, args)
    ports = f"{PORT}-{PORT + args.clients - 1}"
    with (fresh_box() as box, servers(box, args.clients), kernel_client() as client_as,
          netwarden(box, client_as=client_as, ports=ports) as (_, status)):  # fmt: skip
        before = status()
        results[KERNEL] = open_steps(KERNEL, box, args, client_as)
        after = status()
    in_kernel = after.get("kernel_decided", 0) - before.get("kernel_decided", 0)
    allowed = after.get("allowed", 0) - before.get("allowed", 0)
    print(f"  {KERNEL}: the helper: {allowed:,} allowed, {in_kernel:,} of them in the kernel, "
          f"{after.get('errors', 0)} errors", flush=True)  # fmt: skip
    print(
        f"\n## Open loop: {args.clients} clients offer a fixed rate of new connections, "
        f"{args.step:g} s a step, connects timed out after {args.open_timeout:g} s\n"
    )
    print(f"{'candidate':40} {'offered':>8} {'sent':>7} {'done/s':>7} {'failed':>6} "
          f"{'t/o':>6} {'queued':>7} {'q_drop':>7} {'u_drop':>7} "
          f"{'p50 µs':>8} {'p99 µs':>8}")  # fmt: skip
    for name, steps in results.items():
        for r in steps:
            print(f"{name:40} {r['offered']:8,} {r['sent']:7,} {r['done']:7,.0f} "
                  f"{r['failed']:6,} {r['timed_out']:6,} {r['queued']:7,} "
                  f"{r['queue_dropped']:7,} {r['user_dropped']:7,} {r['p50']:8,.0f} "
                  f"{r['p99']:8,.0f}")  # fmt: skip
    print()


# Bulk throughput


class Reader(socketserver.BaseRequestHandler):
    """Reads a connection to EOF, then answers with the byte count."""

    def handle(self) -> None:
        buffer, total = bytearray(CHUNK), 0
        while count := self.request.recv_into(buffer):
            total += count
        self.request.sendall(f"{total}\n".encode())


@contextlib.contextmanager
def reader(box: Sandbox) -> Iterator[None]:
    """A `Reader` server in `peer` (a thread of this process)."""
    with box.peer.entered():
        listener = socketserver.TCPServer((box.peer_v4, BULK_PORT), Reader)
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    try:
        yield
    finally:
        listener.shutdown()
        listener.server_close()


def upload(box: Sandbox, size: int, limit: float) -> float:
    """One upload from `host`; its throughput in Gbit/s."""
    result = json.loads(box.host.run(sys.executable, SCRIPT, "source", box.peer_v4,
                                     str(BULK_PORT), str(size), str(limit),
                                     timeout=limit + 30).stdout)  # fmt: skip
    return result["bytes"] * 8 / result["seconds"] / 1e9


def tx_packets(box: Sandbox) -> int:
    return int(box.host.run("cat", "/sys/class/net/nw0/statistics/tx_packets").stdout)


def bulk(args: argparse.Namespace) -> None:
    size = args.bulk_mib << 20
    plain_rates, ours_rates = [], []
    with (
        fresh_box() as plain,
        reader(plain),
        fresh_box() as box,
        reader(box),
        real_helper(box) as (_, root, pid),
    ):
        root.call("AddRule", allow_rule(box))
        upload(box, 1 << 20, 10)  # warm-up: the interpreter's hash is cached after it
        counter = Counters(box.host, FLOW_QUEUE, "NETWARDEN_OUT")
        counter.mark()
        sent, cpu, began = tx_packets(box), process_usage(pid)[0], time.monotonic()
        for _ in range(args.rounds):
            plain_rates.append(upload(plain, size, args.bulk_limit))
            ours_rates.append(upload(box, size, args.bulk_limit))
        sent, cpu = tx_packets(box) - sent, process_usage(pid)[0] - cpu
        cpu_share = cpu / (time.monotonic() - began)
        _, text = counter.proof(args.rounds)
    plain_median, ours_median = statistics.median(plain_rates), statistics.median(ours_rates)
    print(f"\n## Bulk throughput: one TCP flow uploads {args.bulk_mib:,} MiB, {args.rounds} "
          "rounds each, alternating (Gbit/s)\n")  # fmt: skip
    print(f"{'candidate':40} {'median':>8} {'min':>8} {'max':>8} {'ratio':>7}")
    for name, values in (("(a) no firewall", plain_rates),
                         ("(c) netwarden-helper, allow rule", ours_rates)):  # fmt: skip
        ratio = statistics.median(values) / plain_median
        print(f"{name:40} {statistics.median(values):8.2f} {min(values):8.2f} "
              f"{max(values):8.2f} {ratio:6.1%}")  # fmt: skip
    verdict = "met" if ours_median >= 0.99 * plain_median else "NOT met"
    print(f"\n  (c): {ours_median / plain_median:.1%} of no firewall (target >= 99 %): {verdict}")
    print(f"  (c): {sent:,} packets sent on the link by its {args.rounds} flows; {text}")
    print(f"  (c): netwarden-helper's CPU meanwhile: {cpu_share:.0%} of one core\n")


def main() -> None:
    roles = {"client": lambda a: role_client(a[0], int(a[1]), float(a[2]), float(a[3])),
             "source": lambda a: role_source(a[0], int(a[1]), int(a[2]), float(a[3])),
             "opener": lambda a: role_opener(a[0], int(a[1]), *map(float, a[2:6]))}  # fmt: skip
    if len(sys.argv) > 1 and sys.argv[1] in roles:
        roles[sys.argv[1]](sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per candidate (5)")
    parser.add_argument("--clients", type=int, default=8, help="parallel clients (8)")
    parser.add_argument("--bulk-mib", type=int, default=1024, help="MiB per upload (1024)")
    parser.add_argument("--bulk-limit", type=float, default=20.0, help="s per upload (20)")
    parser.add_argument("--rounds", type=int, default=7, help="uploads per candidate (7)")
    parser.add_argument(
        "--open-loop",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the open-loop steps after the closed-loop rate (on)",
    )
    parser.add_argument(
        "--offered",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[2000, 4000, 8000, 16000, 20000, 24000],
        help="conn/s (2000,4000,8000,16000,20000,24000)",
    )
    parser.add_argument("--step", type=float, default=3.0, help="s per offered rate (3)")
    parser.add_argument("--open-timeout", type=float, default=1.0, help="s per connect (1)")
    parser.add_argument("--only-open-loop", action="store_true", help="skip the rest")
    args = parser.parse_args()  # fmt: skip
    if args.only_open_loop:
        open_loop(args)
        return
    print(f"{args.clients} parallel clients, {args.seconds:g} s flat out per candidate, "
          f"{os.cpu_count()} cores\n", flush=True)  # fmt: skip
    runs = rates(args)
    print(f"\n## Connection rate, {args.clients} parallel clients (ratios: to no firewall)\n")
    table(runs, runs[0])
    for run in runs:
        if run.footprint:
            busy = run.footprint["cpu_s"] / args.seconds
            print(f"  {run.name}: firewall process CPU {busy:.0%} of one core")
    if args.open_loop:
        open_loop(args)
    bulk(args)


if __name__ == "__main__":
    main()
