"""Profiles: named rule sets (Home, Work, Public Wi-Fi), one of them active at a time.

A rule belongs to every profile (`profile` "") or to one. A profile may claim a network:
NetworkManager's connection UUID, or a Wi-Fi SSID; when the primary connection is one a
profile claims, the helper makes that profile active. Pure: names, checks, and how a
switch of the active profile is told to people.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from netwarden_common.errors import BadValue
from netwarden_common.users import user_name

MAX_NAME = 32
MAX_SSID_BYTES = 32  # 802.11's limit
_UUID = re.compile(r"[0-9A-Fa-f-]{1,64}")


class ProfileError(BadValue):
    """A profile's name or network is refused; the message names the field and says why."""


@dataclass(frozen=True, slots=True)
class Profile:
    """A named rule set and the network that makes it active ("" = none)."""

    name: str
    uuid: str = ""  # a NetworkManager connection's UUID
    ssid: str = ""  # a Wi-Fi network's name


def name_problem(name: object) -> str:
    """Why `name` cannot be a profile's name, or "" when it can: 1 to 32 printable
    characters, not starting or ending with a space."""
    if not isinstance(name, str):
        return f"must be a string, not {type(name).__name__}"
    if not 1 <= len(name) <= MAX_NAME:
        return f"must be 1 to {MAX_NAME} characters"
    if not name.isprintable() or name != name.strip():
        return "must be printable, without spaces at either end"
    return ""


def checked(name: object, uuid: object = "", ssid: object = "") -> Profile:
    """A `Profile` from values given from outside, or `ProfileError`."""
    problem = name_problem(name)
    if problem:
        raise ProfileError(f"name: {problem}")
    profile = Profile(_text("name", name), _text("uuid", uuid), _text("ssid", ssid))
    if profile.uuid and not _UUID.fullmatch(profile.uuid):
        raise ProfileError("uuid: not a NetworkManager connection UUID")
    if len(profile.ssid.encode()) > MAX_SSID_BYTES or "\0" in profile.ssid:
        raise ProfileError(f"ssid: a Wi-Fi name is at most {MAX_SSID_BYTES} bytes, without NUL")
    if profile.uuid and profile.ssid:
        raise ProfileError("uuid: claim a network by its connection UUID or its SSID, not both")
    return profile


def _text(field_name: str, value: object) -> str:
    if not isinstance(value, str):
        raise ProfileError(f"{field_name}: must be a string, not {type(value).__name__}")
    return value


@dataclass(frozen=True, slots=True)
class Network:
    """The primary network connection as NetworkManager reports it."""

    id: str = ""  # the connection's name, e.g. "Home Wi-Fi"
    uuid: str = ""
    type: str = ""  # e.g. "802-11-wireless", "802-3-ethernet"
    ssid: str = ""  # for Wi-Fi: the access point's network name

    def claimed_by(self, profile: Profile) -> bool:
        """Whether `profile` names this connection (by UUID) or its Wi-Fi network."""
        return bool(
            (profile.uuid and profile.uuid.lower() == self.uuid.lower())
            or (profile.ssid and profile.ssid == self.ssid)
        )


@dataclass(frozen=True, slots=True)
class ProfileSwitch:
    """The active profile changed from `before` to `after` ("" = none), and why."""

    before: str
    after: str
    why: str  # "user" (by hand: a call) or "network"
    # who switched by hand, or whose profile change made the network switch, as the bus
    # vouches (None: not known, or the network alone)
    uid: int | None = None
    network: Network | None = None  # the primary connection, when the network switched


def switch_cause(switch: Mapping[str, Any]) -> str:
    """Why the active profile switched, from a switch as the history keeps it: "by hand:
    alice" (or "by hand" when who is not told), "network: Office", "network: Corner,
    Wi-Fi “CafeWiFi”", "network: Office, after alice's change" (a profile change)."""
    uid = switch.get("uid")
    who = None if uid is None else user_name(int(uid))
    if switch.get("why") != "network":
        return f"by hand: {who}" if who else "by hand"
    ssid = switch.get("network_ssid")
    name = switch.get("network_id") or f"connection {switch.get('network_uuid')}"
    cause = f"network: {name}, Wi-Fi “{ssid}”" if ssid else f"network: {name}"
    return f"{cause}, after {who}'s change" if who else cause
