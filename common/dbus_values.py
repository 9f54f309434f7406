"""Values crossing the bus, in both directions.

In: dbus-python arguments become plain Python values, bounded in depth, size and type,
so a caller cannot make the helper chew on megabytes or nested garbage; option
dictionaries are checked against the keys and types a method knows. Out: plain values
become explicitly typed D-Bus values (64-bit integers, string arrays), never guessed.
"""

from collections.abc import Mapping
from typing import Any

import dbus

from netwarden_common.errors import BadValue

MAX_DEPTH = 4
MAX_ITEMS = 1024
MAX_STRING = 1 << 20


def plain(value: Any, depth: int = 0, max_string: int = MAX_STRING) -> Any:
    """A dbus-python value as bool/int/float/str/list/dict, or `BadValue` (strings longer
    than `max_string` included)."""
    if depth > MAX_DEPTH:
        raise BadValue("arguments are nested too deeply")
    if isinstance(value, dbus.Boolean):
        return bool(value)
    if isinstance(value, dbus.ObjectPath | dbus.Signature | bytes):
        raise BadValue(f"values of type {type(value).__name__} are not accepted")
    if isinstance(value, str):
        if len(value) > max_string:
            raise BadValue(f"a string of {len(value)} characters is too long")
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, Mapping | list | tuple) and len(value) > MAX_ITEMS:
        raise BadValue(f"{len(value)} items are too many")
    if isinstance(value, Mapping):
        return {plain(k, depth + 1): plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v, depth + 1) for v in value]
    raise BadValue(f"values of type {type(value).__name__} are not accepted")


def options(values: Mapping, known: Mapping[str, type]) -> dict[str, Any]:
    """An a{sv} of options, checked: only `known` keys, each of its type."""
    checked = plain(values)
    for key, value in checked.items():
        if key not in known:
            raise BadValue(f"{str(key)[:64]}: unknown option")
        if type(value) is not known[key]:
            raise BadValue(f"{key}: must be {known[key].__name__}")
    return checked


def typed(value: Any) -> Any:
    """A plain value as an explicitly typed D-Bus value (for variants)."""
    if isinstance(value, bool):
        return dbus.Boolean(value)
    if isinstance(value, int):
        return dbus.Int64(value)
    if isinstance(value, float):
        return dbus.Double(value)
    if isinstance(value, str):
        return dbus.String(value)
    if isinstance(value, Mapping):
        return dictionary(value)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return dbus.Array([dbus.String(v) for v in value], signature="s")
    if isinstance(value, list | tuple) and value and all(type(v) is int for v in value):
        return dbus.Array([dbus.Int64(v) for v in value], signature="x")
    if isinstance(value, list | tuple) and all(isinstance(v, Mapping) for v in value):
        return dbus.Array([dictionary(v) for v in value], signature="a{sv}")
    raise TypeError(f"cannot send {value!r} over D-Bus")


def dictionary(values: Mapping[str, Any]) -> dbus.Dictionary:
    """An a{sv}; keys whose value is None are left out (D-Bus has no null)."""
    return dbus.Dictionary(
        {key: typed(value) for key, value in values.items() if value is not None}, signature="sv"
    )
