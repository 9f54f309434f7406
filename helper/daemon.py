"""`Helper`: the helper's parts assembled, started and stopped in a safe order.

Start: open the database, bind the queues, then install the netfilter rules (so no
packet is ever queued to a queue nobody reads). Stop: remove the netfilter rules, give
every held packet the default verdict, then unbind. Used by `netwarden-helper` and,
in-process, by the tests.
"""

import logging
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from netwarden_helper.blocklist_sources import ADMIN_DIR, PACKAGED_DIR
from netwarden_helper.blocklist_updates import BlocklistUpdates
from netwarden_helper.firewall import Firewall
from netwarden_helper.hashing import BinaryHasher
from netwarden_helper.history import History
from netwarden_helper.journal import JOURNAL_SOCKET, JournalWriter
from netwarden_helper.loop import Loop
from netwarden_helper.netfilter import Backend, Interception, choose_backend, remove_all
from netwarden_helper.pins import PinGuard
from netwarden_helper.queue import PacketQueue
from netwarden_helper.rules_dir import DEFAULT_FOLDER, RulesDir
from netwarden_helper.settings import Settings, updated
from netwarden_helper.store import Store

log = logging.getLogger(__name__)


class Helper:
    def __init__(
        self,
        loop: Loop,
        state_dir: Path,
        flow_queue: int,
        dns_queue: int,
        rules_dir: Path = DEFAULT_FOLDER,
        blocklists_dir: Path = ADMIN_DIR,
        journal_socket: str = JOURNAL_SOCKET,
    ) -> None:
        self.store = Store(state_dir)
        settings = self.store.settings()
        self.interception = Interception(flow_queue, dns_queue, settings.fail_closed)
        self.hasher = BinaryHasher(loop)
        self.firewall = Firewall(loop, self.store, self.hasher)
        self.history = History(loop, state_dir, lambda: self.firewall.settings.history_days)
        self.journal = JournalWriter(journal_socket)
        self.firewall.observers += [self.history, self.journal]
        self.pins = PinGuard(loop, self.store, self.hasher, self.firewall)
        self.firewall.pins = self.pins
        self.rules_dir = RulesDir(loop, rules_dir, self.firewall.set_admin_rules)
        self.blocklists = BlocklistUpdates(loop, self.store, state_dir,
                                           (blocklists_dir, PACKAGED_DIR),
                                           self.firewall.set_blocklist)  # fmt: skip
        self._queues = [
            PacketQueue(loop, flow_queue, self.firewall.on_flow_packet),
            PacketQueue(loop, dns_queue, self.firewall.on_dns_packet),
        ]
        remove_all()  # whatever a crashed run left behind, of either backend
        self.backend: Backend = choose_backend(self.interception)
        self.backend.install(self.interception)
        mode = "closed" if settings.fail_closed else "open"
        log.info("intercepting new flows on queue %d (fail-%s), DNS on queue %d",
                 flow_queue, mode, dns_queue)  # fmt: skip

    def change_settings(self, values: Mapping[str, Any]) -> Settings:
        """Validate, store and apply new settings (`SettingsError` changes nothing)."""
        settings = updated(self.firewall.settings, values)
        self.store.save_settings(settings)
        self.firewall.settings = settings
        if settings.fail_closed != self.interception.fail_closed:
            self.interception = replace(self.interception, fail_closed=settings.fail_closed)
            self.backend.install(self.interception)
        return settings

    def close(self) -> None:
        self.backend.remove()
        self.rules_dir.close()
        self.blocklists.close()
        self.firewall.close()
        self.journal.close()
        for queue in self._queues:
            queue.close()
        self.history.close()
        self.pins.close()
        self.hasher.close()
        self.store.close()
