"""`netwardenctl import-opensnitch`: convert a rules folder, import what converts in one
`ImportRules` call, and report it, leading with any deny rule that did not convert and
the allow rules it holds back (or, with --allow-looser, lets in)."""

import argparse
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from netwarden.cli import output
from netwarden.cli.bus import EXIT_ERROR, CliError, Helper
from netwarden.cli.opensnitch.convert import Conversion, Converted, convert_folder
from netwarden.cli.output import wants_json
from netwarden_common.dbus_values import dictionary
from netwarden_common.profiles import name_problem
from netwarden_common.rule_files import MAX_BYTES

_SHOWN = 5  # destinations in a table cell, file names in a line


def import_opensnitch(helper: Helper, args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    if not folder.is_dir():
        raise CliError(f"{args.folder}: not a folder", EXIT_ERROR)
    if args.profile and (problem := name_problem(args.profile)):
        raise CliError(f"--profile: {problem}", EXIT_ERROR)
    conversion = convert_folder(folder, args.allow_looser)
    result = None
    if conversion.converted:
        text = conversion.rules_file(args.profile)
        if len(text.encode()) > MAX_BYTES:
            raise CliError(
                f"the converted rules take {len(text.encode()) / (1 << 20):.1f} MiB, and one "
                f"import takes at most {MAX_BYTES >> 20} MiB; nothing was imported"
            )
        options = dictionary({"replace": False, "dry_run": args.dry_run})
        result = helper.call("ImportRules", text, options)
    if wants_json(args):
        output.print_json(_document(conversion, args.allow_looser, result))
    else:
        print("\n".join(_lines(conversion, args.allow_looser, result)))
    return 0


def _document(conversion: Conversion, allow_looser: bool, result: Any) -> dict[str, Any]:
    return {
        "looser": [
            {
                "file": item.deny.source,
                "name": item.deny.name,
                "programs": list(item.deny.denies or ()),
                "reasons": list(item.deny.reasons),
                "allow_rules": sorted({allow.source for allow in item.allows}),
                "imported": allow_looser,
            }
            for item in conversion.looser
        ],
        "converted": [_converted(item) for item in conversion.converted],
        "held_back": [_converted(item) for item in conversion.held_back],
        "skipped": [
            {"file": s.source, "name": s.name, "reasons": list(s.reasons)}
            for s in conversion.skipped
        ],
        "result": result,
    }


def _converted(item: Converted) -> dict[str, Any]:
    return {"file": item.source, "name": item.name, "rule": item.rule,
            "warnings": list(item.warnings)}  # fmt: skip


def _lines(conversion: Conversion, allow_looser: bool, result: Any) -> Iterator[str]:
    yield from _looser_lines(conversion, allow_looser)
    if conversion.converted:
        files = len({item.source for item in conversion.converted})
        yield f"converted {files} files into {len(conversion.converted)} rules:"
        yield output.rules_table(_shown(item.rule) for item in conversion.converted)
    noted: set[str] = set()
    for item in conversion.converted + conversion.held_back:
        if item.source not in noted:
            noted.add(item.source)
            yield from (f"note: {item.source}: {warning}" for warning in item.warnings)
    for skipped in conversion.skipped:
        yield f"skipped {skipped.source} ({skipped.name or 'unnamed'}):"
        yield from (f"  - {reason}" for reason in skipped.reasons)
    if result is None:
        yield "nothing to import"
    elif result["dry_run"]:
        yield f"dry run: would add {result['added']} rules"
    else:
        yield f"added {result['added']} rules"


def _looser_lines(conversion: Conversion, allow_looser: bool) -> Iterator[str]:
    if not conversion.looser:
        return
    count = len(conversion.looser)
    if allow_looser:
        yield (
            f"LOOSER THAN OPENSNITCH: {count} deny rules did not convert, and the allow "
            "rules of their programs are imported anyway (--allow-looser):"
        )
    else:
        yield (
            f"NOT IMPORTED: {count} deny rules did not convert, so the allow rules of their "
            "programs are left out; imported alone they would let through what OpenSnitch "
            "denied (--allow-looser imports them anyway):"
        )
    for item in conversion.looser:
        programs = ", ".join(item.deny.denies or ()) or "every program"
        yield f"  {programs}: deny rule {item.deny.name} ({item.deny.source})"
        yield from (f"    - {reason}" for reason in item.deny.reasons)
        verb = "imported anyway" if allow_looser else "left out"
        yield f"    {verb}: {_files(item.allows)}"


def _files(items: Iterable[Converted]) -> str:
    names = sorted({item.source for item in items})
    if not names:
        return "no allow rule"
    more = f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
    return ", ".join(names[:_SHOWN]) + more


def _shown(rule: dict[str, Any]) -> dict[str, Any]:
    """A rule for the table: a long destination set cut to its first entries."""
    entries = rule.get("destination", "").split(", ")
    if len(entries) <= _SHOWN:
        return rule
    shown = ", ".join(entries[:_SHOWN])
    return {**rule, "destination": f"{shown}, … ({len(entries)} in all)"}
