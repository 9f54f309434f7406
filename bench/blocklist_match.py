"""Benchmark: loading a 200,000-name blocklist and matching flows' host names against it.

Builds a hosts file of DOMAINS names, then times, side by side in one run: parsing and
merging it into the helper's `DomainMatcher` against a baseline that only splits the
lines into a list; and one flow's lookup (listed by suffix, listed exactly, not listed)
against the baseline a naive matcher would make, a scan of the list with `endswith`.

    sudo make bench            (or: tools/devenv run -- python3 bench/blocklist_match.py)
"""

import argparse
import statistics
import time
from collections.abc import Callable

from netwarden_helper.blocklists.formats import parse_list
from netwarden_helper.policy.domain_lists import DomainMatcher

REPEAT = 5
LOOPS = 100_000  # lookups per timed run


def timed(function: Callable[[], object], repeat: int = REPEAT) -> float:
    """Median seconds of `repeat` runs."""
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        function()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def naive_listed(names: list[str], host: str) -> bool:
    return any(host == name or host.endswith("." + name) for name in names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=200_000)
    args = parser.parse_args()
    text = "\n".join(f"0.0.0.0 host{i}.tracker{i % 997}.example" for i in range(args.domains))
    text += "\n0.0.0.0 blocked.example\n"
    data = text.encode()

    def load() -> DomainMatcher:
        return DomainMatcher.merged({1: parse_list(data).entries})

    def naive_load() -> list[str]:
        return [line.split()[1] for line in text.splitlines()]

    matcher, names = load(), naive_load()
    print(f"{len(matcher):,} names")
    print(f"{'':<28}{'Netwarden':>14}{'naive scan':>14}{'ratio':>8}")
    ours, naive = timed(load), timed(naive_load)
    print(f"{'load (parse + build)':<28}{ours * 1e3:>11.0f} ms{naive * 1e3:>11.0f} ms"
          f"{naive / ours:>7.2f}x")  # fmt: skip
    for label, host in [("listed by suffix", "a.b.cdn.blocked.example"),
                        ("listed exactly", f"host{args.domains // 2}.tracker"
                                           f"{args.domains // 2 % 997}.example"),
                        ("not listed", "www.example.org")]:  # fmt: skip
        assert matcher.listed_by([host]) is not None or label == "not listed"
        assert naive_listed(names, host) == (label != "not listed")
        ours = timed(lambda h=host: [matcher.listed_by((h,)) for _ in range(LOOPS)]) / LOOPS
        naive = timed(lambda h=host: naive_listed(names, h), repeat=3)
        print(f"{'lookup: ' + label:<28}{ours * 1e6:>11.2f} µs{naive * 1e6:>11.0f} µs"
              f"{naive / ours:>7.0f}x")  # fmt: skip


if __name__ == "__main__":
    main()
