"""Benchmark: a blocklist of 1,000,000 names: memory, load time and lookups (issue 22).

The list is a hosts file of NAMES generated names (`0.0.0.0 host<i>.tracker<i % 997>.example`).

1. The two designs side by side, each in a fresh Python process that imports the helper's
   modules, on the same file: "before", the design up to 2026-12-02 (reproduced below:
   each list's names kept as strings in a frozenset, merged into a dict {name: list id},
   one dict lookup per label) and "after", the helper's code (`formats.parse_list`, sorted
   64-bit hashes in `DomainMatcher`, memory given back with `release_memory`). Figures:
   load time (read, parse, merge), RSS growth once loaded, after the list was replaced by
   another as large, after a list of as many lines was refused, after the lists were
   dropped; lookups of one host name (listed by suffix, listed exactly, not listed).
2. The real helper (`netwarden-helper` in a network namespace, on a private system bus,
   with polkitd): its RSS idle (the baseline), with the list subscribed (AddBlocklist of a
   local file), after the file changed and UpdateBlocklists, after a refused list, after
   both were removed; and its peak RSS (VmHWM).

    sudo make bench            (or: tools/devenv run -- python3 bench/blocklist_memory.py)
"""

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

SCRIPT = str(Path(__file__).resolve())
LOOPS = 100_000


def lookups(names: int) -> dict[str, str]:
    """{what: host name} for the lookups timed."""
    middle = names // 2
    return {"listed by suffix": "a.b.cdn.host5.tracker5.example",
            "listed exactly": f"host{middle}.tracker{middle % 997}.example",
            "not listed": "www.example.org"}  # fmt: skip


def generate(path: Path, names: int, word: str = "tracker") -> None:
    with open(path, "w") as file:
        for i in range(names):
            file.write(f"0.0.0.0 host{i}.{word}{i % 997}.example\n")


def refused_list(path: Path, lines: int) -> None:
    """As many lines as the list, none of which a firewall can use (cosmetic rules)."""
    with open(path, "w") as file:
        for i in range(lines):
            file.write(f"example{i}.org##.banner\n")


def rss_mib(pid: str = "self", field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise LookupError(field)


# The design before 2026-12-02, as it was (helper/policy/domain_lists.py then)

_OLD_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
                       r"(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$")  # fmt: skip
_OLD_SINKS = frozenset({"0.0.0.0", "127.0.0.1", "::", "::1"})


def _old_parse(data: bytes) -> frozenset[str]:
    domains = set()
    for line in data.decode("utf-8", errors="replace").splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) == 2 and words[0] in _OLD_SINKS:
            name = words[1].strip().lower().rstrip(".")
            if _OLD_NAME.match(name):
                domains.add(name)
    return frozenset(domains)


def _old_merged(lists: dict[int, frozenset[str]]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for list_id in sorted(lists, reverse=True):
        merged.update(dict.fromkeys(lists[list_id], list_id))
    return merged


def _old_listed_by(merged: dict[str, int], host: str) -> int | None:
    start = 0
    while True:
        if (found := merged.get(host[start:])) is not None:
            return found
        start = host.find(".", start) + 1
        if not start:
            return None


# Part 1: one design in this process (`blocklist_memory.py design NAME FOLDER`)


def timed(function: Callable[[], object]) -> float:
    began = time.perf_counter()
    function()
    return time.perf_counter() - began


def run_design(design: str, folder: Path, names: int) -> None:
    import netwarden_helper.composition  # noqa: F401 (the helper's modules, as in the helper)
    from netwarden_helper.blocklists.formats import parse_list
    from netwarden_helper.policy.domain_lists import DomainMatcher
    from netwarden_helper.runtime.memory import release_memory

    def load(name: str) -> object:
        data = (folder / name).read_bytes()
        if design == "before":
            return _old_parse(data)
        return parse_list(data).entries

    def merged(lists: dict) -> object:
        return _old_merged(lists) if design == "before" else DomainMatcher.merged(lists)

    def settle() -> float:
        if design == "after":
            release_memory()
        return rss_mib()

    figures: dict[str, float] = {"start": settle()}
    lists: dict[int, object] = {}
    began = time.perf_counter()
    lists[1] = load("list.hosts")
    matcher = merged(lists)
    figures["load_s"] = time.perf_counter() - began
    figures["loaded"] = settle()
    for label, host in lookups(names).items():
        if design == "before":
            found = _old_listed_by(matcher, host)  # type: ignore[arg-type]
            seconds = statistics.median(timed(
                lambda h=host: [_old_listed_by(matcher, h) for _ in range(LOOPS)])
                for _ in range(3))  # fmt: skip
        else:
            found = matcher.listed_by((host,))  # type: ignore[attr-defined]
            seconds = statistics.median(timed(
                lambda h=host: [matcher.listed_by((h,)) for _ in range(LOOPS)])
                for _ in range(3))  # fmt: skip
        assert (found is None) == (label == "not listed"), (design, label)
        figures[f"lookup {label}"] = seconds / LOOPS
    lists[1] = load("other.hosts")
    matcher = merged(lists)
    figures["replaced"] = settle()
    if design == "before":
        _old_parse((folder / "refused.txt").read_bytes())  # "no host names": dropped
    else:
        parse_list((folder / "refused.txt").read_bytes())
    figures["refused"] = settle()
    lists.clear()
    matcher = merged(lists)
    figures["dropped"] = settle()
    print(json.dumps(figures))


def design_figures(design: str, folder: Path, names: int) -> dict[str, float]:
    done = subprocess.run([sys.executable, SCRIPT, "design", design, str(folder), str(names)],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(done.stdout)


# Part 2: the real helper


def helper_figures(folder: Path, names: int) -> list[tuple[str, float, float]]:
    """(step, RSS MiB, seconds) of the real helper."""
    from tests.fixtures import polkit as polkit_fixture
    from tests.fixtures.api import ApiClient
    from tests.fixtures.helper import running_helper
    from tests.fixtures.netns import sandbox
    from tests.fixtures.processes import wait_for
    from tests.fixtures.system_bus import system_bus

    lists = folder / "lists"
    lists.mkdir()
    generate(lists / "big.hosts", names)
    refused_list(lists / "refused.txt", names)
    rows = []
    with (
        sandbox() as netns,
        system_bus() as bus,
        polkit_fixture.polkitd(bus, polkit_fixture.rules()),
        running_helper(
            bus, netns.host, folder / "state", f"--blocklists-dir={lists}"
        ) as helper,  # fmt: skip
    ):
        pid, root = str(helper.pid), ApiClient(bus, uid=0)

        def listed() -> dict[str, dict]:
            return {b["name"]: dict(b) for b in root.call("ListBlocklists")}

        def step(name: str, seconds: float = 0.0) -> None:
            time.sleep(1)  # the worker gives memory back after the loop took the new lists
            rows.append((name, rss_mib(pid), seconds))

        step("idle, no list")
        began = time.perf_counter()
        big = root.call("AddBlocklist", {"source": str(lists / "big.hosts")})["id"]
        wait_for(lambda: listed()["big.hosts"]["domains"] == names, 60, "the list to load")
        step(f"{names:,} names in use", time.perf_counter() - began)
        generate(lists / "big.hosts", names, word="trackar")
        began = time.perf_counter()
        root.call("UpdateBlocklists")
        step("the list replaced (file changed, update)", time.perf_counter() - began)
        refused = root.call("AddBlocklist", {"source": str(lists / "refused.txt")})["id"]
        wait_for(lambda: listed()["refused.txt"].get("checked_at"), 60, "the refusal")
        assert listed()["refused.txt"]["error"].startswith("no host names"), listed()
        step(f"+ a refused list of {names:,} lines")
        root.call("RemoveBlocklist", refused)
        root.call("RemoveBlocklist", big)
        step("both removed")
        rows.append(("peak (VmHWM)", rss_mib(pid, "VmHWM"), 0.0))
        root.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=1_000_000)
    parser.add_argument("--no-helper", action="store_true", help="only the designs (part 1)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="netwarden-bench-") as scratch:
        folder = Path(scratch)
        generate(folder / "list.hosts", args.names)
        generate(folder / "other.hosts", args.names, word="trackar")
        refused_list(folder / "refused.txt", args.names)
        before = design_figures("before", folder, args.names)
        after = design_figures("after", folder, args.names)
        print(f"{args.names:,} names; RSS growth over the process's own at start")
        print(f"{'':<34}{'before':>12}{'after':>12}{'ratio':>8}")
        print(f"{'load (read, parse, merge)':<34}{before['load_s']:>10.2f} s"
              f"{after['load_s']:>10.2f} s{before['load_s'] / after['load_s']:>7.2f}x")  # fmt: skip
        steps = {"loaded": "RSS, the list in use", "replaced": "RSS, replaced",
                 "refused": "RSS, + a refused list", "dropped": "RSS, dropped"}  # fmt: skip
        for key, label in steps.items():
            old, new = before[key] - before["start"], after[key] - after["start"]
            print(f"{label:<34}{old:>8.1f} MiB{new:>8.1f} MiB"
                  f"{old / new if new >= 1 else float('nan'):>7.1f}x")  # fmt: skip
        for label in lookups(args.names):
            old, new = before[f"lookup {label}"], after[f"lookup {label}"]
            print(f"{'lookup: ' + label:<34}{old * 1e6:>9.2f} µs{new * 1e6:>9.2f} µs"
                  f"{old / new:>7.2f}x")  # fmt: skip
        if args.no_helper:
            return
        print(f"\nthe real helper ({args.names:,} names)")
        print(f"{'':<44}{'RSS':>12}{'time':>10}")
        for step, rss, seconds in helper_figures(folder, args.names):
            took = f"{seconds:>8.2f} s" if seconds else ""
            print(f"{step:<44}{rss:>8.1f} MiB{took:>10}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["design"]:
        run_design(sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
