"""What `netwardenctl` prints: aligned tables for people, JSON for scripts."""

import json
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TextIO

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


def duration(seconds: float) -> str:
    """Seconds as "3d 4h 5m 6s" (largest units only as needed)."""
    left, parts = int(seconds), []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if left >= size or parts:
            parts.append(f"{left // size}{unit}")
            left %= size
    return " ".join([*parts, f"{left}s"])


def program(rule: Mapping[str, Any]) -> str:
    """Which program a rule names: its path (with a pin mark), unit, flatpak, or any."""
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
    ("DESTINATION", _any("destination")),
    ("PORTS", _any("ports")),
    ("PROTO", _any("protocol")),
    ("LIFETIME", lifetime),
    ("PRIO", lambda r: str(r.get("priority", 0))),
    ("HITS", lambda r: str(r.get("hits", 0))),
    ("NOTE", lambda r: str(r.get("note", ""))),
)

PROMPT_COLUMNS: Sequence[Column] = (
    ("ID", lambda p: str(p["id"])),
    ("PROGRAM", lambda p: str(p.get("exe") or "?")),
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
