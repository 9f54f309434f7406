"""Hash-change alerts: a pinned program's binary is no longer the one its rules allow.

Pure model and logic. One alert per program path and new hash, however many
connections or file events led to it. An alert is `open` until someone trusts the new
binary (`trusted`: every affected rule is re-pinned to it), keeps blocking it
(`blocked`: a deny rule for the new hash), or the package manager vouched for it and the
setting allows trusting verified updates (`auto_trusted`). Meanwhile the program's new
binary gets nothing from the old rules: its connections are held or refused.
"""

from dataclasses import dataclass, replace
from typing import Any

from netwarden_common.rules import Rule, validate

OPEN, TRUSTED, BLOCKED, AUTO_TRUSTED = "open", "trusted", "blocked", "auto_trusted"
RESOLUTIONS = {"trust": TRUSTED, "block": BLOCKED}


@dataclass(frozen=True)
class FileFacts:
    """What the file at a program's path is now (from stat, and the package manager)."""

    changed_at: float  # ctime: when the file (or its inode) last changed
    modified_at: float  # mtime
    size: int
    owner: int  # uid owning the file
    package: str  # "" when no package owns it
    verified: bool  # the package manager's records match the file


@dataclass(frozen=True)
class Alert:
    id: int
    created: float
    exe: str
    old_sha256: str
    new_sha256: str
    facts: FileFacts
    rules: tuple[int, ...]  # ids of the rules pinned to the old binary
    state: str = OPEN
    resolved_at: float | None = None


def affected_rules(rules: list[Rule], exe: str, sha256: str) -> list[Rule]:
    """Rules pinning `exe` to another binary than `sha256`."""
    return [r for r in rules if r.exe == exe and r.sha256 and r.sha256 != sha256]


def repinned(rule: Rule, sha256: str) -> Rule:
    """`rule` pinned to the binary `sha256` instead."""
    return replace(rule, sha256=sha256)


def block_rule(alert: Alert, rules: list[Rule]) -> Rule:
    """A deny rule for the new binary of `alert`, for the users its rules were for
    (every user when they differ), above them in precedence."""
    uids = {r.uid for r in rules}
    values: dict[str, Any] = {
        "action": "deny",
        "exe": alert.exe,
        "sha256": alert.new_sha256,
        "priority": max((r.priority for r in rules), default=0),
        "note": f"blocked after the binary changed (alert {alert.id})",
    }
    if len(uids) == 1 and None not in uids:
        values["uid"] = uids.pop()
    return validate(values)
