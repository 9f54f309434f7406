"""Asynchronous client of netwarden-helper's D-Bus API.

It uses dbus-python on the GLib main context, which Qt's event dispatcher runs on Linux,
so replies arrive on the GUI thread without blocking it. Replies are handed on as plain
Python values; errors as `HelperCallError` with the D-Bus error name.
"""

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dbus
import dbus.bus
import dbus.mainloop.glib

BUS_NAME = "io.github.netwarden.Helper1"
OBJECT_PATH = "/io/github/netwarden/Helper1"
INTERFACE = "io.github.netwarden.Helper1"
ERROR_NOT_AUTHORIZED = f"{INTERFACE}.Error.NotAuthorized"
ERRORS_HELPER_ABSENT = frozenset(
    {
        "org.freedesktop.DBus.Error.ServiceUnknown",
        "org.freedesktop.DBus.Error.NameHasNoOwner",
        "org.freedesktop.DBus.Error.NoReply",
        "org.freedesktop.DBus.Error.Spawn.ChildExited",
        "org.freedesktop.DBus.Error.Spawn.ExecFailed",
        "org.freedesktop.DBus.Error.Spawn.ServiceNotFound",
    }
)


@dataclass(frozen=True)
class HelperCallError:
    """A failed call: the D-Bus error name and its message."""

    name: str
    message: str

    @property
    def helper_absent(self) -> bool:
        """The helper is not running and could not be started."""
        return self.name in ERRORS_HELPER_ABSENT

    @property
    def not_authorized(self) -> bool:
        """polkit did not let this user make the call."""
        return self.name == ERROR_NOT_AUTHORIZED


def _alive(callback: Callable[..., Any]) -> bool:
    """Whether `callback` may still be called: not a method of, nor a closure over, a Qt
    object deleted meanwhile (a window closed while its call was on the way)."""
    shiboken = sys.modules.get("shiboken6")  # loaded where Qt objects are (not the CLI)
    if shiboken is None:
        return True
    cells = getattr(callback, "__closure__", None) or ()
    owners = [getattr(callback, "__self__", None), *(cell.cell_contents for cell in cells)]
    return all(shiboken.isValid(o) for o in owners if isinstance(o, shiboken.Object))


def to_python(value: Any) -> Any:
    """Turn dbus-python values (nested dicts, arrays, variants) into plain Python ones."""
    if isinstance(value, dbus.Boolean):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        return {to_python(k): to_python(v) for k, v in value.items()}
    if isinstance(value, dbus.Struct):
        return tuple(to_python(v) for v in value)
    if isinstance(value, list):
        return [to_python(v) for v in value]
    return value


def to_dbus_options(values: dict[str, Any]) -> dbus.Dictionary:
    """A plain dict as an `a{sv}` whose integers are int64 (`x`), as the API declares them."""
    typed: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, bool):
            typed[key] = dbus.Boolean(value)
        elif isinstance(value, int):
            typed[key] = dbus.Int64(value)
        else:
            typed[key] = value
    return dbus.Dictionary(typed, signature="sv")


class HelperClient:
    """One connection to the system bus and the helper's object on it."""

    def __init__(self, bus: dbus.bus.BusConnection) -> None:
        self._bus = bus

    @classmethod
    def on_system_bus(cls) -> "HelperClient":
        """Connect to the system bus (DBUS_SYSTEM_BUS_ADDRESS when set) on the GLib loop."""
        address = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", dbus.bus.BusConnection.TYPE_SYSTEM)
        loop = dbus.mainloop.glib.DBusGMainLoop()
        return cls(dbus.bus.BusConnection(address, mainloop=loop))

    def watch_helper(self, on_change: Callable[[bool], None]) -> None:
        """Call `on_change(running)` now and whenever the helper appears or goes away."""
        self._bus.watch_name_owner(BUS_NAME, lambda owner: on_change(bool(owner)))

    def call(
        self,
        method: str,
        signature: str,
        args: tuple,
        on_reply: Callable[..., None],
        on_error: Callable[[HelperCallError], None],
    ) -> None:
        """Call `method` on the helper; `on_reply(*values)` or `on_error(error)` follows.

        A call to a helper that is not running asks D-Bus to start it (activation).
        """

        def failed(exc: dbus.DBusException) -> None:
            if _alive(on_error):
                on_error(HelperCallError(exc.get_dbus_name() or "", exc.get_dbus_message() or ""))

        def replied(*values: Any) -> None:
            if _alive(on_reply):
                on_reply(*(to_python(v) for v in values))

        try:
            self._bus.call_async(
                BUS_NAME,
                OBJECT_PATH,
                INTERFACE,
                method,
                signature,
                args,
                replied,
                failed,
                timeout=300.0,
            )
        except dbus.DBusException as exc:  # the connection is gone
            failed(exc)

    def caller_uid(self) -> int:
        """The uid the bus (and so the helper) knows this connection by."""
        return int(self._bus.get_unix_user(self._bus.get_unique_name()))

    def on_signal(self, name: str, handler: Callable[..., None]) -> None:
        """Call `handler(*values)` for each signal `name` the helper sends this app."""

        def received(*values: Any) -> None:
            if _alive(handler):
                handler(*(to_python(v) for v in values))

        self._bus.add_signal_receiver(
            received,
            signal_name=name,
            dbus_interface=INTERFACE,
            bus_name=BUS_NAME,
            path=OBJECT_PATH,
        )

    def close(self) -> None:
        """Drop the bus connection."""
        self._bus.close()
