"""Benchmark: the prompt path, from a held connection to the answer letting it through.

netwarden-helper as shipped runs in fresh namespaces (`host`, `peer`) on a private
system bus with polkitd (the test fixtures, via bench/throughput.py); no rule covers the
client. A prompt agent (root's, as an app registers: RegisterPromptAgent, signals on a
GLib loop) answers every PromptRaised with AnswerPrompt "allow, once", while one client
process in `host` makes PROMPTS sequential connects to connect_latency's server in
`peer` (after WARMUP prompts, the first of which waits for the interpreter's hash).
Timed per prompt, on CLOCK_MONOTONIC across the processes: connect() start -> the agent
has PromptRaised; the AnswerPrompt call -> the client's connect() returns (the figure the
issue asks for); AnswerPrompt's own reply. Baseline, same run: connect() with no
firewall (connect_latency's sequential client). The prompt count is proved by the
helper's counters and PromptClosed outcomes.

    tools/devenv run -- python3 bench/prompt_path.py [--prompts N]
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dbus
import dbus.mainloop.glib
from gi.repository import GLib

from bench.connect_latency import PORT, Run, fresh_box, no_firewall, server
from bench.throughput import counters, real_helper
from netwarden_common.api import INTERFACE
from tests.fixtures.api import ApiClient

SCRIPT = str(Path(__file__).resolve())
WARMUP = 5


def role_client(address: str, port: int, count: int) -> None:
    """`count` sequential connects, each held until answered; one JSON line each:
    connect() start and end (monotonic ns) and whether it connected."""
    for _ in range(count):
        sock = socket.socket()
        sock.settimeout(30)
        began = time.perf_counter_ns()  # CLOCK_MONOTONIC, like time.monotonic_ns
        try:
            sock.connect((address, port))
            ok = True
        except OSError:
            ok = False
        ended = time.perf_counter_ns()
        sock.close()
        print(json.dumps({"start": began, "end": ended, "ok": ok}), flush=True)


class Agent:
    """Root's prompt agent: PromptRaised arrive on the default GLib context, stamped."""

    def __init__(self, bus: Any) -> None:
        self.client = ApiClient(bus, uid=0, mainloop=dbus.mainloop.glib.DBusGMainLoop())
        self.raised: list[tuple[int, int]] = []  # (prompt id, monotonic ns received)
        self.closed: list[str] = []
        connection = self.client.connection
        connection.add_signal_receiver(
            lambda prompt: self.raised.append((int(prompt["id"]), time.monotonic_ns())),
            "PromptRaised", INTERFACE,
        )  # fmt: skip
        connection.add_signal_receiver(lambda _id, outcome: self.closed.append(str(outcome)),
                                       "PromptClosed", INTERFACE)  # fmt: skip
        self.client.call("RegisterPromptAgent", {})

    def next_prompt(self, timeout: float = 30) -> tuple[int, int]:
        """Block on the GLib context until the next PromptRaised (no polling delay)."""
        wake = GLib.timeout_add(100, lambda: True)  # bounds each blocking iteration
        deadline = time.monotonic() + timeout
        try:
            while not self.raised:
                if time.monotonic() > deadline:
                    raise TimeoutError("no PromptRaised in time")
                GLib.MainContext.default().iteration(True)
        finally:
            GLib.source_remove(wake)
        return self.raised.pop(0)


def prompts(count: int) -> tuple[list[Run], str]:
    """`count` prompts answered (after WARMUP); the timed parts as Runs, and the proof."""
    raised, answered, replied = [], [], []
    with fresh_box() as box, server(box), real_helper(box) as (bus, root, _pid):
        agent = Agent(bus)
        client = box.host.popen(sys.executable, SCRIPT, "client", box.peer_v4, str(PORT),
                                str(WARMUP + count), stdout=subprocess.PIPE, text=True)  # fmt: skip
        try:
            before = counters(root)
            for index in range(WARMUP + count):
                if index == WARMUP:
                    before = counters(root)
                prompt_id, seen = agent.next_prompt()
                asked = time.monotonic_ns()
                reply = agent.client.call("AnswerPrompt", prompt_id,
                                          {"action": "allow", "lifetime": "once"})  # fmt: skip
                done = time.monotonic_ns()
                outcome = json.loads(client.stdout.readline())
                if dict(reply) or not outcome["ok"]:
                    raise RuntimeError(f"prompt {prompt_id}: {dict(reply)}, {outcome}")
                if index >= WARMUP:
                    raised.append(seen - outcome["start"])
                    answered.append(outcome["end"] - asked)
                    replied.append(done - asked)
            client.wait(10)
            delta = counters(root) - before
            GLib.MainContext.default().iteration(False)
            proof = (f"helper: {delta['allowed']:,} allowed, {delta['default_action']} "
                     f"default actions, {delta['errors']} errors; PromptClosed: "
                     f"{agent.closed.count('answered'):,} answered of "
                     f"{len(agent.closed):,}")  # fmt: skip
        finally:
            if client.poll() is None:
                client.kill()
                client.wait()
            agent.client.close()
    runs = [
        Run("connect() start -> PromptRaised at the agent", raised, 0, 0.0),
        Run("AnswerPrompt call -> AnswerPrompt reply", replied, 0, 0.0),
        Run("AnswerPrompt call -> client's connect() returns", answered, 0, 0.0),
    ]
    proven = delta["allowed"] >= count and not delta["default_action"] and not delta["errors"]
    return runs, proof if proven else f"NOT shown: {proof}"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "client":
        role_client(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=200, help="timed prompts (200)")
    parser.add_argument("--connections", type=int, default=2000,
                        help="no-firewall baseline connects (2,000)")  # fmt: skip
    args = parser.parse_args()
    print(f"{args.prompts} prompts answered (after {WARMUP}), {os.cpu_count()} cores\n",
          flush=True)  # fmt: skip
    base = no_firewall(args.connections, args)
    runs, proof = prompts(args.prompts)
    print("\n## Prompt path (ratios: to a no-firewall connect(), same run)\n")
    print(f"{'step':50} {'p50 µs':>8} {'p90 µs':>8} {'p99 µs':>8} {'p50':>7} {'p99':>7}")
    for run in [base, *runs]:
        cells = [run.percentile(q) for q in (0.5, 0.9, 0.99)]
        ratios = f"{cells[0] / base.percentile(0.5):6.0f}x {cells[2] / base.percentile(0.99):6.0f}x"
        print(f"{run.name:50} {cells[0]:8,.0f} {cells[1]:8,.0f} {cells[2]:8,.0f} {ratios}")
    print(f"\n  {len(runs[0].latencies_ns)} prompts; {proof}\n")


if __name__ == "__main__":
    main()
