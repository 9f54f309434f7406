"""Benchmark: a decision into a real journald, two ways, in the same run: the helper's
hand-written native protocol (helper/records/journal.py: `encode` + one `sendto` on its
own datagram socket) and python-systemd's `systemd.journal.send` (libsystemd's
sd_journal_sendv), with the same fields.

The reference rootfs is booted with systemd as PID 1 (tests/fixtures/booted.py), so the
entries go to the machine's own systemd-journald, its rate limit switched off for the
run. The checkout's helper and common packages are copied in; the timed loop runs inside
the machine: ROUNDS rounds, each sending ENTRIES decisions one way then the other (the
order alternating), the cost per entry of each round, median and spread printed. Then
the journal is asked how many entries of each way arrived.

    tools/devenv run -- python3 bench/journal_send.py [--entries N] [--rounds N]
"""

import argparse
import shutil
from pathlib import Path

from tests.fixtures.booted import booted_machine
from tests.fixtures.netns import sandbox

CHECKOUT = Path(__file__).resolve().parents[1]
INSIDE = """
import socket, statistics, sys, time
sys.path.insert(0, "/root/nw")
from systemd import journal
from netwarden_helper.policy.engine import Flow
from netwarden_helper.records.journal import JOURNAL_SOCKET, decision_fields, encode

entries, rounds = int(sys.argv[1]), int(sys.argv[2])
flow = Flow(exe="/usr/bin/curl", uid=1000, dst="192.0.2.2", dport=443, protocol="tcp",
            hosts=("ads.example.com",))
fields = decision_fields(flow, "deny", "blocklist", None)
out = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
out.settimeout(1.0)

def native(way):
    for _ in range(entries):
        out.sendto(encode({**decision_fields(flow, "deny", "blocklist", None),
                           "BENCH_WAY": way}), JOURNAL_SOCKET)

def python_systemd(way):
    for _ in range(entries):
        made = decision_fields(flow, "deny", "blocklist", None)
        journal.send(made.pop("MESSAGE"), BENCH_WAY=way, **made)

ways = {"native": native, "journal.send": python_systemd}
costs = {name: [] for name in ways}
for r in range(rounds):
    for name in (list(ways) if r % 2 == 0 else list(ways)[::-1]):
        start = time.perf_counter_ns()
        ways[name](name)
        costs[name].append((time.perf_counter_ns() - start) / entries / 1000)
for name, values in costs.items():
    print(f"{name:13} {statistics.median(values):6.2f} us/entry "
          f"(min {min(values):.2f}, max {max(values):.2f})")
print("fields", sorted(fields))
"""
JOURNALD = "[Journal]\nRateLimitIntervalSec=0\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    with sandbox() as net, booted_machine(net.host) as machine:
        for source, package in (("helper", "netwarden_helper"), ("common", "netwarden_common")):
            shutil.copytree(CHECKOUT / source, machine.path(f"/root/nw/{package}"),
                            ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
        machine.write("/etc/systemd/journald.conf.d/bench.conf", JOURNALD)
        machine.run("systemctl", "restart", "systemd-journald")
        machine.write("/root/inside.py", INSIDE)
        result = machine.run("python3", "/root/inside.py", str(args.entries), str(args.rounds),
                             timeout=600)  # fmt: skip
        print(f"{args.entries} entries a round, {args.rounds} rounds, into systemd-journald")
        print(result.stdout, end="")
        machine.run("journalctl", "--sync")
        sent = args.entries * args.rounds
        for way in ("native", "journal.send"):
            count = machine.run("sh", "-c", f"journalctl -o cat BENCH_WAY={way} | wc -l")
            print(f"{way:13} {int(count.stdout)} of {sent} in the journal")
        one = machine.run("journalctl", "-o", "verbose", "-n", "1", "BENCH_WAY=journal.send")
        extra = [line.split("=")[0].strip() for line in one.stdout.splitlines()
                 if line.strip().startswith("CODE_")]  # fmt: skip
        print("journal.send adds", ", ".join(extra) or "nothing")


if __name__ == "__main__":
    main()
