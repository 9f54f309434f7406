"""The helper's settings and their validation. Defaults never cut a fresh install off."""

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from netwarden_common.errors import BadValue
from netwarden_helper.blocklists.locations import SourceError, checked_source, is_url
from netwarden_helper.geo.database import DEFAULT_SOURCE


class SettingsError(BadValue):
    """A setting is unknown or its value is invalid; the message names it."""


@dataclass(frozen=True)
class Settings:
    default_action: str = "allow"  # when nobody answers a prompt: "allow" or "deny"
    prompt_timeout: int = 60  # seconds a prompt waits before the default action applies
    fail_closed: bool = False  # block new connections while the helper is not running
    history_days: int = 30  # how long connection history and traffic are kept
    trust_package_updates: bool = True  # re-pin binaries the package manager vouches for
    # what happens to a forwarded flow (a container's, a VM's) that no rule decides
    forwarded: str = "allow"  # "allow", "ask" or "deny"
    dns_to_resolvers: bool = True  # the built-in rule: DNS to the system's own DNS servers
    # Silent Mode: "off" (ask), or what a flow that would have asked gets, unasked
    silent_mode: str = "off"  # "off", "allow" or "deny"
    # decide flows like ones a rule already decided in the kernel (with the eBPF data plane)
    kernel_verdicts: bool = True
    # the IP-to-location database (geo/): downloaded from `locations_source` when on
    locations: bool = False
    locations_source: str = DEFAULT_SOURCE  # http(s); {year} and {month}: this month's


def _is_url(value: str) -> bool:
    try:
        return is_url(value) and bool(checked_source(value, ()))
    except SourceError:
        return False


_DEFAULTS = Settings()
_RANGES = {
    "default_action": (lambda v: v in ("allow", "deny"), "must be allow or deny"),
    "forwarded": (lambda v: v in ("allow", "ask", "deny"), "must be allow, ask or deny"),
    "silent_mode": (lambda v: v in ("off", "allow", "deny"), "must be off, allow or deny"),
    "prompt_timeout": (lambda v: 5 <= v <= 3600, "must be between 5 and 3600 seconds"),
    "history_days": (lambda v: 1 <= v <= 3650, "must be between 1 and 3650 days"),
    "locations_source": (
        _is_url,
        "must be an http:// or https:// URL ({year} and {month} stand for the current month's)",
    ),
}


def updated(settings: Settings, values: Mapping[str, Any]) -> Settings:
    """`settings` with `values` applied, or `SettingsError` for the first bad one."""
    known = {f.name for f in fields(Settings)}
    for name, value in values.items():
        if name not in known:
            raise SettingsError(f"{str(name)[:64]}: unknown setting")
        expected = type(getattr(_DEFAULTS, name))
        if type(value) is not expected:
            raise SettingsError(f"{name}: must be {expected.__name__}")
        check, message = _RANGES.get(name, (lambda v: True, ""))
        if not check(value):
            raise SettingsError(f"{name}: {message}")
    return replace(settings, **values)
