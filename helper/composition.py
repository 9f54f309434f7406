"""The composition root: every part of the helper built and wired here, and nowhere else.

`Helper` builds the parts in dependency order, each given what it needs at construction,
then connects the events (who listens to what: the one place where parts meet), then
starts intercepting. Start: open the database, bind the queues, then install the
netfilter rules (so no packet is ever queued to a queue nobody reads). Stop: give every
held packet the default verdict (while the reject rule still stands), remove the netfilter
rules, then unbind.

`serve` puts a helper on the bus: it builds the bus concerns and the one exported object,
and connects them to the helper's events through the loop (`Loop.deferred`), so no D-Bus
signal is ever sent from inside a packet callback. Used by `netwarden-helper`; tests use
`Helper` in-process, with or without the bus.
"""

import logging
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import dbus

from netwarden_helper.blocklists.locations import ADMIN_DIR, PACKAGED_DIR
from netwarden_helper.blocklists.updates import BlocklistUpdates
from netwarden_helper.bus.alerts import AlertMethods
from netwarden_helper.bus.blocklists import BlocklistMethods
from netwarden_helper.bus.history import SAMPLE_S, HistoryMethods
from netwarden_helper.bus.locations import LocationMethods
from netwarden_helper.bus.peers import Signals
from netwarden_helper.bus.polkit import PolkitAuthority
from netwarden_helper.bus.profiles import ProfileMethods
from netwarden_helper.bus.prompts import PromptMethods
from netwarden_helper.bus.rules import RulesMethods
from netwarden_helper.bus.service import HelperObject
from netwarden_helper.bus.status import StatusMethods
from netwarden_helper.data_plane import plane as data_plane
from netwarden_helper.geo.updates import LocationUpdates
from netwarden_helper.identity.dns_names import DnsNames
from netwarden_helper.identity.hashing import BinaryHasher
from netwarden_helper.identity.identify import Identifier
from netwarden_helper.packet_path.held_flows import HeldFlows
from netwarden_helper.packet_path.kernel_verdicts import KernelVerdicts
from netwarden_helper.packet_path.netfilter import Backend, Interception, choose_backend, remove_all
from netwarden_helper.packet_path.pipeline import Pipeline
from netwarden_helper.packet_path.prompt_agents import PromptAgents
from netwarden_helper.packet_path.queue import QUEUE_LENGTH, PacketQueue
from netwarden_helper.packet_path.verdicts import Verdicts
from netwarden_helper.pinning.packet_socket_watch import PacketSocketWatch
from netwarden_helper.pinning.pins import PinGuard
from netwarden_helper.policy import public_suffix
from netwarden_helper.policy.live_settings import LiveSettings
from netwarden_helper.policy.profiles import Profiles
from netwarden_helper.policy.resolvers import RESOLVER_FILES, SystemResolvers
from netwarden_helper.policy.rule_book import RuleBook
from netwarden_helper.policy.rules_dir import DEFAULT_FOLDER, RulesDir
from netwarden_helper.policy.settings import Settings
from netwarden_helper.records.history import History
from netwarden_helper.records.journal import JOURNAL_SOCKET, JournalWriter
from netwarden_helper.records.socket_traffic import SocketTraffic
from netwarden_helper.runtime.loop import Loop
from netwarden_helper.runtime.network_manager import NetworkWatch
from netwarden_helper.storage.store import Store

log = logging.getLogger(__name__)

FLOW_COPY_BYTES = 256  # of each queued flow packet: every header the parser reads


class Helper:
    """The helper's parts, wired; `close` stops them in a safe order."""

    def __init__(
        self,
        loop: Loop,
        state_dir: Path,
        flow_queue: int,
        dns_queue: int,
        rules_dir: Path = DEFAULT_FOLDER,
        blocklists_dir: Path = ADMIN_DIR,
        journal_socket: str = JOURNAL_SOCKET,
        queue_length: int = QUEUE_LENGTH,
        resolver_files: tuple[Path, ...] = RESOLVER_FILES,
        bpf_object: Path | None = None,
        bpf_cgroup: Path | None = None,
    ) -> None:
        self.loop = loop
        self.store = Store(state_dir)
        self.settings = LiveSettings(self.store)
        self.interception = Interception(flow_queue, dns_queue, self.settings.current.fail_closed)
        self.counters: Counter[str] = Counter()
        # identity: the eBPF data plane (programs on `bpf_cgroup`, netfilter in this
        # network namespace), else sock_diag and /proc
        self.data_plane, self.attribution = data_plane.start(
            bpf_object, bpf_cgroup, self.interception.marks.decided
        )
        self.hasher = BinaryHasher(loop)
        self.dns = DnsNames()
        self.identifier = Identifier(loop, self.hasher, self.dns, self.data_plane)
        # policy
        self.rule_book = RuleBook(loop, self.store)
        self.profiles = Profiles(self.store, self.rule_book)
        # packet path
        self.verdicts = Verdicts(self.counters, lambda: self.settings.current.default_action,
                                 self.interception.marks.reject)  # fmt: skip
        self.held_flows = HeldFlows(loop, self.rule_book, self.hasher, self.verdicts,
                                    self.settings, PromptAgents(), self.counters,
                                    self.identifier.socket_open,
                                    max_held=queue_length // 2)  # fmt: skip
        self.pipeline = Pipeline(self.identifier, self.dns, self.rule_book, self.held_flows,
                                 self.verdicts, self.counters,
                                 lambda: self.settings.current.forwarded)  # fmt: skip
        self.kernel_verdicts = KernelVerdicts(loop, self.data_plane, self.attribution,
                                              self.rule_book, self.verdicts, self.hasher,
                                              self.identifier.names_of, self.dns.expiry,
                                              self.settings.current.kernel_verdicts)  # fmt: skip
        # pinning, records
        self.pins = PinGuard(loop, self.store, self.hasher, self.rule_book, self.settings)
        self.packet_sockets = PacketSocketWatch(loop, self.pins)
        self.history = History(loop, state_dir, lambda: self.settings.current.history_days,
                               socket_traffic=SocketTraffic(self.data_plane)
                               if self.data_plane is not None else None)  # fmt: skip
        self.journal = JournalWriter(journal_socket)
        # who listens to what
        self.verdicts.decided.connect(self.history.flow_decided)
        self.verdicts.decided.connect(self.journal.flow_decided)
        self.verdicts.decided.connect(self.kernel_verdicts.flow_decided)
        self.profiles.switched.connect(self.history.profile_switched)
        self.rule_book.policy_changed.connect(self.held_flows.policy_changed)
        # (not the blocklists' changes: a cached verdict is a rule's, which they never change)
        self.rule_book.rules_changed.connect(self.kernel_verdicts.rules_changed)
        self.dns.learnt.connect(self.kernel_verdicts.names_learnt)
        self.rule_book.rules_changed.connect(self.pins.rules_changed)
        self.pipeline.binary_mismatch.connect(self.pins.binary_mismatch)
        self.settings.changed.connect(self._settings_changed)
        self.settings.changed.connect(self.held_flows.settings_changed)
        public_suffix.preload()  # for "this domain" in prompts and answers, off the loop
        # sources of rules from outside: the administrator's folder, the system's DNS
        # servers, blocklists
        self.rules_dir = RulesDir(loop, rules_dir, self.rule_book.set_admin_rules)
        self.resolvers = SystemResolvers(loop, self.rule_book.set_builtin_rules,
                                         self.settings.current.dns_to_resolvers,
                                         resolver_files)  # fmt: skip
        self.blocklists = BlocklistUpdates(loop, self.store, state_dir,
                                           (blocklists_dir, PACKAGED_DIR),
                                           self.rule_book.set_blocklist,
                                           self.interception.marks.own)  # fmt: skip
        self.locations = LocationUpdates(loop, state_dir, self.interception.marks.own)
        self.locations.configure(self.settings.current.locations,
                                 self.settings.current.locations_source)  # fmt: skip
        # interception last: queues bound before any rule sends packets to them
        fail_open = not self.interception.fail_closed
        # The flow queue needs the headers only; DNS needs whole messages and never blocks.
        self.flow_queue = PacketQueue(loop, flow_queue, self.pipeline.on_flow_packet, fail_open,
                                      queue_length, copy_range=FLOW_COPY_BYTES)  # fmt: skip
        self.dns_queue = PacketQueue(loop, dns_queue, self.pipeline.on_dns_packet, True)
        remove_all()  # whatever a crashed run left behind, of either backend
        self.backend: Backend = choose_backend(self.interception)
        self.backend.install(self.interception)
        mode = "closed" if self.interception.fail_closed else "open"
        log.info("intercepting new flows on queue %d (fail-%s), DNS on queue %d",
                 flow_queue, mode, dns_queue)  # fmt: skip

    def _settings_changed(self, settings: Settings) -> None:
        self.locations.configure(settings.locations, settings.locations_source)
        self.resolvers.set_enabled(settings.dns_to_resolvers)
        self.kernel_verdicts.set_enabled(settings.kernel_verdicts)
        if settings.fail_closed != self.interception.fail_closed:
            self.interception = replace(self.interception, fail_closed=settings.fail_closed)
            self.backend.install(self.interception)
            self.flow_queue.set_fail_open(not settings.fail_closed)

    def status(self) -> dict[str, Any]:
        """Counters and sizes for the status view."""
        return {**self.counters, **self.rule_book.counts(), **self.held_flows.counts(),
                "kernel_untold": self.kernel_verdicts.untold,
                "dns_addresses": len(self.dns), "dns_queries": self.dns.pending_queries,
                "dns_unsolicited": self.dns.unsolicited}  # fmt: skip

    def close(self) -> None:
        # Nothing more is decided in the kernel, and what it decided last is told while
        # the history and the hit counts still take it. Held flows get their verdict while
        # Netwarden's reject rule still stands (a deny must refuse, not slip out once the
        # rules are gone); nothing is read from the queues after this, and what they still
        # hold the kernel drops at unbind.
        self.kernel_verdicts.close()
        self.held_flows.close()
        self.backend.remove()
        self.rules_dir.close()
        self.resolvers.close()
        self.blocklists.close()
        self.locations.close()
        self.rule_book.close()
        self.identifier.close()
        self.journal.close()
        self.flow_queue.close()
        self.dns_queue.close()
        self.history.close()
        self.packet_sockets.close()
        self.pins.close()
        self.hasher.close()
        if self.data_plane is not None:  # after the history's meter, which reads its maps
            self.data_plane.close()
        self.store.close()


class Served:
    """A helper on the bus: its exported object, and the listeners it connected."""

    def __init__(self, bus: dbus.Bus, authority: PolkitAuthority, helper: Helper) -> None:
        loop, signals = helper.loop, Signals(bus)
        status = StatusMethods(helper, signals)
        rules = RulesMethods(helper.rule_book, helper.profiles,
                             str(helper.rules_dir.folder.parent), signals)  # fmt: skip
        profiles = ProfileMethods(helper.profiles, signals)
        prompts = PromptMethods(helper.held_flows, signals)
        history = HistoryMethods(helper.history, signals)
        alerts = AlertMethods(helper.pins, (prompts.agents, history.watchers), signals)
        blocklists = BlocklistMethods(helper.blocklists, helper.rule_book.blocklist_hits,
                                      signals)  # fmt: skip
        locations = LocationMethods(helper.locations, signals)
        concerns = [status, rules, prompts, alerts, history, blocklists, profiles, locations]
        self.object = HelperObject(bus, authority, loop, concerns)
        self._listening: list[tuple[Any, Any]] = [
            (helper.rule_book.rules_changed, rules.rules_changed),
            (helper.rule_book.hits_changed, rules.hits_changed),
            (helper.rule_book.blocklist_hits.changed, blocklists.hits_changed),
            (helper.profiles.changed, profiles.profiles_changed),
            (helper.locations.changed, locations.database_changed),
            (helper.held_flows.raised, prompts.prompt_raised),
            (helper.held_flows.changed, prompts.prompt_changed),
            (helper.held_flows.closed, prompts.prompt_closed),
            (helper.pins.raised, alerts.alert_raised),
            (helper.pins.resolved, alerts.alert_resolved),
            (helper.history.recorded, history.flow_recorded),
            (helper.history.counted, history.bytes_counted),
            (helper.history.switch_recorded, history.switch_recorded),
        ]
        self._listening = [(event, loop.deferred(listener)) for event, listener in self._listening]
        for event, listener in self._listening:
            event.connect(listener)
        self._sample_timer = loop.call_every(SAMPLE_S, history.send_sample)
        self._network = NetworkWatch(bus, helper.profiles.network_changed)

    def close(self) -> None:
        """Stop serving: no more prompts or traffic signals, the object leaves the bus."""
        Loop.cancel(self._sample_timer)
        self._network.close()
        for event, listener in self._listening:
            event.disconnect(listener)
        self.object.remove_from_connection()
