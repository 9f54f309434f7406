"""The helper's settings and their validation. Defaults never cut a fresh install off."""

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any


class SettingsError(ValueError):
    """A setting is unknown or its value is invalid; the message names it."""


@dataclass(frozen=True)
class Settings:
    default_action: str = "allow"  # when nobody answers a prompt: "allow" or "deny"
    prompt_timeout: int = 60  # seconds a prompt waits before the default action applies
    fail_closed: bool = False  # block new connections while the helper is not running


_CHECKS = {
    "default_action": (lambda v: v in ("allow", "deny"), "must be allow or deny"),
    "prompt_timeout": (lambda v: 5 <= v <= 3600, "must be between 5 and 3600 seconds"),
    "fail_closed": (lambda v: True, ""),
}


def updated(settings: Settings, values: Mapping[str, Any]) -> Settings:
    """`settings` with `values` applied, or `SettingsError` for the first bad one."""
    types = {f.name: f.type for f in fields(Settings)}
    for name, value in values.items():
        if name not in types:
            raise SettingsError(f"{str(name)[:64]}: unknown setting")
        expected = type(getattr(Settings(), name))
        if type(value) is not expected:
            raise SettingsError(f"{name}: must be {expected.__name__}")
        check, message = _CHECKS[name]
        if not check(value):
            raise SettingsError(f"{name}: {message}")
    return replace(settings, **values)
