"""`Profiles`: the named rule sets, which one is active, and switching between them.

A switch stores the choice, then has the `RuleBook` swap the rules in force in one
assignment (no flow is decided by half of each set), logs it (the helper's log is the
system journal), tells `changed` why: "user" (a call) or "network", then `switched` what
changed (a `ProfileSwitch`: from, to, why, who or which network; the history records it).
A profile added, changed, renamed or removed may make the network switch: the switch
names who made that change.

Switching by network: when the primary connection changes, the profile that claims it
(by connection UUID or Wi-Fi SSID) becomes active; if none does and the active profile
claims some network (so it was chosen for where the computer was), none becomes active.
A profile that claims no network stays active until switched by hand.
"""

import logging

from netwarden_common.errors import BadValue, Missing
from netwarden_common.profiles import Network, Profile, ProfileSwitch
from netwarden_helper.policy.rule_book import RuleBook
from netwarden_helper.runtime.events import Event
from netwarden_helper.storage.store import Store

log = logging.getLogger(__name__)

MAX_PROFILES = 64


class Profiles:
    """The profiles, the active one and the current network."""

    def __init__(self, store: Store, rule_book: RuleBook) -> None:
        self._store = store
        self._book = rule_book
        self._profiles = {profile.name: profile for profile in store.profiles()}
        self.network: Network | None = None  # None: NetworkManager tells nothing
        self.changed: Event[[str]] = Event()  # why: "user", "network" or "edited"
        self.switched: Event[[ProfileSwitch]] = Event()
        rule_book.use_profile(store.active_profile())

    @property
    def active(self) -> str:
        return self._book.profile

    def all(self) -> list[Profile]:
        return list(self._profiles.values())

    def get(self, name: str) -> Profile:
        """Profile `name`, or `Missing`."""
        profile = self._profiles.get(name)
        if profile is None:
            raise Missing(f"there is no profile {name!r}")
        return profile

    def rule_counts(self) -> dict[str, int]:
        """How many of the user's rules each profile has."""
        counts = dict.fromkeys(self._profiles, 0)
        for rule in self._book.user_rules():
            if rule.profile in counts:
                counts[rule.profile] += 1
        return counts

    def add(self, profiles: list[Profile], uid: int | None = None) -> None:
        """Add the profiles not there yet (those there keep their networks), by `uid`."""
        new = [profile for profile in profiles if profile.name not in self._profiles]
        if len(self._profiles) + len(new) > MAX_PROFILES:
            raise BadValue(f"at most {MAX_PROFILES} profiles")
        if not new:
            return
        self._store.add_profiles(new)
        self._profiles.update((profile.name, profile) for profile in new)
        self._edited(uid)

    def update(self, profile: Profile, uid: int | None = None) -> None:
        """Change the network a profile claims, by `uid`."""
        self.get(profile.name)
        self._store.update_profile(profile)
        self._profiles[profile.name] = profile
        self._edited(uid)

    def rename(self, name: str, new: Profile, uid: int | None = None) -> None:
        """Give profile `name` the name of `new` (checked), keeping its rules, its network
        and whether it is active, by `uid`."""
        old = self.get(name)
        if new.name != name and new.name in self._profiles:
            raise BadValue(f"name: there is a profile {new.name!r} already")
        self._book.rename_profile(name, new.name)
        renamed = Profile(new.name, old.uuid, old.ssid)
        in_order = (renamed if p.name == name else p for p in self._profiles.values())
        self._profiles = {p.name: p for p in in_order}
        log.info("profile %r renamed to %r", name, new.name)
        self._edited(uid)

    def remove(self, name: str, delete_rules: bool, uid: int | None = None) -> int:
        """Delete a profile; its rules too with `delete_rules`, else refuse while it has
        any (they would otherwise apply everywhere, or be lost unasked). Removing the
        active one is a switch to none by `uid`. Returns how many rules were deleted."""
        self.get(name)
        count = self.rule_counts()[name]
        if count and not delete_rules:
            raise BadValue(f"profile {name!r} has {count} rule{'' if count == 1 else 's'}: "
                           "move or delete them first, "
                           "or remove it with its rules")  # fmt: skip
        if name == self.active:
            self.use("", "user", uid)
        deleted = self._book.delete_profile(name)
        del self._profiles[name]
        self._edited(uid)
        return deleted

    def use(self, name: str, why: str, uid: int | None = None) -> None:
        """Make `name` the active profile ("" for none), by `uid`'s hand or the network
        (after `uid`'s change of the profiles, if any)."""
        if name:
            self.get(name)
        before = self.active
        if name == before:
            return
        self._store.set_active_profile(name)
        self._book.use_profile(name)
        log.info("profile %s active (%s)", repr(name) if name else "none", why)
        self.changed.emit(why)
        network = self.network if why == "network" else None
        self.switched.emit(ProfileSwitch(before, name, why, uid, network))

    def network_changed(self, network: Network | None) -> None:
        """The primary connection is now `network` (None: none, or no NetworkManager)."""
        self.network = network
        before = self.active
        self._follow_network()
        if self.active == before:
            self.changed.emit("network")

    def check_rule_profile(self, name: str) -> None:
        """`Missing` unless `name` is "" (every profile) or a profile's."""
        if name:
            self.get(name)

    def _edited(self, uid: int | None) -> None:
        before = self.active
        self._follow_network(uid)
        if self.active == before:
            self.changed.emit("edited")

    def _follow_network(self, uid: int | None = None) -> None:
        if self.network is None:
            return
        claimant = next((p.name for p in self._profiles.values()
                         if self.network.claimed_by(p)), None)  # fmt: skip
        if claimant is not None:
            self.use(claimant, "network", uid)
        elif self.active and (self.get(self.active).uuid or self.get(self.active).ssid):
            self.use("", "network", uid)
