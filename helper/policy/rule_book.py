"""`RuleBook`: the rules in force, in their bands, and every change made to them.

Bands, in the order tried: the administrator's rules (`rules_dir.py`, read-only), then the
user's (the store), then the built-in ones (`resolvers.py`: DNS to the system's servers).
A rule in a profile (`profile`) is in force only while that profile is active
(`use_profile`); the others stay listed. A flow no rule decides is denied if a blocklist
lists one of its host names or its address. Every change goes to the store first, then
the prepared `RuleSet` is rebuilt in one assignment, then `policy_changed` is emitted for
any change that can decide a flow differently, blocklists included (held flows are
decided again), and `rules_changed` for a change of the rules (the pins, the bus). Hit
counts gather in memory, are written every few seconds and then told (`hits_changed`);
`counted` gives a rule with them; the flows each blocklist blocked are counted and
written alike (`blocklist_hits`). Runs on the loop's thread.
"""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

from netwarden_common.rules import Rule, is_expired
from netwarden_helper.blocklists.hits import BlocklistHits
from netwarden_helper.identity.process_info import start_time
from netwarden_helper.policy.domain_lists import DomainMatcher
from netwarden_helper.policy.engine import Decision, Flow, RuleSet, Verdict, ordered
from netwarden_helper.policy.resolvers import BUILTIN_IDS, BUILTIN_SOURCE
from netwarden_helper.policy.rules_dir import ADMIN_IDS, AdminRules
from netwarden_helper.runtime.events import Event
from netwarden_helper.runtime.loop import Loop
from netwarden_helper.storage.store import Store

HIT_FLUSH_S = 5.0
PRUNE_S = 5.0


class RuleBook:
    """The administrator's and the user's rules, the blocklist, and the decision."""

    def __init__(self, loop: Loop, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self.clock = clock
        self.rules_changed: Event[[]] = Event()
        self.policy_changed: Event[[]] = Event()
        self._user_rules: list[Rule] = store.rules()
        self._admin = AdminRules()
        self._builtin: tuple[Rule, ...] = ()
        self.blocklist = DomainMatcher()
        self.blocklist_hits = BlocklistHits(store, clock)
        self.profile = ""  # the active profile; "" = none (only every profile's rules)
        self._rule_set: RuleSet
        self._elsewhere: list[Rule]  # the rules of profiles not active
        self._by_id: dict[int, Rule]
        self._rebuild()  # nobody listens yet
        self._hits: dict[int, tuple[int, float]] = {}  # counted, not yet stored
        self._stored_hits: dict[int, tuple[int, float]] = {}  # stored since the last load
        # {rule id: (hits, last hit)} of the rules hit since the last time, once stored
        self.hits_changed: Event[[dict[int, tuple[int, float]]]] = Event()
        self._batch_depth = 0
        self._batch_changed = False
        self._timers = [
            loop.call_every(HIT_FLUSH_S, self._flush_counts),
            loop.call_every(PRUNE_S, self.prune),
        ]

    def close(self) -> None:
        for timer in self._timers:
            Loop.cancel(timer)
        self._flush_counts()

    def decide(self, flow: Flow) -> Decision:
        """What the rules say of `flow`, then the blocklist for a flow no rule decides."""
        decision = self._rule_set.decide(flow, self.clock())
        if decision.verdict is Verdict.NO_RULE:
            listed = self.blocklist.listed_by(flow.hosts, flow.dst)
            if listed is not None:
                return Decision(Verdict.BLOCKLIST, blocklist=listed)
        return decision

    def rules(self) -> list[Rule]:
        """Every rule: those in force in precedence order (the administrator's, then the
        user's), then those of profiles not active."""
        return self._rule_set.rules + self._elsewhere

    def user_rules(self) -> list[Rule]:
        """The user's rules (those the bus may change), by id."""
        return sorted(self._user_rules, key=lambda rule: rule.id or 0)

    def rule(self, rule_id: int) -> Rule | None:
        return self._by_id.get(rule_id)

    def admin_source(self, rule_id: int) -> str:
        """The file an administrator's rule comes from, "built-in" for a built-in rule,
        "" for the user's rules."""
        if rule_id >= BUILTIN_IDS:
            return BUILTIN_SOURCE
        return self._admin.sources.get(rule_id, "")

    def counts(self) -> dict[str, int]:
        return {"rules": len(self._rule_set), "admin_rules": len(self._admin.rules),
                "blocklisted_names": len(self.blocklist)}  # fmt: skip

    # Changes

    def set_admin_rules(self, admin: AdminRules) -> None:
        """Use these administrator's rules from now on (they replace the previous ones)."""
        self._admin = admin
        self._rebuild()

    def set_builtin_rules(self, rules: tuple[Rule, ...]) -> None:
        """Use these built-in rules from now on (they replace the previous ones)."""
        self._builtin = rules
        self._rebuild()

    def use_profile(self, name: str) -> None:
        """Put the rules of profile `name` ("" for none) in force instead of the active
        one's: the rules in force are swapped in one assignment."""
        self.profile = name
        self._rebuild()

    def set_blocklist(self, matcher: DomainMatcher) -> None:
        """Use this blocklist matcher from now on."""
        self.blocklist = matcher
        self.policy_changed.emit()

    def add_rule(self, rule: Rule) -> Rule:
        stored = self._store.add_rule(rule)
        self._reload()
        return stored

    def replace_rule(self, rule_id: int, rule: Rule) -> bool:
        changed = self._store.replace_rule(rule_id, rule)
        self._reload()
        return changed

    def delete_rule(self, rule_id: int) -> bool:
        deleted = self._store.delete_rule(rule_id)
        self._reload()
        return deleted

    def rename_profile(self, name: str, new_name: str) -> None:
        """Rename profile `name` in its rules (and as the active one if it is)."""
        self._store.rename_profile(name, new_name)
        if self.profile == name:
            self.profile = new_name
        self._reload()

    def delete_profile(self, name: str) -> int:
        """Delete profile `name` and its rules (one transaction); returns how many rules."""
        deleted = self._store.delete_profile(name)
        self._reload()
        return deleted

    def repin_rules(self, rule_ids: list[int], sha256: str) -> None:
        """Pin these rules to the binary `sha256` (trusting a changed binary)."""
        self._store.repin_rules(rule_ids, sha256)
        self._reload()

    def import_rules(self, rules: list[Rule], replace_existing: bool) -> tuple[int, int]:
        """Add rules from a file in one transaction; returns (added, removed)."""
        counts = self._store.import_rules(rules, replace_existing)
        self._reload()
        return counts

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Changes made inside are stored at once, but the rules in force are rebuilt, and
        the change told, once, when the batch ends (so what the caller does meanwhile,
        such as closing the prompt an answer is for, is told first)."""
        self._batch_depth += 1
        try:
            yield
        finally:
            self._batch_depth -= 1
            if self._batch_depth == 0 and self._batch_changed:
                self._batch_changed = False
                self._reload()

    def prune(self) -> None:
        """Delete rules whose lifetime is over: expired times, programs that quit."""
        now = self.clock()
        over = [
            rule.id
            for rule in self._user_rules
            if rule.id is not None
            and (is_expired(rule, now)
                 or (rule.lifetime == "until_quit" and start_time(rule.pid or 0) != rule.pid_start))
        ]  # fmt: skip
        if over:
            for rule_id in over:
                self._store.delete_rule(rule_id)
            self._reload()

    def _reload(self) -> None:
        if self._batch_depth:
            self._batch_changed = True
            return
        self.flush_hits()
        self._user_rules = self._store.rules()
        self._stored_hits = {}  # the rules just read carry them
        self._rebuild()

    def _rebuild(self) -> None:
        bands = (self._admin.rules, self._user_rules)
        in_force = [[r for r in band if r.profile in ("", self.profile)] for band in bands]
        self._elsewhere = ordered(r for band in bands for r in band
                                  if r.profile not in ("", self.profile))  # fmt: skip
        self._rule_set = RuleSet(*in_force, self._builtin)
        self._by_id = {rule.id: rule for rule in self.rules() if rule.id is not None}
        self.policy_changed.emit()  # held flows first: what the rules now decide is released
        self.rules_changed.emit()

    # Hit counts

    def count_hit(self, rule: Rule) -> None:
        if rule.id is None or rule.id >= ADMIN_IDS:
            return  # not in the database; the administrator's files keep no counters
        count, _last = self._hits.get(rule.id, (0, 0.0))
        self._hits[rule.id] = (count + 1, self.clock())

    def counted(self, rule: Rule) -> Rule:
        """`rule` with its hit count and last hit as of now (the rules in force carry them
        as they were when the rules were last read)."""
        extra, last = self._stored_hits.get(rule.id or 0, (0, None))
        pending, pending_last = self._hits.get(rule.id or 0, (0, None))
        if not extra and not pending:
            return rule
        last_hit = pending_last or last
        return replace(rule, hits=rule.hits + extra + pending, last_hit=last_hit)

    def _flush_counts(self) -> None:
        self.flush_hits()
        self.blocklist_hits.flush()

    def flush_hits(self) -> None:
        """Write the rules' hit counts gathered since the last flush (one transaction),
        then tell their new totals (`hits_changed`)."""
        if not self._hits:
            return
        hits, self._hits = self._hits, {}
        self._store.record_hits(hits)
        for rule_id, (count, last) in hits.items():
            stored, _ = self._stored_hits.get(rule_id, (0, last))
            self._stored_hits[rule_id] = (stored + count, last)
        totals = {}
        for rule_id in hits:
            rule = self.rule(rule_id)
            if rule is not None:
                now = self.counted(rule)
                totals[rule_id] = (now.hits, now.last_hit or 0.0)
        self.hits_changed.emit(totals)
