"""`KernelVerdicts`: flows like one already decided, decided again in the kernel.

When the queue decides a flow of this host by a rule, and the decision rests only on what
the kernel can see at the system call, the verdict is copied into the data plane's
verdict cache, keyed by: the program (its file, with what changes with its content, and
the path it was run by), the socket's user, its cgroup (so its unit or Flatpak), its root
folder (a container), the destination address, protocol and port. The program's next
connect there is then decided at the system call, without a round trip through the queue
(docs/kernel-verdicts.md). What is cached:

- a decision by a rule that lasts (forever, or until a time: the entry ends with it),
  never one that drops (a drop must time out, and a refused system call fails at once);
- of a program that is no interpreter (the script an interpreter runs is not in the key),
  whose socket the data plane recorded from its creation, under the uid the rules saw;
- a TCP allow (its SYN carries the mark that passes the queue rule) or a TCP or UDP deny
  (a datagram's mark is set before the hook runs, so UDP allows stay with the queue);
- when the flow's binary was hashed, a hash of the very file the kernel names (device,
  inode, size, times), so a changed binary is never let through by the cache;
- with the names the destination has now: the entry ends when the first of them expires,
  and a new name for the address drops the address's entries (a domain rule may now
  apply), before the DNS answer that brought it reaches the program.

Any change of the rules in force (a rule edited, added, removed or expired, rules.d, the
profile, the built-in DNS rule, re-pins) starts a new generation: every entry is void at
once, in the kernel. Blocklists decide only flows no rule decides, so they never void a
cached verdict. Off (the setting, or no data plane) is generation 0.

The kernel tells each flow it decided through a ring buffer; here it is told on as the
queue's are (`Verdicts.told`: history, journal, counters) with the flow the entry was
learnt from, and the rule's hit is counted, so nobody can tell which path decided.
"""

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from netwarden_common.interpreters import interpreter_kind
from netwarden_helper.data_plane.plane import Attribution, DataPlane
from netwarden_helper.data_plane.records import (
    KernelDecision,
    SocketOwner,
    verdict_key,
    verdict_value,
)
from netwarden_helper.identity.hashing import BinaryHasher, file_key
from netwarden_helper.packet_path.packet import TCP, UDP, Packet
from netwarden_helper.packet_path.verdicts import Verdicts
from netwarden_helper.policy.engine import Flow
from netwarden_helper.policy.rule_book import RuleBook
from netwarden_helper.runtime.loop import Loop

log = logging.getLogger(__name__)

MAX_LEARNT = 1 << 14  # the kernel map's size
BATCH = 512  # kernel decisions told per wakeup of the loop
NEVER = 2**64 - 1
_LASTING = ("forever", "until")


@dataclass(frozen=True)
class KernelVerdictStatus:
    """Whether flows are decided in the kernel, and why not when they are not."""

    on: bool
    reason: str = ""


class KernelVerdicts:
    def __init__(
        self,
        loop: Loop,
        data_plane: DataPlane | None,
        attribution: Attribution,
        rule_book: RuleBook,
        verdicts: Verdicts,
        hasher: BinaryHasher,
        names_of: Callable[[str], tuple[str, ...]],
        names_expire: Callable[[str], float | None],
        enabled: bool,
    ) -> None:
        self._data_plane = data_plane
        self._attribution = attribution
        self._rule_book = rule_book
        self._verdicts = verdicts
        self._hasher = hasher
        self._names_of = names_of
        self._names_expire = names_expire
        # key -> (the flow it was learnt from, its rule): how a kernel decision is told
        self._learnt: OrderedDict[bytes, tuple[Flow, int]] = OrderedDict()
        self._by_address: dict[str, set[bytes]] = {}
        self._generation = 0  # the current one; 0: off
        self._generations = 0  # every one made so far: a new one is never an old one again
        self._enabled = False
        self._telling = False
        self._source = None
        if data_plane is not None:
            fd = data_plane.read_decisions(self._decided_in_kernel)
            # a bounded batch per wakeup: a flood of refusals never starves the queue
            self._source = loop.watch_fd(fd, partial(data_plane.consume_decisions, BATCH))
        self.set_enabled(enabled)

    @property
    def untold(self) -> int:
        """Flows the kernel decided that it had no room to tell (so not in history)."""
        return self._data_plane.untold() if self._data_plane is not None else 0

    @property
    def status(self) -> KernelVerdictStatus:
        if self._data_plane is None:
            return KernelVerdictStatus(False, f"no eBPF data plane ({self._attribution.reason})")
        if not self._enabled:
            return KernelVerdictStatus(False, "turned off in the settings")
        return KernelVerdictStatus(True)

    def set_enabled(self, enabled: bool) -> None:
        """Decide in the kernel (from a fresh generation) or not at all; the same value
        again (another setting changed) changes nothing."""
        if enabled == self._enabled and self._generations:
            return
        self._enabled = enabled
        self._new_generation()

    def rules_changed(self) -> None:
        """The rules in force changed: every cached verdict is void from now on."""
        self._new_generation()

    def _new_generation(self) -> None:
        if self._data_plane is None:
            return
        self._generations += 1
        self._generation = self._generations if self._enabled else 0
        self._data_plane.set_generation(self._generation)
        self._by_address.clear()

    def names_learnt(self, address: str) -> None:
        """`address` has a name it did not have: its cached verdicts go (a rule for that
        name may decide its flows now)."""
        if self._data_plane is None:
            return
        for key in self._by_address.pop(address, ()):
            self._data_plane.forget(key)

    def flow_decided(
        self, flow: Flow, five_tuple: tuple, action: str, decided_by: str, rule_id: int | None
    ) -> None:
        """Cache the verdict of a flow the queue decided, if the kernel can apply it
        exactly (see the module's docstring)."""
        try:
            self._learn(flow, five_tuple, action, decided_by, rule_id)
        except Exception:  # the flow keeps its verdict; only the cache goes without
            log.exception("internal error caching a verdict in the kernel")
            self._verdicts.counters["errors"] += 1

    def _learn(
        self, flow: Flow, five_tuple: tuple, action: str, decided_by: str, rule_id: int | None
    ) -> None:
        protocol, src, sport, dst, dport = five_tuple
        if (
            self._data_plane is None
            or not self._generation
            or self._telling
            or decided_by != "rule"
            or rule_id is None
            or flow.forwarded_from
            or not flow.exe
            or not flow.complete
            or interpreter_kind(flow.exe)
            or not (protocol == TCP or (protocol == UDP and action == "deny"))
        ):
            return
        rule = self._rule_book.rule(rule_id)
        if rule is None or rule.drop or rule.lifetime not in _LASTING:
            return
        version = 6 if ":" in dst else 4
        owner = self._data_plane.owner(Packet(version, protocol, src, dst, sport, dport))
        if (
            owner is None
            or not owner.exe_id[0]
            or owner.recorded_uid != owner.socket_uid
            or owner.socket_uid != flow.uid
            or (flow.sha256 is not None and not self._hashed_as_named(owner, flow.sha256))
            or flow.hosts != self._names_of(dst)
        ):
            return
        key = verdict_key(owner, version, protocol, dst, dport)
        value = verdict_value(self._generation, self._expires_ns(rule.expires_at, flow),
                              rule_id, action)  # fmt: skip
        self._data_plane.cache(key, value)
        self._learnt[key] = (flow, rule_id)
        self._learnt.move_to_end(key)
        if len(self._learnt) > MAX_LEARNT:
            oldest, _ = self._learnt.popitem(last=False)
            self._data_plane.forget(oldest)
        self._by_address.setdefault(dst, set()).add(key)

    def _hashed_as_named(self, owner: SocketOwner, sha256: str) -> bool:
        """Whether `sha256` is the hash of the very file the kernel names for `owner`: its
        process still runs it, with the same inode, size and times (the device is left
        out: btrfs subvolumes report another to stat than the kernel records)."""
        key = file_key(owner.tgid) if owner.tgid else None
        return (
            key is not None
            and key[1:] == owner.exe_file[1:]
            and (self._hasher.cached(key) == sha256)
        )

    def _expires_ns(self, rule_ends: float | None, flow: Flow) -> int:
        ends = [t for t in (rule_ends, self._names_expire(flow.dst) if flow.hosts else None) if t]
        if not ends:
            return NEVER
        boot_ns = time.clock_gettime_ns(time.CLOCK_BOOTTIME)  # the kernel's clock: counts suspend
        return max(0, boot_ns + int((min(ends) - time.time()) * 1e9))

    def _decided_in_kernel(self, decision: KernelDecision) -> None:
        try:
            self._tell(decision)
        except Exception:  # raised into libbpf's callback, it would be lost unseen
            log.exception("internal error telling a flow the kernel decided")
            self._verdicts.counters["errors"] += 1

    def _tell(self, decision: KernelDecision) -> None:
        learnt = self._learnt.get(decision.key)
        if learnt is None:  # pushed out of the table meanwhile: not told, but counted
            self._verdicts.counters["kernel_untold"] += 1
            return
        self._learnt.move_to_end(decision.key)
        flow, rule_id = learnt
        rule = self._rule_book.rule(rule_id)
        if rule is not None:
            self._rule_book.count_hit(rule)
        five_tuple = (decision.protocol, decision.src, decision.sport, decision.dst,
                      decision.dport)  # fmt: skip
        self._verdicts.counters["kernel_decided"] += 1
        self._telling = True
        try:
            self._verdicts.told(flow, five_tuple, decision.action, "rule", rule_id)
        finally:
            self._telling = False

    def close(self) -> None:
        """Stop deciding in the kernel (the programs stay until the data plane closes),
        and tell the flows it decided last."""
        self._enabled = False
        self._new_generation()
        if self._source is not None and self._data_plane is not None:
            self._data_plane.consume_decisions()
            Loop.cancel(self._source)
            self._source = None
