"""What `netwardenctl` prints: aligned tables for people, JSON for scripts."""

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TextIO

from netwarden_common.profiles import switch_cause
from netwarden_common.rules import members, summary
from netwarden_common.users import user_name as login_name

Column = tuple[str, Callable[[Mapping[str, Any]], str]]


def print_json(value: Any, stream: TextIO | None = None) -> None:
    """`value` as one line of JSON (keys sorted, so scripts and diffs are stable)."""
    print(json.dumps(value, sort_keys=True), file=stream or sys.stdout, flush=True)


def table(rows: Iterable[Mapping[str, Any]], columns: Sequence[Column]) -> str:
    """Rows as a table: a header line, then one line per row, columns aligned."""
    cells = [[title for title, _ in columns]]
    cells += [[value(row) for _, value in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    )


def when(seconds: float | None) -> str:
    """A Unix time as local date and time, or "-" when unknown."""
    if not seconds:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(seconds: float) -> str:
    """Seconds as "3d 4h 5m 6s" (largest units only as needed)."""
    left, parts = int(seconds), list[str]()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if left >= size or parts:
            parts.append(f"{left // size}{unit}")
            left %= size
    return " ".join([*parts, f"{left}s"])


def program(rule: Mapping[str, Any]) -> str:
    """Which program a rule names: its path (with a pin mark), unit, flatpak, the source of
    forwarded traffic, or any."""
    if rule.get("forwarded_from"):
        return f"forwarded:{rule['forwarded_from']}"
    if rule.get("unit"):
        return f"unit:{rule['unit']}"
    if rule.get("flatpak"):
        return f"flatpak:{rule['flatpak']}"
    exe = rule.get("exe") or "any"
    if rule.get("script"):
        exe = f"{exe} {rule['script']}"
    return f"{exe} (pinned)" if rule.get("sha256") else exe


def lifetime(rule: Mapping[str, Any]) -> str:
    if rule.get("lifetime") == "until":
        return f"until {when(rule.get('expires_at'))}"
    if rule.get("lifetime") == "until_quit":
        return f"until pid {rule.get('pid')} quits"
    return str(rule.get("lifetime", "forever"))


def _any(key: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda row: "any" if row.get(key) in (None, "") else str(row[key])


RULE_COLUMNS: Sequence[Column] = (
    ("ID", lambda r: str(r.get("id", "-"))),
    ("ON", lambda r: "yes" if r.get("enabled", True) else "no"),
    ("ACTION", lambda r: str(r["action"]) + (" (drop)" if r.get("drop") else "")),
    ("PROGRAM", program),
    ("USER", _any("uid")),
    ("DESTINATION", lambda r: summary(r.get("destination") or "any")),
    ("PORTS", lambda r: summary(r.get("ports") or "any", shown=4)),
    ("PROTO", _any("protocol")),
    ("LIFETIME", lifetime),
    ("PRIO", lambda r: str(r.get("priority", 0))),
    ("HITS", lambda r: str(r.get("hits", 0))),
    ("PROFILE", lambda r: str(r.get("profile") or "all")),
    ("NOTE", lambda r: str(r.get("note", ""))),
    ("FROM", lambda r: str(r.get("source") or "user")),
)


def rule_details(rule: Mapping[str, Any]) -> str:
    """One rule, a field a line, every destination and port on a line of its own."""
    lines = [f"{title.lower()}: {value(rule)}" for title, value in RULE_COLUMNS
             if title not in ("DESTINATION", "PORTS")]  # fmt: skip
    for name in ("destination", "ports"):
        entries = members(str(rule.get(name) or ""))
        if len(entries) > 1:
            lines += [f"{name} ({len(entries)}):", *(f"  {entry}" for entry in entries)]
        else:
            lines.append(f"{name}: {entries[0] if entries else 'any'}")
    return "\n".join(lines)


PROMPT_COLUMNS: Sequence[Column] = (
    ("ID", lambda p: str(p["id"])),
    ("PROGRAM", lambda p: flow_program(p)),  # defined below, with the flow columns
    ("USER", lambda p: str(p.get("user") or p.get("uid", "?"))),
    ("DESTINATION", lambda p: ", ".join(p.get("hosts") or []) or str(p.get("destination"))),
    ("PORT", lambda p: str(p.get("port", ""))),
    ("PROTO", lambda p: str(p.get("protocol", ""))),
    ("REASON", lambda p: str(p.get("reason", ""))),
    ("DEADLINE", lambda p: when(p.get("deadline"))),
)


def rules_table(rules: Iterable[Mapping[str, Any]]) -> str:
    return table(rules, RULE_COLUMNS)


def prompts_table(prompts: Iterable[Mapping[str, Any]]) -> str:
    return table(prompts, PROMPT_COLUMNS)


def key_values(values: Mapping[str, Any], indent: str = "") -> str:
    """`key: value` lines, nested dictionaries indented under their key."""
    lines = []
    for key in sorted(values):
        value = values[key]
        if isinstance(value, Mapping):
            lines.append(f"{indent}{key}:")
            lines.append(key_values(value, indent + "  "))
        else:
            lines.append(f"{indent}{key}: {setting_text(value)}")
    return "\n".join(line for line in lines if line)


def setting_text(value: Any) -> str:
    """A value as typed on the command line: true/false for booleans."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def size(count: int | None) -> str:
    """A byte count for people: "0 B", "512 B", "3.1 MB" (powers of 1000), "-" when unknown."""
    if count is None:
        return "-"
    value = float(count)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def user(uid: int | None) -> str:
    """A uid as its user name (the uid itself when it has none), "?" when unknown."""
    return "?" if uid is None else login_name(uid)


def flow_program(flow: Mapping[str, Any]) -> str:
    """Which program made a flow: its path (and script), else its unit or flatpak id, or
    where a forwarded flow came from."""
    if flow.get("forwarded_from"):
        return f"forwarded:{flow['forwarded_from']}"
    exe = flow.get("exe") or ""
    if exe and flow.get("script"):
        return f"{exe} {flow['script']}"
    if exe:
        return exe
    if flow.get("flatpak"):
        return f"flatpak:{flow['flatpak']}"
    return f"unit:{flow['unit']}" if flow.get("unit") else "?"


def destination(flow: Mapping[str, Any]) -> str:
    """host:port/protocol, or the address ([v6]:port) when no host name is known."""
    where = flow.get("host") or str(flow.get("destination", "?"))
    port = flow.get("port")
    if port:
        where = f"[{where}]:{port}" if ":" in where else f"{where}:{port}"
    return f"{where}/{flow['protocol']}" if flow.get("protocol") else where


def decided_by(flow: Mapping[str, Any]) -> str:
    how = str(flow.get("decided_by", "?"))
    return f"{how} {flow['rule_id']}" if flow.get("rule_id") is not None else how


_BYTES_IN: Column = ("IN", lambda f: size(f.get("bytes_in")))
_BYTES_OUT: Column = ("OUT", lambda f: size(f.get("bytes_out")))
_USER: Column = ("USER", lambda f: user(f.get("uid")))

FLOW_COLUMNS: Sequence[Column] = (
    ("TIME", lambda f: when(f.get("time"))),
    ("PROGRAM", flow_program),
    _USER,
    ("DESTINATION", destination),
    ("VERDICT", lambda f: str(f.get("verdict", "?"))),
    ("DECIDED BY", decided_by),
    _BYTES_IN,
    _BYTES_OUT,
)

SILENT_COLUMNS: Sequence[Column] = (
    ("LAST", lambda f: when(f.get("time"))),
    ("PROGRAM", flow_program),
    _USER,
    ("DESTINATION", destination),
    ("GOT", lambda f: str(f.get("verdict", "?"))),
    ("TIMES", lambda f: str(f.get("count", 1))),
)

CONNECTION_COLUMNS: Sequence[Column] = (
    ("SINCE", lambda f: when(f.get("time"))),
    ("PROGRAM", flow_program),
    _USER,
    ("DESTINATION", destination),
    _BYTES_IN,
    _BYTES_OUT,
)

TOP_PROGRAM_COLUMNS: Sequence[Column] = (("PROGRAM", flow_program), _USER, _BYTES_IN, _BYTES_OUT)
TOP_HOST_COLUMNS: Sequence[Column] = (("HOST", lambda h: str(h["host"])), _BYTES_IN, _BYTES_OUT)
SERIES_COLUMNS: Sequence[Column] = (("TIME", lambda p: when(p["start"])), _BYTES_IN, _BYTES_OUT)


def package(alert: Mapping[str, Any]) -> str:
    if not alert.get("package"):
        return "none"
    return f"{alert['package']} ({'verified' if alert.get('verified') else 'not verified'})"


ALERT_KINDS = {"hash_changed": "changed", "packet_socket": "packet-socket"}


def alert_what(alert: Mapping[str, Any]) -> str:
    """What an alert is about, in a few words."""
    if alert.get("kind") == "packet_socket":
        return f"opened a packet socket (pid {alert.get('pid')}, {user(alert.get('uid'))})"
    return "changed"


ALERT_COLUMNS: Sequence[Column] = (
    ("ID", lambda a: str(a["id"])),
    ("KIND", lambda a: ALERT_KINDS.get(str(a.get("kind")), str(a.get("kind")))),
    ("STATE", lambda a: str(a.get("state", "?"))),
    ("PROGRAM", lambda a: str(a.get("exe", "?"))),
    ("CHANGED", lambda a: when(a.get("changed_at") or a.get("created"))),
    ("PACKAGE", package),
    ("RULES", lambda a: ",".join(str(r) for r in a.get("rules") or []) or "-"),
    ("NEW SHA256", lambda a: str(a.get("new_sha256", ""))[:16]),
)


BLOCKLIST_COLUMNS: Sequence[Column] = (
    ("ID", lambda b: str(b["id"])),
    ("ON", lambda b: "yes" if b.get("enabled", True) else "no"),
    ("NAME", lambda b: str(b.get("name", ""))),
    ("FORMAT", lambda b: str(b.get("format") or "-")),
    ("NAMES", lambda b: str(b.get("domains", 0))),
    ("NETWORKS", lambda b: str(b.get("networks", 0))),
    ("ACCEPTED", lambda b: str(b.get("accepted", 0))),
    ("IGNORED", lambda b: str(sum((b.get("ignored") or {}).values()))),
    ("REJECTED", lambda b: str(b.get("rejected", 0))),
    ("BLOCKED", lambda b: str(b.get("hits", 0))),
    ("UPDATED", lambda b: when(b.get("updated_at")) if b.get("updated_at") else "never"),
    ("SOURCE", lambda b: str(b.get("source", ""))),
    ("PROBLEM", lambda b: str(b.get("error", "")) or "-"),
)


PROFILE_COLUMNS: Sequence[Column] = (
    ("ACTIVE", lambda p: "yes" if p.get("active") else "no"),
    ("NAME", lambda p: str(p["name"])),
    ("NETWORK", lambda p: f"uuid {p['uuid']}" if p.get("uuid")
     else f"ssid {p['ssid']}" if p.get("ssid") else "-"),
    ("RULES", lambda p: str(p.get("rules", 0))),
)  # fmt: skip

SWITCH_COLUMNS: Sequence[Column] = (
    ("TIME", lambda s: when(s.get("time"))),
    ("FROM", lambda s: str(s.get("from_profile") or "none")),
    ("TO", lambda s: str(s.get("to_profile") or "none")),
    ("WHY", switch_cause),
)


def blocklists_table(blocklists: Iterable[Mapping[str, Any]]) -> str:
    return table(blocklists, BLOCKLIST_COLUMNS)


def blocklist_details(blocklist: Mapping[str, Any]) -> str:
    """One subscription, a field a line, its ignored lines by kind."""
    ignored = blocklist.get("ignored") or {}
    lines = [
        ("id", str(blocklist["id"])),
        ("name", str(blocklist.get("name", ""))),
        ("source", str(blocklist.get("source", ""))),
        ("enabled", "yes" if blocklist.get("enabled", True) else "no"),
        ("format", str(blocklist.get("format") or "-")),
        ("names", str(blocklist.get("domains", 0))),
        ("networks", str(blocklist.get("networks", 0))),
        ("lines accepted", str(blocklist.get("accepted", 0))),
        ("lines ignored", str(sum(ignored.values()))),
        *((f"  {kind}", str(count)) for kind, count in sorted(ignored.items())),
        ("lines rejected", str(blocklist.get("rejected", 0))),
        ("flows blocked", str(blocklist.get("hits", 0))),
        ("last blocked", when(blocklist.get("last_hit"))),
        ("checked", when(blocklist.get("checked_at"))),
        ("updated", when(blocklist.get("updated_at"))),
        ("problem", str(blocklist.get("error", "")) or "-"),
    ]
    width = max(len(key) for key, _ in lines) + 2
    return "\n".join(f"{key + ':':<{width}}{value}" for key, value in lines)


def wants_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


def listing(args: argparse.Namespace, items: list, as_table: Callable, empty: str) -> int:
    if wants_json(args):
        print_json(items)
    else:
        print(as_table(items) if items else empty)
    return 0


def page_options(args: argparse.Namespace) -> dict[str, int]:
    """The limit and offset of the page `--limit` and `--page` ask for."""
    return {"limit": args.limit, "offset": (args.page - 1) * args.limit}


def paged(
    args: argparse.Namespace,
    page: Mapping[str, Any],
    key: str,
    columns: Sequence[Column],
    empty: str,
) -> int:
    """A query's page: JSON, or the table of its `key` rows and, when another page
    follows, a line saying how to ask for it."""
    if wants_json(args):
        print_json(page)
        return 0
    rows = page[key]
    print(table(rows, columns) if rows else empty)
    if page["more"]:
        print(f"more: --page {args.page + 1}")
    return 0


def done(args: argparse.Namespace, record: dict[str, Any], line: str) -> None:
    if wants_json(args):
        print_json(record)
    else:
        print(line)
