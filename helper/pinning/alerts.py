"""Alerts: a pinned program's binary changed, or a program opened a packet socket.

Pure model and logic. Two kinds:
- `hash_changed`: a pinned program's binary is no longer the one its rules allow. One
  alert per program path and new hash, however many connections or file events led to
  it. It is `open` until someone trusts the new binary (`trusted`: every affected rule
  is re-pinned to it), keeps blocking it (`blocked`: a deny rule for the new hash), or the
  package manager vouched for it and the setting allows trusting verified updates
  (`auto_trusted`). Meanwhile the new binary gets nothing from the old rules.
- `packet_socket`: a program (path and hash) holds a packet socket, whose frames
  netfilter never sees. One alert per binary. Trusting it lets it be (no more alerts for
  that binary); blocking it adds a deny rule of the highest priority for that binary, so
  every further connection it makes through the IP stack is refused.
"""

from dataclasses import dataclass, replace
from typing import Any

from netwarden_common.rules import MAX_PRIORITY, Rule, validate

OPEN, TRUSTED, BLOCKED, AUTO_TRUSTED = "open", "trusted", "blocked", "auto_trusted"
HASH_CHANGED, PACKET_SOCKET = "hash_changed", "packet_socket"
KINDS = (HASH_CHANGED, PACKET_SOCKET)
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
    kind: str = HASH_CHANGED
    pid: int = 0  # packet_socket: the process holding the socket
    uid: int = -1  # packet_socket: the user who opened it


def affected_rules(rules: list[Rule], exe: str, sha256: str) -> list[Rule]:
    """Rules pinning `exe` to another binary than `sha256`."""
    return [r for r in rules if r.exe == exe and r.sha256 and r.sha256 != sha256]


def pinned_to_old(rules: list[Rule], alert: Alert) -> list[Rule]:
    """The rules that pin `alert`'s program to its old binary now: found by what they
    name, not by the ids stored with the alert (an import that replaces the rules gives
    the same rules new ids)."""
    if alert.kind != HASH_CHANGED:
        return []
    return [r for r in rules if r.exe == alert.exe and r.sha256 == alert.old_sha256]


def repinned(rule: Rule, sha256: str) -> Rule:
    """`rule` pinned to the binary `sha256` instead."""
    return replace(rule, sha256=sha256)


def block_rule(alert: Alert, rules: list[Rule]) -> Rule:
    """A deny rule for the new binary of `alert`, for the users its rules were for
    (every user when they differ), above them in precedence. For a packet socket, for
    every user and above every rule: all of that binary's connections."""
    uids = {r.uid for r in rules}
    packet_socket = alert.kind == PACKET_SOCKET
    values: dict[str, Any] = {
        "action": "deny",
        "exe": alert.exe,
        "sha256": alert.new_sha256,
        "priority": MAX_PRIORITY if packet_socket else max((r.priority for r in rules),
                                                           default=0),
        "note": f"blocked: it opened a packet socket (alert {alert.id})" if packet_socket
        else f"blocked after the binary changed (alert {alert.id})",
    }  # fmt: skip
    if len(uids) == 1 and None not in uids:
        values["uid"] = uids.pop()
    return validate(values)
