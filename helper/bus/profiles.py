"""Profiles over the bus: list them, add, change, remove, and switch the active one.

Reading needs `monitor`; every change (switching included) is an administrator's, like
the settings: `settings`. `ProfilesChanged` is broadcast after every change, whoever or
whatever made it (a call, NetworkManager's primary connection), with the new state and
why (`reason`: "user", "network" or "edited").
"""

from dataclasses import asdict
from typing import Any

import dbus

from netwarden_common.api import ACTION_MONITOR, ACTION_SETTINGS
from netwarden_common.dbus_values import dictionary, options, plain
from netwarden_common.errors import BadValue
from netwarden_common.profiles import checked
from netwarden_helper.bus.authorization import Caller, authorized_method
from netwarden_helper.bus.peers import Signals
from netwarden_helper.policy.profiles import Profiles


def profiles_record(profiles: Profiles) -> dict[str, Any]:
    """The profiles as the app shows them: every profile (with its rule count), the
    active one ("" = none), and the primary network connection ({} when unknown)."""
    counts = profiles.rule_counts()
    return {
        "active": profiles.active,
        "profiles": [{**asdict(p), "rules": counts[p.name]} for p in profiles.all()],
        "network": asdict(profiles.network) if profiles.network else {},
    }


def _name(value: object) -> str:
    name = plain(value)
    if not isinstance(name, str):
        raise BadValue("name: must be a string")
    return name


class ProfileMethods:
    def __init__(self, profiles: Profiles, signals: Signals) -> None:
        self._profiles = profiles
        self._signals = signals

    def profiles_changed(self, reason: str) -> None:
        state = dictionary({**profiles_record(self._profiles), "reason": reason})
        self._signals.send("ProfilesChanged", "a{sv}", state)

    @authorized_method(ACTION_MONITOR, out_signature="a{sv}")
    def ListProfiles(self, caller: Caller) -> dbus.Dictionary:
        """The profiles, the active one and the network (see docs/dbus-api.md)."""
        return dictionary(profiles_record(self._profiles))

    @authorized_method(ACTION_SETTINGS, in_signature="a{sv}", out_signature="a{sv}")
    def AddProfile(self, caller: Caller, values: dbus.Dictionary) -> dbus.Dictionary:
        """Add a profile: name (s), and the network that makes it active: uuid (s) or
        ssid (s). Returns the new state."""
        given = options(values, {"name": str, "uuid": str, "ssid": str})
        profile = checked(given.get("name", ""), given.get("uuid", ""), given.get("ssid", ""))
        if profile.name in {p.name for p in self._profiles.all()}:
            raise BadValue(f"name: there is a profile {profile.name!r} already")
        self._profiles.add([profile], caller.uid)
        return dictionary(profiles_record(self._profiles))

    @authorized_method(ACTION_SETTINGS, in_signature="sa{sv}", out_signature="a{sv}")
    def UpdateProfile(self, caller: Caller, name: str, values: dbus.Dictionary) -> dbus.Dictionary:
        """Change the network profile `name` claims: uuid (s) or ssid (s), "" for none."""
        given = options(values, {"uuid": str, "ssid": str})
        self._profiles.get(_name(name))
        profile = checked(name, given.get("uuid", ""), given.get("ssid", ""))
        self._profiles.update(profile, caller.uid)
        return dictionary(profiles_record(self._profiles))

    @authorized_method(ACTION_SETTINGS, in_signature="ss", out_signature="a{sv}")
    def RenameProfile(self, caller: Caller, name: str, new_name: str) -> dbus.Dictionary:
        """Rename profile `name` to `new_name`; its rules, network and whether it is
        active go along. Returns the new state."""
        self._profiles.rename(_name(name), checked(plain(new_name)), caller.uid)
        return dictionary(profiles_record(self._profiles))

    @authorized_method(ACTION_SETTINGS, in_signature="sa{sv}", out_signature="a{sv}")
    def RemoveProfile(self, caller: Caller, name: str, values: dbus.Dictionary) -> dbus.Dictionary:
        """Remove a profile. One with rules is refused unless delete_rules (b) is true
        (then they are deleted with it). Returns the new state and deleted_rules (u)."""
        given = options(values, {"delete_rules": bool})
        deleted = self._profiles.remove(_name(name), given.get("delete_rules", False),
                                        caller.uid)  # fmt: skip
        return dictionary({**profiles_record(self._profiles), "deleted_rules": deleted})

    @authorized_method(ACTION_SETTINGS, in_signature="s", out_signature="a{sv}")
    def SetActiveProfile(self, caller: Caller, name: str) -> dbus.Dictionary:
        """Make profile `name` active ("" for none: only every profile's rules)."""
        self._profiles.use(_name(name), "user", caller.uid)
        return dictionary(profiles_record(self._profiles))
