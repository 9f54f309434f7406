"""Benchmark: TCP connection setup latency through each firewall, at scale, and footprint.

Every candidate gets a fresh pair of network namespaces (tests/fixtures/netns.py: `host`
192.0.2.1 and `peer` 192.0.2.2 on a veth link); a server in `peer` accepts and closes,
and one client process in `host` makes CONNECTIONS sequential TCP connects to it (after a
warm-up), timing each `connect()`. Candidates, all measured in the same run:

  (a) no firewall: the baseline every ratio is taken against;
  (b) a Python accept-all NFQUEUE loop (python3-netfilterqueue) behind exactly the
      iptables rules Netwarden installs: the floor of this design; (b2) the same on the
      helper's own GLib loop and queue binding;
  (c) Netwarden (the real helper parts: netfilter rules, queues, attribution, rules,
      history; no D-Bus) with a pinned allow rule for the client, its hash cached;
  (c2) the same with the eBPF data plane and kernel verdicts (docs/kernel-verdicts.md):
      the client (a copy of python3 under a name of its own: an interpreter's flows stay
      with the queue) runs in a cgroup of the benchmark's own that the programs watch;
  (d) OpenSnitch 1.6.9 (opensnitchd from Debian 13, iptables backend, an allow rule),
      from the rootfs tools/opensnitch-rootfs builds; `make bench` hands it over as
      file descriptor 3 since tools/devenv cannot see the cache otherwise.

Scale: (a), (c) and (d) again with EXTRA processes each holding a UDP socket, and with a
client holding CLIENT_FDS sockets. Footprint: each firewall's RSS and CPU time over its
run, Netwarden's and OpenSnitch's CPU over IDLE seconds without new connections; then
the helper's per-packet steps timed one by one.

A figure counts only with proof that the firewall intercepted: the NFQUEUE packet count
of its queue (/proc/net/netfilter/nfnetlink_queue), its iptables rule's packet counter
and, for Netwarden, its own verdict and rule-hit counters. Without it the row says VOID.

    sudo make bench   (or: tools/devenv run -- python3 bench/connect_latency.py
                           3<"$(tools/opensnitch-rootfs)")
    tools/devenv run -- python3 bench/connect_latency.py --quick
"""

import argparse
import contextlib
import ctypes
import itertools
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fixtures.netns import NetNS, Sandbox, sandbox

SCRIPT = str(Path(__file__).resolve())
PORT = 8080
FLOW_QUEUE, DNS_QUEUE = 7700, 7701  # Netwarden's defaults; (b) uses the same
OPENSNITCH_QUEUE = 0  # opensnitchd's default
WARMUP = 300
TICK = os.sysconf("SC_CLK_TCK")


# Roles: the processes the benchmark starts (`connect_latency.py ROLE ...`)


def role_server(address: str, port: int) -> None:
    """Accept, wait for the client to close first, close; forever (stopped by the
    benchmark). The client closing first keeps its side in TIME_WAIT, so no 4-tuple is
    used twice in a run: every SYN starts a new conntrack entry."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((address, port))
    listener.listen(4096)
    print("ready", flush=True)
    while True:
        with contextlib.suppress(OSError):
            connection = listener.accept()[0]
            connection.settimeout(5)
            connection.recv(1)
            connection.close()


def role_client(address: str, port: int, count: int, fds: int) -> None:
    """`count` sequential connects, holding `fds` other sockets open meanwhile (as a
    browser does); prints each connect() time in ns as one JSON line."""
    held = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(fds)]
    latencies, failed = [], 0
    began = time.perf_counter()
    for _ in range(count):
        sock = socket.socket()
        sock.settimeout(5)
        start = time.perf_counter_ns()
        try:
            sock.connect((address, port))
            latencies.append(time.perf_counter_ns() - start)
        except OSError:
            failed += 1
        sock.close()
    elapsed = time.perf_counter() - began
    print(json.dumps({"latencies": latencies, "failed": failed, "elapsed": elapsed}))
    for sock in held:
        sock.close()


def role_accept_all(queue_num: int) -> None:
    """(b): accept every queued packet."""
    from netfilterqueue import NetfilterQueue

    queue = NetfilterQueue()
    queue.bind(queue_num, lambda packet: packet.accept(), max_len=32768)
    print("ready", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    queue.run()


def role_accept_all_glib(queue_num: int) -> None:
    """(b2): accept every queued packet, on the helper's own GLib loop and queue binding."""
    from netwarden_helper.packet_path.queue import PacketQueue
    from netwarden_helper.runtime.loop import Loop

    loop = Loop()
    PacketQueue(loop, queue_num, lambda packet: packet.accept(), fail_open=True)
    print("ready", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    loop.run()


def role_helper(
    state_dir: str, exe: str, script: str, peer: str, ports: str, profile: str, bpf_cgroup: str
) -> None:
    """(c): the real helper parts on a GLib loop, with an allow rule for the client (to
    `peer`, `ports`); (c2) with the data plane on `bpf_cgroup` ("" for none).

    Reads commands on stdin: `status` prints the counters as JSON, `quit` stops it.
    """
    import cProfile
    import logging
    import threading

    from netwarden_common.rules import validate
    from netwarden_helper.composition import Helper
    from netwarden_helper.data_plane.plane import OBJECT
    from netwarden_helper.identity.hashing import sha256_of
    from netwarden_helper.runtime.loop import Loop

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    loop = Loop()
    helper = Helper(loop, Path(state_dir), FLOW_QUEUE, DNS_QUEUE, bpf_object=OBJECT,
                    bpf_cgroup=Path(bpf_cgroup) if bpf_cgroup else None)  # fmt: skip
    # What the prompt's "allow, this host, forever" makes: program pinned to its hash.
    rule = helper.rule_book.add_rule(validate({
        "action": "allow", "exe": exe, "sha256": sha256_of(exe), "script": script,
        "uid": os.getuid(), "destination": peer, "ports": ports, "protocol": "tcp",
    }))  # fmt: skip

    def command() -> None:
        line = sys.stdin.readline()
        if line.strip() in ("quit", ""):
            loop.quit()
            return
        helper.rule_book.flush_hits()
        hits = next(r.hits for r in helper.store.rules() if r.id == rule.id)
        names = {str(thread.native_id): thread.name for thread in threading.enumerate()}
        print(json.dumps({**helper.status(), "rule_hits": hits, "threads": names}), flush=True)

    loop.watch_fd(sys.stdin.fileno(), command)
    print("ready", flush=True)
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    loop.run()
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile)
    helper.close()


def role_holders(count: int) -> None:
    """`count` child processes, each holding a UDP socket, until stdin closes."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    children = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:  # the child dies with its parent (PR_SET_PDEATHSIG)
            prctl(1, signal.SIGKILL)
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1):
                os.dup2(null, fd)
            held = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            held.bind(("127.0.0.1", 0))
            signal.pause()
            os._exit(0)
        children.append(pid)
    print("ready", flush=True)
    sys.stdin.read()
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    for pid in children:
        os.waitpid(pid, 0)


# Measuring


@dataclass
class Run:
    name: str
    latencies_ns: list[int]
    failed: int
    elapsed: float
    proof: str | None = None  # None: interception not shown, the figures are void
    footprint: dict[str, float] = field(default_factory=dict)
    threads: dict[str, float] = field(default_factory=dict)  # CPU s of each thread in the run
    firewall: bool = True  # False for the no-firewall rows: nothing to prove
    idle_threads: dict[str, float] = field(default_factory=dict)
    idle_before: dict[str, float] = field(default_factory=dict)  # idle before any traffic

    def percentile(self, q: float) -> float:
        """Microseconds at quantile q (nearest rank)."""
        ordered = sorted(self.latencies_ns)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000

    @property
    def rate(self) -> float:
        return len(self.latencies_ns) / self.elapsed


def start(ns: NetNS, *argv: str, with_cgroups: bool = False) -> subprocess.Popen:
    """One of our roles inside `ns`, once it says "ready" (`with_cgroups`: entered with
    nsenter, which keeps the cgroup mounts that `ip netns exec`'s fresh /sys lacks)."""
    command = [sys.executable, SCRIPT, *argv]
    if with_cgroups:
        command = ["nsenter", f"--net=/run/netns/{ns.name}", *command]
    process = subprocess.Popen(command if with_cgroups else ns.command(*command),
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True)  # fmt: skip
    line = process.stdout.readline()
    if line.strip() != "ready":
        process.kill()
        raise RuntimeError(f"{argv[0]} did not start: {line!r}")
    return process


def stop(process: subprocess.Popen) -> None:
    """Stop a process this benchmark started, by its pid."""
    if process.poll() is None:
        with contextlib.suppress(OSError):
            process.stdin.close()
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def server(box: Sandbox) -> Iterator[None]:
    process = start(box.peer, "server", box.peer_v4, str(PORT))
    try:
        yield
    finally:
        stop(process)


@dataclass(frozen=True)
class Client:
    """The program the client role runs as, and the cgroup it is placed in (None: the
    benchmark's own)."""

    exe: str = sys.executable
    cgroup: Path | None = None

    def start(self, box: Sandbox, *argv: str) -> subprocess.Popen:
        """Run `argv` with this program inside `box.host` (placed in the cgroup before it
        starts: tests/fixtures/data_plane.start_in); stdout is a text pipe."""
        from tests.fixtures.data_plane import start_in

        if self.cgroup is None:
            return box.host.popen(self.exe, *argv, stdout=subprocess.PIPE, text=True)
        return start_in(box, self.cgroup, self.exe, *argv, user=None)


BENCH_CLIENT = Client()  # python3 running this script, in the benchmark's own cgroup


def connects(box: Sandbox, count: int, fds: int = 0,
             client_as: Client = BENCH_CLIENT) -> tuple[list[int], int, float]:  # fmt: skip
    """`count` connects from one client process in `host`: (latencies ns, failed, s)."""
    client = client_as.start(box, SCRIPT, "client", box.peer_v4, str(PORT), str(count),
                             str(fds))  # fmt: skip
    try:
        out, _ = client.communicate(timeout=60 + count * 0.05)
    except subprocess.TimeoutExpired:
        client.kill()
        client.wait()
        raise
    result = json.loads(out)
    return result["latencies"], result["failed"], result["elapsed"]


@contextlib.contextmanager
def fresh_box() -> Iterator[Sandbox]:
    """New host and peer namespaces; the host's ephemeral ports widened (TIME_WAIT)."""
    with sandbox() as box:
        box.host.run("sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=1024 65535")
        yield box


def queue_packets(ns: NetNS, queue_num: int) -> tuple[int, int]:
    """(packets ever queued, packets dropped) of NFQUEUE `queue_num` in `ns`."""
    table = ns.run("cat", "/proc/net/netfilter/nfnetlink_queue").stdout
    for line in table.splitlines():
        cells = line.split()
        if cells and int(cells[0]) == queue_num:
            return int(cells[7]), int(cells[5]) + int(cells[6])
    return 0, 0


def rule_packets(ns: NetNS, chain: str, queue_num: int) -> int:
    """Packets counted by the iptables NFQUEUE rules to `queue_num` in mangle `chain`."""
    listing = ns.run("iptables", "-w", "-t", "mangle", "-L", chain, "-v", "-x", "-n").stdout
    total = 0
    for line in listing.splitlines()[2:]:
        if "NFQUEUE" in line and re.search(rf"\bnum {queue_num}\b", line):
            total += int(line.split()[0])
    return total


@dataclass
class Counters:
    ns: NetNS
    queue_num: int
    chain: str
    before: tuple[int, int, int] = (0, 0, 0)

    def read(self) -> tuple[int, int, int]:
        queued, dropped = queue_packets(self.ns, self.queue_num)
        return queued, dropped, rule_packets(self.ns, self.chain, self.queue_num)

    def mark(self) -> None:
        self.before = self.read()

    def proof(self, connected: int) -> tuple[str | None, str]:
        """(proof or None, description) of the interception since `mark`."""
        queued, dropped, ruled = (a - b for a, b in zip(self.read(), self.before, strict=True))
        text = (f"queue {self.queue_num}: {queued:,} packets queued, {dropped:,} dropped; "
                f"iptables {self.chain} NFQUEUE rules: {ruled:,} packets")  # fmt: skip
        return (text if queued >= connected and ruled >= connected else None), text


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of each thread of `pid`, by thread id."""
    usage: dict[str, float] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{tid}/stat") as stat:
            cells = stat.read().rsplit(")", 1)[1].split()
            usage[tid] = (int(cells[11]) + int(cells[12])) / TICK
    return usage


def process_usage(pid: int) -> tuple[float, float]:
    """(CPU seconds, RSS MiB) of `pid`."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    with open(f"/proc/{pid}/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return (int(fields[11]) + int(fields[12])) / TICK, rss / 1024


def measured(name: str, box: Sandbox, count: int, counters: Counters | None = None,
             pid: int | None = None, warmed: Callable[[], Any] | None = None,
             fds: int = 0, client_as: Client = BENCH_CLIENT) -> Run:  # fmt: skip
    """Warm up, then time `count` connects; interception proof and footprint if given
    (`warmed` is called between the two)."""
    connects(box, WARMUP, fds, client_as)
    if warmed:
        warmed()
    if counters:
        counters.mark()
    cpu_before = process_usage(pid)[0] if pid else 0.0
    threads_before = thread_cpu(pid) if pid else {}
    latencies, failed, elapsed = connects(box, count, fds, client_as)
    run = Run(name, latencies, failed, elapsed, firewall=counters is not None)
    if pid:
        cpu, rss = process_usage(pid)
        run.footprint = {"cpu_s": cpu - cpu_before, "rss_mib": rss}
        threads = thread_cpu(pid)
        run.threads = {name: cpu - threads_before.get(name, 0.0)
                       for name, cpu in threads.items()}  # fmt: skip
    if counters:
        run.proof, text = counters.proof(len(latencies))
        if run.proof is None:
            print(f"  {name}: interception NOT shown: {text}", flush=True)
    print(f"  {name}: done, p50 {run.percentile(0.5):,.0f} µs, {run.rate:,.0f} conn/s, "
          f"{failed} failed", flush=True)  # fmt: skip
    return run


def conntrack_count(ns: NetNS) -> int:
    return int(ns.run("cat", "/proc/sys/net/netfilter/nf_conntrack_count").stdout)


def idle_usage(pid: int, seconds: float, ns: NetNS) -> dict[str, float]:
    """CPU and RSS of `pid` over `seconds` of no new connections, and the conntrack
    entries of `ns` (left by the run: they expire during the idle period) at its start."""
    cpu_before, _ = process_usage(pid)
    entries = conntrack_count(ns)
    time.sleep(seconds)
    cpu, rss = process_usage(pid)
    return {"idle_s": seconds, "idle_cpu_s": cpu - cpu_before, "idle_rss_mib": rss,
            "idle_conntrack": entries, "idle_conntrack_end": conntrack_count(ns)}  # fmt: skip


# The candidates


def no_firewall(count: int, _: argparse.Namespace) -> Run:
    with fresh_box() as box, server(box):
        return measured("(a) no firewall", box, count)


def accept_all(name: str, role: str, count: int) -> Run:
    """An accept-all queue reader (`role`) behind Netwarden's own iptables rules."""
    from netwarden_helper.packet_path.netfilter import Interception, IptablesBackend

    with fresh_box() as box, server(box):
        loop = start(box.host, role, str(FLOW_QUEUE))  # bound before the rules
        try:
            box.host.call(IptablesBackend().install, Interception(FLOW_QUEUE, DNS_QUEUE))
            counters = Counters(box.host, FLOW_QUEUE, "NETWARDEN_OUT")
            return measured(name, box, count, counters, loop.pid)
        finally:
            stop(loop)


@contextlib.contextmanager
def netwarden(box: Sandbox, profile: str = "", client_as: Client = BENCH_CLIENT,
              ports: str = str(PORT)) -> Iterator[tuple[subprocess.Popen, Callable]]:  # fmt: skip
    """The helper in `box.host`, allowing `client_as` to the peer's `ports`; yields it
    and a function returning its counters."""
    from netwarden_common.interpreters import interpreter_kind

    script = SCRIPT if interpreter_kind(client_as.exe) else ""
    cgroup = str(client_as.cgroup) if client_as.cgroup else ""
    with tempfile.TemporaryDirectory() as state:
        helper = start(box.host, "helper", state, os.path.realpath(client_as.exe), script,
                       box.peer_v4, ports, profile, cgroup, with_cgroups=bool(cgroup))  # fmt: skip

        def status() -> dict[str, Any]:
            helper.stdin.write("status\n")
            helper.stdin.flush()
            return json.loads(helper.stdout.readline())

        try:
            yield helper, status
        finally:
            helper.stdin.write("quit\n")
            helper.stdin.close()
            try:
                helper.wait(30)
            except subprocess.TimeoutExpired:
                stop(helper)


def netwarden_run(name: str, box: Sandbox, count: int, args: argparse.Namespace,
                  main: bool = False, fds: int = 0,
                  client_as: Client = BENCH_CLIENT) -> Run:  # fmt: skip
    """(c) in `box`; the main run is the one profiled (--profile) and watched idle."""
    profile = args.profile if main else ""
    with server(box), netwarden(box, profile, client_as) as (helper, status):
        quiet = idle_usage(helper.pid, args.idle, box.host) if main and args.idle else {}
        # The warm-up's first flow waits for the binary's hash: then it is cached.
        before: dict[str, Any] = {}
        # with kernel verdicts the queue never sees the flows: the helper's counters prove
        in_kernel_only = client_as.cgroup is not None
        counters = None if in_kernel_only else Counters(box.host, FLOW_QUEUE, "NETWARDEN_OUT")
        run = measured(name, box, count, counters, helper.pid, lambda: before.update(status()),
                       fds, client_as)  # fmt: skip
        run.firewall = True
        after = status()
        run.idle_before = quiet
        names = after.pop("threads")
        run.threads = {names.get(tid, f"thread {tid}"): cpu for tid, cpu in run.threads.items()}
        allowed = after.get("allowed", 0) - before.get("allowed", 0)
        hits = after["rule_hits"] - before["rule_hits"]
        unattributed = after.get("unattributed", 0) - before.get("unattributed", 0)
        defaulted = after.get("default_action", 0) - before.get("default_action", 0)
        in_kernel = after.get("kernel_decided", 0) - before.get("kernel_decided", 0)
        own = (f"helper: {allowed:,} allowed ({in_kernel:,} in the kernel), {hits:,} hits "
               f"on the allow rule, {unattributed} unattributed, "
               f"{defaulted} default actions")  # fmt: skip
        if in_kernel_only:
            run.proof = own if in_kernel >= len(run.latencies_ns) and hits >= in_kernel else None
            if run.proof is None:
                print(f"  {name}: kernel verdicts NOT shown: {own}", flush=True)
        elif run.proof and allowed >= len(run.latencies_ns) and hits >= len(run.latencies_ns):
            run.proof += "; " + own
        else:
            print(f"  {name}: verdicts NOT shown: {own}", flush=True)
            run.proof = None
        if main and args.idle:
            threads_before = thread_cpu(helper.pid)
            run.footprint.update(idle_usage(helper.pid, args.idle, box.host))
            run.idle_threads = {names.get(tid, f"thread {tid}"): cpu - threads_before.get(tid, 0)
                                for tid, cpu in thread_cpu(helper.pid).items()}  # fmt: skip
    return run


@contextlib.contextmanager
def holders(box: Sandbox, count: int) -> Iterator[None]:
    process = start(box.host, "holders", str(count))
    try:
        yield
    finally:
        process.stdin.close()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            stop(process)


def scaled(count: int, args: argparse.Namespace) -> list[Run]:
    """(a), (c) and (d) with EXTRA processes holding sockets; (a) and (c) with a client
    holding CLIENT_FDS sockets."""
    extra, fds, runs = args.extra_processes, args.client_fds, []
    if extra:
        with fresh_box() as box, holders(box, extra):
            total = sum(1 for entry in os.listdir("/proc") if entry.isdigit())
            print(f"  {extra:,} extra processes holding UDP sockets ({total:,} processes "
                  "in all)", flush=True)  # fmt: skip
            with server(box):
                runs.append(measured(f"(a) no firewall, +{extra:,} processes", box, count))
            runs.append(netwarden_run(f"(c) Netwarden, +{extra:,} processes", box, count, args))
        if not args.no_opensnitch:
            outcome = opensnitch(f"(d) OpenSnitch, +{extra:,} processes", count, args, extra)
            if isinstance(outcome, Run):
                runs.append(outcome)
    if fds:
        name = f"client holding {fds:,} sockets"
        with fresh_box() as box:
            with server(box):
                runs.append(measured(f"(a) no firewall, {name}", box, count, fds=fds))
            runs.append(netwarden_run(f"(c) Netwarden, {name}", box, count, args, fds=fds))
        if not args.no_opensnitch:
            outcome = opensnitch(f"(d) OpenSnitch, {name}", count, args, fds=fds)
            if isinstance(outcome, Run):
                runs.append(outcome)
    return runs


OPENSNITCH_CONFIG = {
    "Server": {"Address": "unix:///tmp/osui.sock", "LogFile": "/dev/stderr"},
    "DefaultAction": "allow",
    "DefaultDuration": "once",
    "InterceptUnknown": False,
    "ProcMonitorMethod": "proc",  # no eBPF modules in Debian's package
    "LogLevel": 2,
    "LogUTC": True,
    "LogMicro": False,
    "Firewall": "iptables",  # this kernel has no nft `queue`
    "Rules": {"Path": "/etc/opensnitchd/rules/"},
    "Stats": {"MaxEvents": 150, "MaxStats": 25, "Workers": 6},
    "Internal": {"GCPercent": 100, "FlushConnsOnStart": False},
}

# Runs in `host` (ip netns exec), in a mount namespace of its own: a copy of the cached
# rootfs (an open directory, fd $3: it belongs to the host's mount namespace, so it can be
# neither bind-mounted nor an overlay's lower layer here) on a tmpfs, /proc /sys /dev
# mounted, the config copied in.
OPENSNITCH_LAUNCH = """
set -e
mount --make-rprivate /
root=$(mktemp -d)
mount -t tmpfs tmpfs "$root"
cp -a /proc/self/fd/$3/. "$root"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
mount -t tmpfs tmpfs "$root/run"
mount -t tmpfs tmpfs "$root/tmp"
mkdir -p "$root/etc/opensnitchd/rules"
cp "$1/default-config.json" "$root/etc/opensnitchd/default-config.json"
cp "$1/allow-bench-peer.json" "$root/etc/opensnitchd/rules/allow-bench-peer.json"
exec chroot "$root" /usr/bin/opensnitchd -config-file /etc/opensnitchd/default-config.json \
    -rules-path /etc/opensnitchd/rules -process-monitor-method proc -queue-num "$2"
"""


def opensnitch_rule(peer: str) -> dict[str, Any]:
    stamp = "2026-11-28T00:00:00Z"
    return {
        "created": stamp, "updated": stamp, "name": "allow-bench-peer", "enabled": True,
        "precedence": True, "action": "allow", "duration": "always", "nolog": True,
        "operator": {"type": "simple", "operand": "dest.ip", "sensitive": False,
                     "data": peer, "list": []},
    }  # fmt: skip


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def opensnitch(name: str, count: int, args: argparse.Namespace, extra: int = 0,
               fds: int = 0) -> Run | str:  # fmt: skip
    """(d), or the reason it could not run; with `extra` processes holding sockets, or a
    client holding `fds` sockets."""
    rootfs = args.opensnitch_rootfs
    if not os.path.isfile(f"{rootfs}/usr/bin/opensnitchd"):
        return (f"no OpenSnitch rootfs at {rootfs}: build it on the host with "
                "tools/opensnitch-rootfs and hand it over as fd 3 (make bench does)")  # fmt: skip
    with (
        fresh_box() as box,
        holders(box, extra) if extra else contextlib.nullcontext(),
        server(box),
        tempfile.TemporaryDirectory() as conf,
    ):
        config = {**OPENSNITCH_CONFIG, "LogLevel": 0 if args.opensnitch_debug else 2}
        Path(conf, "default-config.json").write_text(json.dumps(config, indent=1))
        Path(conf, "allow-bench-peer.json").write_text(json.dumps(opensnitch_rule(box.peer_v4)))
        log = open(Path(conf, "opensnitchd.log"), "w+")  # noqa: SIM115 (read back below)
        directory = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY)
        try:
            launcher = subprocess.Popen(
                box.host.command("unshare", "--mount", "--fork", "--kill-child=SIGTERM",
                                 "sh", "-c", OPENSNITCH_LAUNCH, "launch", conf,
                                 str(OPENSNITCH_QUEUE), str(directory)),
                stdout=log, stderr=subprocess.STDOUT, pass_fds=(directory,),
            )  # fmt: skip
        finally:
            os.close(directory)
        daemon: list[int] = []

        def running() -> bool:
            with contextlib.suppress(OSError):
                children = Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children")
                for pid in children.read_text().split():
                    if Path(f"/proc/{pid}/comm").read_text().strip() == "opensnitchd":
                        daemon[:] = [int(pid)]
            rules = box.host.run("iptables", "-w", "-t", "mangle", "-S", "OUTPUT").stdout
            return bool(daemon) and "NFQUEUE" in rules

        try:
            if not wait_for(running, 30) or launcher.poll() is not None:
                log.seek(0)
                return "opensnitchd did not start: " + log.read()[-2000:]
            time.sleep(1)  # its rules are in; let it settle
            counters = Counters(box.host, OPENSNITCH_QUEUE, "OUTPUT")
            run = measured(name, box, count, counters, daemon[0], fds=fds)
            if args.idle and not extra and not fds:
                run.footprint.update(idle_usage(daemon[0], args.idle, box.host))
            if args.opensnitch_debug:
                log.seek(0)
                print("opensnitchd log, last lines:\n" + "".join(log.readlines()[-40:]))
            return run
        finally:
            if daemon:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(daemon[0], signal.SIGTERM)
            try:
                launcher.wait(15)
            except subprocess.TimeoutExpired:
                launcher.kill()
                launcher.wait()
            log.close()


# The report


def table(runs: list[Run], base: Run) -> None:
    print(f"{'candidate':46} {'p50 µs':>8} {'p90 µs':>8} {'p99 µs':>8} {'conn/s':>8}   "
          f"{'p50':>6} {'p90':>6} {'p99':>6} {'conn/s':>6}")  # fmt: skip
    for run in runs:
        cells = [run.percentile(q) for q in (0.5, 0.9, 0.99)]
        bases = [base.percentile(q) for q in (0.5, 0.9, 0.99)]
        ratios = [f"{c / b:5.1f}x" for c, b in zip(cells, bases, strict=True)]
        void = "" if run.proof or not run.firewall else "   VOID: interception not shown"
        rate = f"{run.rate:8,.0f}   {' '.join(ratios)} {run.rate / base.rate:5.2f}x{void}"
        print(f"{run.name:46} {cells[0]:8,.0f} {cells[1]:8,.0f} {cells[2]:8,.0f} {rate}")
    print()
    for run in runs:
        if run.proof:
            print(f"  {run.name}: {run.proof}")
        if run.failed:
            print(f"  {run.name}: {run.failed} connects FAILED")
    print()


def targets(ours: Run, base: Run) -> None:
    added = ours.percentile(0.5) - base.percentile(0.5)
    p99 = ours.percentile(0.99)
    checks = [
        (f"added p50 {added:,.0f} µs (target ≤ 100 µs)", added <= 100),
        (f"p99 {p99:,.0f} µs (target ≤ 1,000 µs)", p99 <= 1000),
        (f"{ours.rate:,.0f} decided connections/s (target ≥ 5,000)", ours.rate >= 5000),
    ]
    for text, met in checks:
        print(f"  {ours.name}: {text}: {'met' if met else 'NOT met'}")
    print()


def kernel_targets(ours: Run, base: Run) -> None:
    """Issue 18's goals for a decided flow with kernel verdicts."""
    p50, p99 = (
        ours.percentile(0.5) / base.percentile(0.5),
        ours.percentile(0.99) / base.percentile(0.99),
    )
    checks = [
        (f"p50 {p50:.1f}x no firewall (target ≤ 2x)", p50 <= 2),
        (f"p99 {p99:.1f}x no firewall (target ≤ 3x)", p99 <= 3),
        (f"{ours.rate:,.0f} decided connections/s (target ≥ 15,000 and ≥ 50% of no "
         f"firewall's {base.rate:,.0f})", ours.rate >= max(15000, base.rate / 2)),
    ]  # fmt: skip
    for text, met in checks:
        print(f"  {ours.name}: {text}: {'met' if met else 'NOT met'}")
    print()


@contextlib.contextmanager
def kernel_client() -> Iterator[Client]:
    """(c2)'s client: a copy of python3 named as no interpreter, in a child cgroup of the
    benchmark's own (the data plane's programs watch it: never the machine's root)."""
    from tests.fixtures.data_plane import CGROUP2, own_cgroup, own_program

    if CGROUP2 is None:
        raise SystemExit("no cgroup2 hierarchy: kernel verdicts cannot be measured")
    with own_program("bench-client") as exe, own_cgroup() as cgroup:
        yield Client(exe, cgroup)


def idle_cells(f: dict[str, float]) -> str:
    entries = f"{f['idle_conntrack']:,.0f} -> {f['idle_conntrack_end']:,.0f}"
    return f"{f['idle_s']:7.0f} {f['idle_cpu_s']:10.2f} {f['idle_rss_mib']:9.1f} {entries:>15}"


def footprint(runs: list[Run], count: int) -> None:
    """CPU and RSS of each firewall process, then CPU by thread for Netwarden's."""
    print(f"{'process':46} {'CPU s/run':>9} {'µs/conn':>8} {'RSS MiB':>8} "
          f"{'idle s':>7} {'idle CPU s':>10} {'idle RSS':>9} {'conntrack':>15}")  # fmt: skip
    for run in runs:
        f = run.footprint
        if not f:
            continue
        if run.idle_before:
            print(f"{run.name.split(',')[0] + ', before any traffic':46} {'':9} {'':8} {'':8} "
                  f"{idle_cells(run.idle_before)}")  # fmt: skip
        idle = idle_cells(f) if "idle_s" in f else ""
        print(f"{run.name:46} {f['cpu_s']:9.2f} {f['cpu_s'] / count * 1e6:8.0f} "
              f"{f['rss_mib']:8.1f} {idle}")  # fmt: skip
    print()
    for run in runs:
        if run.name.startswith("(c)") and run.threads:
            busy = sorted(run.threads.items(), key=lambda item: -item[1])
            parts = ", ".join(f"{name} {cpu:.2f} s" for name, cpu in busy if cpu > 0)
            print(f"  {run.name}: CPU by thread: {parts or 'none measurable'}")
        if run.idle_threads:
            busy = sorted(run.idle_threads.items(), key=lambda item: -item[1])
            parts = ", ".join(f"{name} {cpu:.2f} s" for name, cpu in busy if cpu > 0)
            print(f"  {run.name}: idle CPU by thread: {parts or 'none measurable'}")
    print()


def per_packet_parts() -> None:
    """Time the helper's per-packet steps one by one, in this process (median of 5)."""
    import statistics
    import timeit

    from netwarden_common.rules import validate, with_id
    from netwarden_helper.identity.attribution import SocketOwners, SocketTable
    from netwarden_helper.identity.hashing import file_key
    from netwarden_helper.identity.process_info import read_process, start_time
    from netwarden_helper.packet_path.packet import Packet, parse
    from netwarden_helper.policy.engine import Flow, RuleSet

    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    (src, sport), (dst, dport) = client.getsockname(), client.getpeername()
    syn = bytes.fromhex("4500003c00014000400600007f0000017f000001") + struct.pack(
        "!HHIIBBHHH", sport, dport, 1, 0, 0xA0, 0x02, 64240, 0, 0) + bytes(20)  # fmt: skip
    packet = Packet(4, 6, src, dst, sport, dport, 0x02)
    table, owners, pid = SocketTable(), SocketOwners(), os.getpid()
    inode = table.owner(packet)[0]
    exe = os.path.realpath(sys.executable)
    rule = validate({"action": "allow", "exe": exe, "sha256": "a" * 64, "uid": 0,
                     "destination": dst, "ports": str(dport), "protocol": "tcp"})  # fmt: skip
    rules = RuleSet([with_id(rule, 1, 0.0)])
    flow = Flow(exe=exe, dst=dst, protocol="tcp", dport=dport, uid=0, sha256="a" * 64)

    def timed(step: Callable[[], Any], number: int = 2000) -> float:
        runs = timeit.repeat(step, number=number, repeat=5)
        return statistics.median(runs) / number * 1e6

    steps = [
        ("parse the SYN (packet.parse)", lambda: parse(syn)),
        ("sock_diag exact lookup (SocketTable.owner)", lambda: table.owner(packet)),
        ("process still the same? (start_time)", lambda: start_time(pid)),
        ("binary identity (file_key)", lambda: file_key(pid)),
        ("decide, one rule (RuleSet.decide)", lambda: rules.decide(flow, time.time())),
    ]
    results = [(name, timed(step)) for name, step in steps]
    fds = len(os.listdir("/proc/self/fd"))
    scan = timed(lambda: owners._scan(pid, inode), 200)
    results.append((f"inode -> pid: rescan a {fds}-fd process", scan))
    held = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(500)]
    fds = len(os.listdir("/proc/self/fd"))
    scan = timed(lambda: owners._scan(pid, inode), 20)
    results.append((f"inode -> pid: rescan a {fds}-fd process", scan))
    results.append(("read_process (once per new pid)", timed(lambda: read_process(pid), 200)))
    print("The helper's per-packet steps, timed alone (µs, median of 5):")
    for name, micros in results:
        print(f"  {name:46} {micros:8.1f}")
    print()
    for sock in (*held, client, listener):
        sock.close()
    table.close()


def print_profile(path: str) -> None:
    import pstats

    print("Netwarden helper profile (main run, loop thread):")
    stats = pstats.Stats(path, stream=sys.stdout)
    stats.strip_dirs().sort_stats("tottime").print_stats(20)
    stats.sort_stats("cumulative").print_stats(25)


def main() -> None:
    roles = {"server": lambda a: role_server(a[0], int(a[1])),
             "client": lambda a: role_client(a[0], int(a[1]), int(a[2]), int(a[3])),
             "accept_all": lambda a: role_accept_all(int(a[0])),
             "accept_all_glib": lambda a: role_accept_all_glib(int(a[0])),
             "helper": lambda a: role_helper(*a),
             "holders": lambda a: role_holders(int(a[0]))}  # fmt: skip
    if len(sys.argv) > 1 and sys.argv[1] in roles:
        roles[sys.argv[1]](sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=5000, help="per candidate")
    parser.add_argument("--quick", action="store_true",
                        help="1,000 connections, 5 s idle, no OpenSnitch")  # fmt: skip
    parser.add_argument("--idle", type=float, default=60.0,
                        help="seconds of idle footprint (default 60; 0 skips)")  # fmt: skip
    parser.add_argument(
        "--extra-processes",
        type=int,
        default=1000,
        help="scale: processes holding a socket (default 1,000; 0 skips)",
    )
    parser.add_argument(
        "--client-fds",
        type=int,
        default=500,
        help="scale: sockets the client holds open (default 500; 0 skips)",
    )
    parser.add_argument(
        "--opensnitch-rootfs",
        default="/proc/self/fd/3",
        help="the rootfs from tools/opensnitch-rootfs (default: fd 3)",
    )
    parser.add_argument("--no-opensnitch", action="store_true")
    parser.add_argument(
        "--opensnitch-debug",
        action="store_true",
        help="debug logs from opensnitchd (slower), last lines shown",
    )
    parser.add_argument("--profile", default="", help="cProfile the helper into this file")
    args = parser.parse_args()
    count = args.connections
    if args.quick:
        count, args.idle, args.no_opensnitch = min(count, 1000), min(args.idle, 5.0), True
    print(f"{count:,} sequential TCP connects per candidate (after {WARMUP} to warm up), "
          f"host ns -> server in peer ns, {os.cpu_count()} cores\n", flush=True)  # fmt: skip
    base = no_firewall(count, args)
    runs = [
        base,
        accept_all("(b) Python accept-all NFQUEUE", "accept_all", count),
        accept_all("(b2) accept-all, helper's GLib loop", "accept_all_glib", count),
    ]
    with fresh_box() as box:
        ours = netwarden_run("(c) Netwarden, cached allow rule", box, count, args, main=True)
    runs.append(ours)
    with fresh_box() as box, kernel_client() as client_as:
        kernel = netwarden_run("(c2) Netwarden, kernel verdicts", box, count, args,
                               client_as=client_as)  # fmt: skip
    runs.append(kernel)
    skipped = "skipped (--quick or --no-opensnitch)"
    if not args.no_opensnitch:
        outcome = opensnitch("(d) OpenSnitch 1.6.9", count, args)
        if isinstance(outcome, Run):
            runs.append(outcome)
            skipped = ""
        else:
            skipped = outcome
    scale = scaled(count, args)
    print("\n## Connection latency (ratios: to no firewall, same run)\n")
    table(runs, base)
    if skipped:
        print(f"  (d) OpenSnitch: not measured: {skipped}\n")
    targets(ours, base)
    kernel_targets(kernel, base)
    if scale:
        print("## Scale (ratios: to no firewall without extras, same run)\n")
        table(scale, base)
        print(f"  added p50 of {ours.name}: {ours.percentile(0.5) - base.percentile(0.5):,.0f} µs")
        for plain, loaded in itertools.pairwise(scale):
            if plain.name.startswith("(a)") and loaded.name.startswith("(c)"):
                added = loaded.percentile(0.5) - plain.percentile(0.5)
                print(f"  added p50 of {loaded.name}: {added:,.0f} µs (over {plain.name})")
        print()
    print("## Footprint (each firewall process, over its measured run; then idle)\n")
    footprint(runs + scale, count)
    per_packet_parts()
    if args.profile:
        print_profile(args.profile)


if __name__ == "__main__":
    main()
