"""`netwardenctl blocklists`: list, subscribe, unsubscribe, turn on or off and update
blocklists (host names denied for every program, below the user's rules; how many flows
each blocked; docs/blocklists.md)."""

import argparse

from netwarden.cli import output
from netwarden.cli.bus import EXIT_NOT_FOUND, CliError, Helper
from netwarden.cli.output import listing, wants_json
from netwarden_common.dbus_values import dictionary


def blocklists(helper: Helper, args: argparse.Namespace) -> int:
    return listing(args, helper.call("ListBlocklists"), output.blocklists_table, "no blocklists")


def blocklists_show(helper: Helper, args: argparse.Namespace) -> int:
    found = [b for b in helper.call("ListBlocklists") if b["id"] == args.id]
    if not found:
        raise CliError(f"there is no blocklist {args.id}", EXIT_NOT_FOUND)
    if wants_json(args):
        output.print_json(found[0])
    else:
        print(output.blocklist_details(found[0]))
    return 0


def blocklists_add(helper: Helper, args: argparse.Namespace) -> int:
    values = {"source": args.source, "enabled": not args.disabled}
    if args.name:
        values["name"] = args.name
    added = helper.call("AddBlocklist", dictionary(values))
    if wants_json(args):
        output.print_json(added)
    else:
        print(f"subscribed to blocklist {added['id']} ({added['name']}); it loads in the "
              "background: see 'netwardenctl blocklists'")  # fmt: skip
    return 0


def blocklists_rm(helper: Helper, args: argparse.Namespace) -> int:
    for blocklist_id in args.ids:
        helper.call("RemoveBlocklist", blocklist_id)
        if not wants_json(args):
            print(f"removed blocklist {blocklist_id}")
    return 0


def blocklists_enable(helper: Helper, args: argparse.Namespace) -> int:
    for blocklist_id in args.ids:
        changed = helper.call("SetBlocklistEnabled", blocklist_id, args.enabled)
        state = "on" if changed["enabled"] else "off"
        output.done(args, changed, f"blocklist {blocklist_id} ({changed['name']}) is {state}")
    return 0


def blocklists_update(helper: Helper, args: argparse.Namespace) -> int:
    updated = helper.call("UpdateBlocklists")
    if wants_json(args):
        output.print_json(updated)
        return 0
    print(output.blocklists_table(updated) if updated else "no blocklists")
    failed = [b for b in updated if b.get("error")]
    return 1 if failed else 0
