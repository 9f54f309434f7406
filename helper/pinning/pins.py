"""`PinGuard`: notices when a pinned program's binary changes, and raises the alert;
keeps every alert (also those of `PacketSocketWatch`) and resolves them.

Two ways in. At a connection: the packet path found a binary that no rule's pin matches
(`binary_mismatch`). On disk: the folders of pinned programs are watched (inotify), so a
replaced binary is hashed and alerted when it changes, before it ever connects. Either
way the file is looked at on a worker thread (stat, sha256 when not known, the package
manager's verdict, waiting while dpkg or rpm is at work so its records are current) and the
alert is raised on the loop: one per program and new hash. A binary the package
manager vouches for is trusted at once when the setting allows it (the rules are
re-pinned; the alert is kept, as information). Resolving an alert is `resolve`.
"""

import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from netwarden_common.errors import BadValue, Missing
from netwarden_common.rules import SHA256, Rule
from netwarden_helper.identity.hashing import BinaryHasher, FileKey, sha256_of, stat_key
from netwarden_helper.pinning import packages
from netwarden_helper.pinning.alerts import (
    AUTO_TRUSTED,
    HASH_CHANGED,
    OPEN,
    PACKET_SOCKET,
    RESOLUTIONS,
    TRUSTED,
    Alert,
    FileFacts,
    affected_rules,
    block_rule,
    pinned_to_old,
)
from netwarden_helper.policy.live_settings import LiveSettings
from netwarden_helper.policy.rule_book import RuleBook
from netwarden_helper.policy.rules_dir import ADMIN_IDS
from netwarden_helper.runtime.events import Event
from netwarden_helper.runtime.file_watch import FolderWatch
from netwarden_helper.runtime.loop import Loop
from netwarden_helper.storage.store import Store

log = logging.getLogger(__name__)

PACKAGES_WAIT_S = 120.0  # at most this long for dpkg or rpm to finish before judging


class UnknownAlert(Missing):
    """No alert has this id."""


class AlertResolved(BadValue):
    """The alert cannot be resolved so: it was resolved already, or trusting it would
    re-pin an administrator's rule (only its file can)."""


def inspect(path: str, sha256: str | None) -> tuple[FileKey | None, str, FileFacts]:
    """The file identity, sha256 and facts of the file at `path` (worker thread; the
    identity is None if the file changed while it was read). With `sha256` given (the
    binary a process runs), the package verdict holds only if the file is that binary."""
    deadline = time.monotonic() + PACKAGES_WAIT_S
    while packages.busy() and time.monotonic() < deadline:
        time.sleep(0.2)
    status = os.stat(path)
    digest = sha256_of(path)
    key: FileKey | None = stat_key(status)
    if stat_key(os.stat(path)) != key:
        key = None
    verification = packages.verify(path)
    facts = FileFacts(
        changed_at=status.st_ctime,
        modified_at=status.st_mtime,
        size=status.st_size,
        owner=status.st_uid,
        package=verification.package,
        verified=verification.verified and (sha256 is None or digest == sha256),
    )
    return key, digest, facts


class PinGuard:
    def __init__(
        self,
        loop: Loop,
        store: Store,
        hasher: BinaryHasher,
        rule_book: RuleBook,
        settings: LiveSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.loop = loop
        self.store = store
        self.hasher = hasher
        self.rule_book = rule_book
        self.settings = settings
        self.clock = clock
        self.raised: Event[[Alert]] = Event()
        self.resolved: Event[[Alert]] = Event()
        self._work = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pins")
        self._looking: set[tuple[str, str | None]] = set()
        self._pinned: set[str] = set()
        self._watch = FolderWatch(loop, self._file_changed)
        self.rules_changed()

    # From the rule book and the packet path

    def rules_changed(self) -> None:
        """Watch the folders of the programs that pinned rules name now."""
        self._pinned = {rule.exe for rule in self.rule_book.rules() if rule.sha256}
        self._watch.watch({os.path.dirname(exe) for exe in self._pinned})

    def binary_mismatch(self, exe: str, sha256: str | None) -> None:
        """A process of `exe` runs binary `sha256`, which no rule of `exe` pins."""
        if sha256 and SHA256.fullmatch(sha256):
            self._look(exe, sha256)

    def _file_changed(self, path: str) -> None:
        if path in self._pinned:
            self._look(path, None)

    # Looking at the file, off the loop

    def _look(self, exe: str, sha256: str | None) -> None:
        if (exe, sha256) in self._looking:
            return
        if sha256 is not None and (
            not affected_rules(self.rule_book.rules(), exe, sha256)
            or self.store.alert_for(exe, sha256) is not None
        ):
            return
        self._looking.add((exe, sha256))

        def work() -> None:
            try:
                key, digest, facts = inspect(exe, sha256)
            except OSError as exc:  # gone again, or unreadable: the next event will tell
                log.info("cannot look at %s: %s", exe, exc)
                self.loop.call_soon(lambda: self._looking.discard((exe, sha256)))
                return
            self.loop.call_soon(lambda: self._seen(exe, sha256, key, digest, facts))

        self._work.submit(work)

    def _seen(
        self, exe: str, sha256: str | None, key: FileKey | None, digest: str, facts: FileFacts
    ) -> None:
        self._looking.discard((exe, sha256))
        if key is not None:  # a process starting from this file needs no second hashing
            self.hasher.remember(key, digest)
        new = sha256 or digest
        affected = affected_rules(self.rule_book.rules(), exe, new)
        if not affected or self.store.alert_for(exe, new) is not None:
            return
        alert = Alert(0, self.clock(), exe, affected[0].sha256, new, facts,
                      tuple(rule.id for rule in affected if rule.id is not None))  # fmt: skip
        alert = self.store.add_alert(alert)
        log.warning("the binary of %s changed (%s -> %s), package %s %s: alert %d",
                    exe, alert.old_sha256[:12], new[:12], facts.package or "none",
                    "verified" if facts.verified else "not verified", alert.id)  # fmt: skip
        mine = [rule for rule in affected if rule.id is not None and rule.id < ADMIN_IDS]
        if facts.verified and self.settings.current.trust_package_updates and mine == affected:
            alert = self._apply(alert, AUTO_TRUSTED, affected)
        self.raised.emit(alert)

    def packet_socket(self, exe: str, sha256: str, pid: int, uid: int, facts: FileFacts) -> None:
        """Process `pid` of user `uid`, running binary `sha256` of `exe`, holds a packet
        socket: alert once per binary (a trusted or blocked one is not alerted again)."""
        if self.store.alert_for(exe, sha256, PACKET_SOCKET) is not None:
            return
        alert = Alert(0, self.clock(), exe, "", sha256, facts, (), kind=PACKET_SOCKET, pid=pid,
                      uid=uid)  # fmt: skip
        alert = self.store.add_alert(alert)
        log.warning("%s (pid %d, uid %d) opened a packet socket: alert %d", exe, pid, uid,
                    alert.id)  # fmt: skip
        self.raised.emit(alert)

    # Alerts

    def alerts(self) -> list[Alert]:
        """Every alert, newest first."""
        return self.store.alerts()

    def resolve(self, alert_id: int, resolution: str) -> Alert:
        """Trust the new binary ("trust") or keep blocking it ("block")."""
        alert = next((a for a in self.store.alerts() if a.id == alert_id), None)
        if alert is None:
            raise UnknownAlert(f"there is no alert {alert_id}")
        if alert.state != OPEN:
            raise AlertResolved(f"alert {alert_id} was resolved already ({alert.state})")
        affected = self.affected(alert)
        admin = [rule.id for rule in affected if rule.id is not None and rule.id >= ADMIN_IDS]
        if resolution == "trust" and admin:
            raise AlertResolved(
                f"alert {alert_id} concerns the administrator's rules {admin}: the new "
                "binary is trusted by updating their sha256 in /etc/netwarden/rules.d"
            )
        if resolution == "trust" and alert.kind == HASH_CHANGED and not affected:
            raise AlertResolved(
                f"no rule pins {alert.exe} to its old binary any more (the rules were "
                "replaced or changed since the alert): nothing to re-pin. Add a rule for "
                "the new binary, or block it"
            )
        alert = self._apply(alert, RESOLUTIONS[resolution], affected)
        self.resolved.emit(alert)
        return alert

    def affected(self, alert: Alert) -> list[Rule]:
        """The rules resolving `alert` changes: those pinning its program's old binary."""
        return pinned_to_old(self.rule_book.rules(), alert)

    def _apply(self, alert: Alert, state: str, rules: list[Rule]) -> Alert:
        if state in (TRUSTED, AUTO_TRUSTED):
            if rules:  # a packet socket's alert has none: trusting it only ends the alert
                self.rule_book.repin_rules([r.id for r in rules if r.id is not None],
                                           alert.new_sha256)  # fmt: skip
        else:
            self.rule_book.add_rule(block_rule(alert, rules))
        return self.store.resolve_alert(alert, state, self.clock())

    def close(self) -> None:
        self._watch.close()
        self._work.shutdown(wait=False, cancel_futures=True)
