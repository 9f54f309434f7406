"""`netwardenctl silent`: Silent Mode (no prompts; what would have asked gets the chosen
action) and the "would have asked" list, grouped by program and destination."""

import argparse
import time
from collections import Counter
from typing import Any

from netwarden.cli import output
from netwarden.cli.bus import Helper
from netwarden.cli.output import wants_json
from netwarden_common.dbus_values import dictionary

REVIEW_DAYS = 7  # how far back the list looks
STATES = {
    "off": "off: connections no rule covers are asked about",
    "allow": "on: connections no rule covers are allowed without asking",
    "deny": "on: connections no rule covers are denied without asking",
}


def would_have_asked(helper: Helper, all_users: bool) -> list[dict[str, Any]]:
    """What Silent Mode decided in the last REVIEW_DAYS: one entry per program, user and
    destination, with how often and when last, most recent first."""
    query: dict[str, Any] = {"decided_by": "silent", "since": time.time() - REVIEW_DAYS * 86400,
                             "limit": 1000}  # fmt: skip
    if all_users:
        query["all_users"] = True
    flows = helper.call("QueryHistory", dictionary(query))["flows"]
    counts: Counter[tuple] = Counter()
    latest: dict[tuple, dict[str, Any]] = {}
    for flow in flows:  # newest first
        key = (output.flow_program(flow), flow.get("uid"), output.destination(flow),
               flow.get("verdict"))  # fmt: skip
        counts[key] += 1
        latest.setdefault(key, flow)
    return [{**latest[key], "count": counts[key]} for key in latest]


def silent(helper: Helper, args: argparse.Namespace) -> int:
    if args.mode is not None:
        values = helper.call("SetSettings", dictionary({"silent_mode": args.mode}))
        mode = values["silent_mode"]
    else:
        mode = helper.call("GetSettings")["silent_mode"]
    entries = would_have_asked(helper, args.all_users)
    if wants_json(args):
        output.print_json({"silent_mode": mode, "would_have_asked": entries})
        return 0
    print(f"Silent Mode {STATES.get(mode, mode)}")
    if entries:
        print(f"Would have asked (last {REVIEW_DAYS} days):")
        print(output.table(entries, output.SILENT_COLUMNS))
    elif mode != "off" or args.mode == "off":
        print("Nothing would have asked.")
    return 0
