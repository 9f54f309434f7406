"""Benchmark: one flow's decision with 10, 1,000 and 10,000 rules.

The rules are a mix (a quarter each): host rules (a program to a host and port), CIDR
rules (any program to a /24), domain rules (any program to `*.domain`) and program rules
(a program anywhere). Flows meet each kind, and none. Side by side in one run: the
helper's indexed `RuleSet.decide` and the linear reference, every rule tried in
precedence order (the engine before the index).

    sudo make bench            (or: tools/devenv run -- python3 bench/rule_decisions.py)
"""

import argparse
import ipaddress
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from netwarden_common.rules import Rule, normalize_host
from netwarden_helper.policy.engine import Decision, Flow, Matcher, RuleSet, decide_among

SIZES = (10, 1_000, 10_000)
REPEAT = 5


def mixed_rules(count: int, chance: random.Random) -> list[Rule]:
    """`count` rules, a quarter of each kind, with ids."""
    rules = []
    for i in range(count):
        action = chance.choice(("allow", "deny"))
        kind = i % 4
        if kind == 0:
            rule = Rule(action, exe=f"/usr/bin/p{i % 200}", destination=f"h{i}.example.com",
                        ports="443")  # fmt: skip
        elif kind == 1:
            rule = Rule(action, destination=f"10.{i // 256 % 256}.{i % 256}.0/24")
        elif kind == 2:
            rule = Rule(action, destination=f"*.d{i}.test")
        else:
            rule = Rule(action, exe=f"/usr/bin/q{i}")
        rules.append(replace(rule, id=i + 1))
    return rules


def flows(count: int) -> dict[str, Flow]:
    """A flow each kind of rule decides (the last of its kind), and one none does."""
    last = count - 1
    host, cidr, domain, program = (last - (last - k) % 4 for k in range(4))
    return {
        "host rule": Flow(exe=f"/usr/bin/p{host % 200}", dst="192.0.2.1", protocol="tcp",
                          dport=443, hosts=(f"h{host}.example.com",)),
        "CIDR rule": Flow(exe="/usr/bin/x", dst=f"10.{cidr // 256 % 256}.{cidr % 256}.9",
                          protocol="tcp", dport=443),
        "domain rule": Flow(exe="/usr/bin/x", dst="192.0.2.2", protocol="tcp", dport=443,
                            hosts=(f"www.cdn.d{domain}.test",)),
        "program rule": Flow(exe=f"/usr/bin/q{program}", dst="192.0.2.3", protocol="udp",
                             dport=53),
        "no rule": Flow(exe="/usr/bin/x", dst="198.51.100.1", protocol="tcp", dport=443,
                        hosts=("www.example.org",)),
    }  # fmt: skip


def destination_matches(matcher: Matcher, flow: Flow) -> bool:
    """One of the rule's destinations (or any) is the flow's, entry by entry: how the
    engine matched destinations before the index."""
    if not matcher.destinations:
        return True
    try:
        address: Any = ipaddress.ip_address(flow.dst)
    except ValueError:
        address = None
    hosts = [normalize_host(h) for h in flow.hosts]
    for kind, value in matcher.destinations:
        if kind == "ip" and address == value:
            return True
        if kind == "network" and address is not None and address in value:
            return True
        if kind == "host" and value in hosts:
            return True
        if kind == "domain" and any(h == value or h.endswith("." + value) for h in hosts):
            return True
    return False


def linear(rule_set: RuleSet, flow: Flow, now: float) -> Decision:
    """The reference: every rule tried in precedence order, its destination last (as the
    engine did before the index)."""
    tried = (m for m in rule_set.matchers if m.holds(flow) and destination_matches(m, flow))
    return decide_among(tried, flow, now)


def per_call(function: Callable[[], object], loops: int) -> float:
    """Median seconds per call over `REPEAT` runs of `loops` calls, after one more run
    to warm up."""
    times = []
    for _ in range(REPEAT + 1):
        began = time.perf_counter()
        for _ in range(loops):
            function()
        times.append((time.perf_counter() - began) / loops)
    return statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=2_000, help="indexed decisions per run")
    args = parser.parse_args()
    chance = random.Random(22)
    print(f"{'rules':>7}  {'flow':<14}{'indexed':>12}{'linear':>12}{'ratio':>8}")
    indexed_at: dict[int, list[float]] = {}
    for size in SIZES:
        rule_set = RuleSet(mixed_rules(size, chance))
        for label, flow in flows(size).items():
            decision = rule_set.decide(flow, 0.0)
            assert decision == linear(rule_set, flow, 0.0)
            assert (decision.rule is None) == (label == "no rule"), label
            ours = per_call(lambda r=rule_set, f=flow: r.decide(f, 0.0), args.loops)
            slow = per_call(lambda r=rule_set, f=flow: linear(r, f, 0.0), max(3, 20_000 // size))
            indexed_at.setdefault(size, []).append(ours)
            print(f"{size:>7,}  {label:<14}{ours * 1e6:>9.1f} µs{slow * 1e6:>9.1f} µs"
                  f"{slow / ours:>7.0f}x")  # fmt: skip
    base = statistics.mean(indexed_at[SIZES[0]])
    for size in SIZES:
        mean = statistics.mean(indexed_at[size])
        print(
            f"indexed, mean of the flows, {size:,} rules: {mean * 1e6:.1f} µs "
            f"({mean / base:.2f}x the {SIZES[0]}-rule figure)"
        )


if __name__ == "__main__":
    main()
