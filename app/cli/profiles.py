"""`netwardenctl profiles`: named rule sets, the active one, the networks that switch
to them (NetworkManager's connection UUID or Wi-Fi SSID), and the switches the history
recorded."""

import argparse
from typing import Any

from netwarden.cli import history, output
from netwarden.cli.bus import Helper
from netwarden.cli.output import wants_json
from netwarden_common.dbus_values import dictionary


def _print_state(args: argparse.Namespace, state: dict[str, Any], line: str = "") -> None:
    if wants_json(args):
        output.print_json(state)
        return
    if line:
        print(line)
    active = state.get("active") or ""
    network = state.get("network") or {}
    print(f"active profile: {active or 'none (only the rules of every profile)'}")
    if network:
        ssid = f", Wi-Fi {network['ssid']}" if network.get("ssid") else ""
        print(f"network: {network.get('id')} (uuid {network.get('uuid')}{ssid})")
    rows = [{**p, "active": p["name"] == active} for p in state.get("profiles", [])]
    print(output.table(rows, output.PROFILE_COLUMNS) if rows else "no profiles")


def profiles_list(helper: Helper, args: argparse.Namespace) -> int:
    _print_state(args, helper.call("ListProfiles"))
    return 0


def _network(args: argparse.Namespace) -> dict[str, str]:
    return {key: value for key in ("uuid", "ssid")
            if (value := getattr(args, key)) is not None}  # fmt: skip


def profiles_add(helper: Helper, args: argparse.Namespace) -> int:
    state = helper.call("AddProfile", dictionary({"name": args.name, **_network(args)}))
    _print_state(args, state, f"added profile {args.name}")
    return 0


def profiles_edit(helper: Helper, args: argparse.Namespace) -> int:
    state = helper.call("UpdateProfile", args.name, dictionary(_network(args)))
    _print_state(args, state, f"changed profile {args.name}")
    return 0


def profiles_rename(helper: Helper, args: argparse.Namespace) -> int:
    state = helper.call("RenameProfile", args.name, args.new_name)
    _print_state(args, state, f"renamed profile {args.name} to {args.new_name}")
    return 0


def profiles_rm(helper: Helper, args: argparse.Namespace) -> int:
    state = helper.call("RemoveProfile", args.name,
                        dictionary({"delete_rules": args.with_rules}))  # fmt: skip
    deleted = state.get("deleted_rules", 0)
    rules = f" and its {deleted} rule{'' if deleted == 1 else 's'}" if deleted else ""
    _print_state(args, state, f"removed profile {args.name}{rules}")
    return 0


def profiles_use(helper: Helper, args: argparse.Namespace) -> int:
    name = "" if args.command_name == "none" else args.name
    state = helper.call("SetActiveProfile", name)
    _print_state(args, state, f"using profile {name}" if name else "using no profile")
    return 0


def profiles_history(helper: Helper, args: argparse.Namespace) -> int:
    query = {**history.time_range(args), **output.page_options(args)}
    page = helper.call("QueryProfileSwitches", dictionary(query))
    return output.paged(args, page, "switches", output.SWITCH_COLUMNS, "no profile switches")
