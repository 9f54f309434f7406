"""Asynchronous polkit checks: may this bus caller perform this action?

The question goes to polkitd's CheckAuthorization with the caller's unique bus name as
the `system-bus-name` subject, so polkitd itself resolves the caller's process, user and
session. The call is asynchronous: the main loop (and with it every packet verdict) keeps
running while polkitd waits for an authentication agent.
"""

from collections.abc import Callable

import dbus

POLKIT_NAME = "org.freedesktop.PolicyKit1"
POLKIT_PATH = "/org/freedesktop/PolicyKit1/Authority"
POLKIT_INTERFACE = "org.freedesktop.PolicyKit1.Authority"
_ALLOW_USER_INTERACTION = 0x1
# A person may take a while to type a password into the authentication agent.
_CHECK_TIMEOUT_S = 300.0

AuthorizationResult = Callable[[bool, str], None]


class PolkitAuthority:
    """A client of polkitd's Authority on the given (system) bus."""

    def __init__(self, bus: dbus.Bus) -> None:
        self._bus = bus

    def check(self, bus_name: str, action_id: str, on_result: AuthorizationResult) -> None:
        """Ask whether `bus_name` may do `action_id`; `on_result(granted, reason)` follows.

        Any failure to get an answer (polkitd missing, timeout) is a denial.
        """
        subject = ("system-bus-name", {"name": dbus.String(bus_name, variant_level=1)})

        def on_reply(result: dbus.Struct) -> None:
            granted, challenge, _details = result
            if granted:
                on_result(True, "")
            elif challenge:
                on_result(False, "authentication is required and was not given")
            else:
                on_result(False, f"polkit denies {action_id} to this caller")

        def on_error(error: dbus.DBusException) -> None:
            on_result(False, f"polkit could not be asked: {error.get_dbus_message()}")

        self._bus.call_async(
            POLKIT_NAME,
            POLKIT_PATH,
            POLKIT_INTERFACE,
            "CheckAuthorization",
            "(sa{sv})sa{ss}us",
            (subject, action_id, dbus.Dictionary({}, signature="ss"), _ALLOW_USER_INTERACTION, ""),
            on_reply,
            on_error,
            timeout=_CHECK_TIMEOUT_S,
        )
