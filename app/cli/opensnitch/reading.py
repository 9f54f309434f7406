"""What an OpenSnitch import reads from disk: the rule files, the network aliases file
and the list folders that `lists.*` operators name, each as OpenSnitch's daemon reads it."""

import ipaddress
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# OpenSnitch's own network_aliases.json; its "::1" under LAN is no CIDR, so OpenSnitch
# skips it, and so does this import.
DEFAULT_ALIASES = {
    "LAN": ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "fc00::/7"),
    "MULTICAST": ("224.0.0.0/4", "ff00::/8"),
}


@dataclass(frozen=True)
class Unreadable:
    """A rule file that is not JSON, and why."""

    why: str


def rule_documents(folder: Path) -> Iterator[tuple[str, Any]]:
    """(file name, parsed JSON or `Unreadable`) for each `*.json` of a rules folder."""
    for path in sorted(folder.glob("*.json")):
        try:
            yield path.name, json.loads(path.read_bytes())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            yield path.name, Unreadable(str(exc))


def network_aliases(folder: Path) -> dict[str, tuple[str, ...]]:
    """The network aliases beside the rules folder (`network_aliases.json`, which the
    daemon reads from /etc/opensnitchd), else OpenSnitch's own. Entries that are not
    CIDRs are skipped, as OpenSnitch skips them."""
    try:
        document = json.loads((folder.parent / "network_aliases.json").read_bytes())
    except (OSError, ValueError):
        return dict(DEFAULT_ALIASES)
    aliases: dict[str, tuple[str, ...]] = {}
    for name, networks in document.items() if isinstance(document, dict) else ():
        if isinstance(networks, list):
            aliases[str(name)] = tuple(str(n) for n in networks if _is_cidr(n))
    return aliases


def _is_cidr(value: object) -> bool:
    if not isinstance(value, str) or "/" not in value:
        return False
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def list_lines(folder: str) -> Iterator[tuple[str, int, str]]:
    """(file name, line number, stripped line) of each list file in `folder`: the files
    OpenSnitch reads (`*.*`, not hidden), blank lines and `#` comments left out.
    `OSError` when the folder or one of its files cannot be read: OpenSnitch, as root,
    may have read what this user cannot."""
    for name in sorted(os.listdir(folder)):
        path = Path(folder, name)
        if "." not in name or name.startswith(".") or not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        for number, line in enumerate(text.split("\n"), 1):
            stripped = line.strip()
            if stripped and not stripped.startswith("#"):
                yield path.name, number, stripped
