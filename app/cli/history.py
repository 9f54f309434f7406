"""The subcommands over what the helper recorded: history, history export, traffic,
connections and alerts. Each takes the helper and the parsed arguments and
returns the exit status; times on the command line go through `parse_when`."""

import argparse
import contextlib
import os
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import dbus.types

from netwarden.cli import output
from netwarden.cli.bus import CliError, Helper
from netwarden.cli.output import UNIT_SECONDS, done, listing, wants_json
from netwarden_common.dbus_values import dictionary

_AGO = re.compile(r"^(\d+)([smhdw])$")
_SECONDS = {**UNIT_SECONDS, "w": 7 * 86400}
WHEN_HELP = "Unix seconds, an ISO date or time (2026-05-01, 2026-05-01T12:00), or 30m, 2h, 7d ago"


def parse_when(text: str, now: float) -> float:
    """The Unix time a command line names: `1767225600` (Unix seconds, digits only),
    `2026-05-01` or `2026-05-01T12:00[:00][+02:00]` (ISO; local time unless it says
    otherwise), or `90s`, `30m`, `1h`, `2d`, `1w` meaning that long before `now`.
    `ValueError` with a message saying what is accepted otherwise."""
    text = text.strip()
    ago = _AGO.match(text)
    if ago:
        return now - int(ago[1]) * _SECONDS[ago[2]]
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: give Unix seconds, an ISO date or time "
            "(2026-05-01, 2026-05-01T12:00), or how long ago (30m, 2h, 7d)"
        ) from None


def when_argument(text: str) -> float:
    """`parse_when` for argparse: a bad time is a usage error (exit 2)."""
    try:
        return parse_when(text, time.time())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def time_range(args: argparse.Namespace) -> dict[str, Any]:
    """--since, --until and --all-users as a query's options."""
    return {"since": args.since, "until": args.until, **_scope(args)}


def _scope(args: argparse.Namespace) -> dict[str, Any]:
    """Whose flows: the caller's own (nothing said), or every user's."""
    return {"all_users": True} if getattr(args, "all_users", False) else {}


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    """The history filters given on the command line, as QueryHistory/ExportHistory
    options (None: not given, left out of the a{sv})."""
    return {**time_range(args), "exe": args.program, "host": args.host, "verdict": args.verdict}


def history(helper: Helper, args: argparse.Namespace) -> int:
    page = helper.call("QueryHistory", dictionary({**_filters(args), **output.page_options(args)}))
    return output.paged(args, page, "flows", output.FLOW_COLUMNS, "no flows")


def _format(args: argparse.Namespace) -> str:
    if args.format:
        return args.format
    return "json" if args.file.lower().endswith(".json") else "csv"


def history_export(helper: Helper, args: argparse.Namespace) -> int:
    """Write into a file beside FILE that this command opened (the helper is handed the
    descriptor, never a path), then rename it over FILE: a refused or failed export
    leaves no file and keeps an older one."""
    target = Path(args.file)
    fmt = _format(args)
    try:
        fd, partial = _partial_file(target)
    except OSError as exc:
        raise CliError(f"cannot write {args.file}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as file:
            options = dictionary({**_filters(args), "format": fmt})
            count = helper.call("ExportHistory", dbus.types.UnixFd(file), options)
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise
    done(
        args,
        {"file": args.file, "format": fmt, "flows": count},
        f"exported {count} flows to {args.file}",
    )
    return 0


def _partial_file(target: Path) -> tuple[int, str]:
    """A new file beside `target`, with the mode a newly created file gets."""
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    return os.open(partial, flags, 0o666), str(partial)


def traffic(helper: Helper, args: argparse.Namespace) -> int:
    top = helper.call("TopTraffic", dictionary({**time_range(args), "limit": args.top}))
    if wants_json(args):
        output.print_json(top)
        return 0
    if not top["programs"] and not top["hosts"]:
        print("no traffic")
        return 0
    print(output.table(top["programs"], output.TOP_PROGRAM_COLUMNS))
    print()
    print(output.table(top["hosts"], output.TOP_HOST_COLUMNS))
    return 0


def traffic_series(helper: Helper, args: argparse.Namespace) -> int:
    query = {**time_range(args), "exe": args.program, "bucket": args.bucket}
    points = [
        {"start": start, "bytes_out": sent, "bytes_in": received}
        for start, sent, received in helper.call("TrafficSeries", dictionary(query))
    ]
    return listing(
        args, points, lambda rows: output.table(rows, output.SERIES_COLUMNS), "no traffic"
    )


def connections(helper: Helper, args: argparse.Namespace) -> int:
    return listing(
        args,
        helper.call("ListConnections", dictionary(_scope(args))),
        lambda rows: output.table(rows, output.CONNECTION_COLUMNS),
        "no open connections",
    )


def alerts(helper: Helper, args: argparse.Namespace) -> int:
    found = helper.call("ListAlerts")
    if args.open:
        found = [alert for alert in found if alert.get("state") == "open"]
    empty = "no open alerts" if args.open else "no alerts"
    return listing(args, found, lambda rows: output.table(rows, output.ALERT_COLUMNS), empty)


def alerts_resolve(helper: Helper, args: argparse.Namespace) -> int:
    alert = helper.call("ResolveAlert", args.id, args.resolution)
    if wants_json(args):
        output.print_json(alert)
    elif alert.get("kind") == "packet_socket":
        outcome = (
            "allowed: no more alerts for this binary"
            if args.resolution == "trust"
            else "blocked: a deny rule now refuses every connection of this binary"
        )
        print(f"{outcome} (alert {args.id}, {alert.get('exe')})")
    elif args.resolution == "trust":
        rules = ", ".join(str(r) for r in alert.get("rules") or []) or "none"
        print(f"trusted alert {args.id}: rules {rules} now pin {alert.get('new_sha256')}")
    else:
        print(f"blocked alert {args.id}: a deny rule now stops {alert.get('exe')}'s new binary")
    return 0
