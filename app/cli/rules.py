"""`netwardenctl rules`, `export` and `import`: the rules, one call or a few each. Each
takes the helper and the parsed arguments and returns the exit status."""

import argparse
import json
import os
import re
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from netwarden.cli import output
from netwarden.cli.bus import EXIT_NOT_FOUND, CliError, Helper
from netwarden.cli.output import UNIT_SECONDS, done, listing, wants_json
from netwarden_common.dbus_values import dictionary
from netwarden_common.rules import SETTABLE_FIELDS

TEXT_FIELDS = ("action", "exe", "sha256", "script", "unit", "flatpak", "forwarded_from",
               "destination", "ports", "note", "profile")  # fmt: skip
_RELATIVE = re.compile(r"^\+(\d+)([smhd])$")


def rules_list(helper: Helper, args: argparse.Namespace) -> int:
    return listing(args, helper.call("ListRules"), output.rules_table, "no rules")


def _expires(when: str) -> float:
    relative = _RELATIVE.match(when)
    if relative:
        return time.time() + int(relative[1]) * UNIT_SECONDS[relative[2]]
    try:
        return datetime.fromisoformat(when).timestamp()
    except ValueError:
        raise CliError(
            f"--until {when!r}: give +30m, +2h, +1d or a date and time like 2026-05-01T12:00"
        ) from None


def _uid(text: str) -> int | None:
    if text == "any":
        return None
    if text == "me":
        return os.getuid()
    if not text.isdigit():
        raise CliError(f"--uid {text!r}: give a user id, 'me' or 'any'")
    return int(text)


def _changes(args: argparse.Namespace) -> dict[str, Any]:
    """The rule fields named on the command line (None: back to "any")."""
    changes: dict[str, Any] = {
        name: getattr(args, name)
        for name in (*TEXT_FIELDS, "priority", "enabled", "drop")
        if getattr(args, name) is not None
    }
    if args.uid is not None:
        changes["uid"] = _uid(args.uid)
    if args.protocol is not None:
        changes["protocol"] = "" if args.protocol == "any" else args.protocol
    if args.until is not None:
        changes.update(lifetime="until", expires_at=_expires(args.until), pid=None, pid_start=None)
    elif args.forever:
        changes.update(lifetime="forever", expires_at=None, pid=None, pid_start=None)
    return changes


def _print_rule(args: argparse.Namespace, rule: dict[str, Any], verb: str) -> None:
    if wants_json(args):
        output.print_json(rule)
    else:
        print(f"{verb} rule {rule['id']}")
        print(output.rules_table([rule]))


def rules_add(helper: Helper, args: argparse.Namespace) -> int:
    rule = helper.call("AddRule", dictionary(_changes(args)))
    _print_rule(args, rule, "added")
    return 0


def _find_rule(helper: Helper, rule_id: int) -> dict[str, Any]:
    for rule in helper.call("ListRules"):
        if rule["id"] == rule_id:
            return rule
    raise CliError(f"not found: there is no rule {rule_id}", EXIT_NOT_FOUND)


def rules_edit(helper: Helper, args: argparse.Namespace) -> int:
    current = _find_rule(helper, args.id)
    values = {name: current[name] for name in SETTABLE_FIELDS if name in current}
    values.update(_changes(args))
    rule = helper.call("UpdateRule", args.id, dictionary(values))
    _print_rule(args, rule, "changed")
    return 0


def rules_show(helper: Helper, args: argparse.Namespace) -> int:
    rule = _find_rule(helper, args.id)
    if wants_json(args):
        output.print_json(rule)
    else:
        print(output.rule_details(rule))
    return 0


def rules_rm(helper: Helper, args: argparse.Namespace) -> int:
    for rule_id in args.ids:
        helper.call("DeleteRule", rule_id)
        done(args, {"deleted": rule_id}, f"deleted rule {rule_id}")
    return 0


def rules_enable(helper: Helper, args: argparse.Namespace) -> int:
    verb = "enabled" if args.enable else "disabled"
    for rule_id in args.ids:
        helper.call("SetRuleEnabled", rule_id, args.enable)
        done(args, {verb: rule_id}, f"{verb} rule {rule_id}")
    return 0


def export(helper: Helper, args: argparse.Namespace) -> int:
    text = helper.call("ExportRules")
    if args.file in (None, "-"):
        print(text)
        return 0
    try:
        Path(args.file).write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write {args.file}: {exc.strerror}") from None
    count = len(json.loads(text)["rules"])
    done(args, {"file": args.file, "rules": count}, f"exported {count} rules to {args.file}")
    return 0


def _read_input(name: str) -> str:
    try:
        if name == "-":
            return sys.stdin.read()
        return Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {name}: {getattr(exc, 'strerror', None) or exc}") from None


def _import(helper: Helper, text: str, replace: bool, dry_run: bool) -> dict[str, Any]:
    return helper.call("ImportRules", text, dictionary({"replace": replace, "dry_run": dry_run}))


def _summary(result: dict[str, Any]) -> str:
    if result["dry_run"]:
        return f"dry run: would add {result['added']} rules and remove {result['removed']}"
    return f"added {result['added']} rules, removed {result['removed']}"


def import_rules(helper: Helper, args: argparse.Namespace) -> int:
    text = _read_input(args.file)
    result = _import(helper, text, args.replace, args.dry_run)
    if wants_json(args):
        output.print_json(result)
        return 0
    if args.dry_run and result["added"]:
        print(output.rules_table(json.loads(text)["rules"]))
    print(_summary(result))
    return 0
