"""The built-in DNS rule: programs may ask this computer's own DNS servers.

Without it a new program's first prompt is its DNS lookup ("firefox wants to connect to
192.0.2.53, port 53 UDP"), the program's resolver gives up while the prompt counts down,
and the prompt for the real connection, the one that names the host, never comes. So
DNS (port 53, UDP and TCP) to the servers the system is configured with is allowed by a
rule of its own: listed with the others (source "built-in"), tried after the user's
rules (a rule of the user's can still deny a program its lookups), turned off with the
setting `dns_to_resolvers`.

The servers are read from `/etc/resolv.conf`, and, behind a local stub (systemd-resolved
listens on 127.0.0.53; NetworkManager's dnsmasq on 127.0.1.1), the stub's own upstream
list (`/run/systemd/resolve/resolv.conf`, `/run/NetworkManager/no-stub-resolv.conf`),
so both the programs' questions to the stub and the stub's to the network are allowed.
The files' folders are watched (and the one /etc/resolv.conf links into): a new
network's servers apply at once.
"""

import ipaddress
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from netwarden_common.rules import Rule, validate
from netwarden_helper.policy.rules_dir import ADMIN_IDS
from netwarden_helper.runtime.file_watch import CHANGED_OR_GONE, FolderWatch
from netwarden_helper.runtime.loop import Loop

log = logging.getLogger(__name__)

BUILTIN_IDS = ADMIN_IDS * 2  # ids of built-in rules: past the administrator's
BUILTIN_SOURCE = "built-in"
RESOLVER_FILES = (
    Path("/etc/resolv.conf"),
    Path("/run/systemd/resolve/resolv.conf"),
    Path("/run/NetworkManager/no-stub-resolv.conf"),
)
_MAX_BYTES = 64 * 1024


def nameservers(text: str) -> list[str]:
    """The server addresses of a resolv.conf text, in order (zone ids dropped; anything
    that is not an address ignored). Pure."""
    found = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(words) >= 2 and words[0] == "nameserver":
            try:
                found.append(str(ipaddress.ip_address(words[1].split("%", 1)[0])))
            except ValueError:
                continue
    return found


def dns_rule(servers: Iterable[str]) -> Rule | None:
    """The built-in rule allowing DNS to `servers` (None when there are none). Pure."""
    unique = list(dict.fromkeys(servers))
    if not unique:
        return None
    rule = validate({
        "action": "allow",
        "destination": ", ".join(unique),
        "ports": "53",
        "note": "DNS to this computer's DNS servers, kept up to date (Settings: turn off)",
    })  # fmt: skip
    return replace(rule, id=BUILTIN_IDS)


class SystemResolvers:
    """Reads the system's DNS servers now and whenever their files change; hands the
    built-in rules over (none while not `enabled`)."""

    def __init__(
        self,
        loop: Loop,
        on_rules: Callable[[tuple[Rule, ...]], None],
        enabled: bool,
        files: tuple[Path, ...] = RESOLVER_FILES,
    ) -> None:
        self._on_rules = on_rules
        self._enabled = enabled
        self._files = files
        self._watch = FolderWatch(loop, self._changed, events=CHANGED_OR_GONE)
        # /etc/resolv.conf is often a link into /run, whose file is then replaced
        folders = {path.parent for path in files} | {Path(os.path.realpath(files[0])).parent}
        self._watch.watch({str(folder) for folder in folders})
        self.reload()

    def servers(self) -> list[str]:
        """The servers of every file that exists, in the files' order."""
        found: list[str] = []
        for path in self._files:
            try:
                with open(path, encoding="utf-8", errors="replace") as file:
                    found += nameservers(file.read(_MAX_BYTES))
            except OSError:
                continue  # no such file on this system (no resolved, no NetworkManager)
        return found

    def set_enabled(self, enabled: bool) -> None:
        """Turn the built-in rule on or off (the setting `dns_to_resolvers`)."""
        if enabled != self._enabled:
            self._enabled = enabled
            self.reload()

    def reload(self) -> None:
        rule = dns_rule(self.servers()) if self._enabled else None
        if rule is not None:
            log.info("built-in DNS rule: %s", rule.destination)
        self._on_rules((rule,) if rule is not None else ())

    def _changed(self, path: str) -> None:
        if path.endswith("resolv.conf"):
            self.reload()

    def close(self) -> None:
        self._watch.close()
