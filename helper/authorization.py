"""The one decorator through which the helper exports D-Bus methods.

Every method names the polkit action that guards it: a fixed action, or a function of
the caller and the arguments (a rule for the caller's own programs needs less than a
rule for someone else's). Before the method body runs, the bus tells who the caller is
(uid of its connection) and polkit is asked, asynchronously, with the caller's unique
bus name as subject. There is no other way to export a method on the helper's
interface; an action polkit does not know, a caller the bus cannot name, or a polkitd
that does not answer all mean "denied".
"""

import inspect
import logging
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import dbus
import dbus.service
from gi.repository import GLib

from netwarden_helper.api import ACTIONS, INTERFACE
from netwarden_helper.errors import HelperError, InvalidArgument, NotAuthorized

log = logging.getLogger(__name__)

_CALL_KEYWORDS = ("sender", "message", "reply", "error")


@dataclass(frozen=True)
class Caller:
    """Who made a call: its unique bus name and the uid the bus vouches for."""

    bus_name: str
    uid: int


ActionChoice = str | Callable[..., str]  # or (service, caller, *arguments) -> action


def authorized_method(
    action: ActionChoice, in_signature: str = "", out_signature: str = ""
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Export the decorated method on the helper's interface, guarded by polkit `action`.

    The body is called as `body(self, caller, *arguments)` only after polkit grants; it
    returns the reply value (a tuple when the out signature has several values), or a
    `Future` of it (work done on another thread; the reply is sent from the bus's main
    loop), or raises a `dbus.DBusException` subclass. A function choosing the action may raise one
    too (for arguments it cannot judge): the call then fails with that error.
    """
    if isinstance(action, str) and action not in ACTIONS:
        raise ValueError(f"unknown polkit action {action!r}")
    out_count = len(tuple(dbus.Signature(out_signature)))

    def decorate(body: Callable[..., Any]) -> Callable[..., Any]:
        def exported(
            self: Any, *args: Any, sender: str, message: Any, reply: Callable, error: Callable
        ) -> None:
            # dbus-python does not hold calls to the declared signature: do it here.
            if (message.get_signature() or "") != in_signature:
                error(InvalidArgument(f"{body.__name__} takes ({in_signature}), "
                                      f"not ({message.get_signature() or ''})"))  # fmt: skip
                return

            def settle(outcome: Callable[[], Any]) -> None:
                try:
                    result = outcome()
                except dbus.DBusException as exc:
                    error(exc)
                    return
                except Exception:
                    log.exception("%s failed", body.__name__)
                    error(HelperError(f"{body.__name__} failed inside the helper; see its log"))
                    return
                if isinstance(result, Future):  # done on another thread: reply from the bus's
                    result.add_done_callback(lambda done: GLib.idle_add(on_bus_thread, done))
                elif out_count == 0:
                    reply()
                elif out_count == 1:
                    reply(result)
                else:
                    reply(*result)

            def on_bus_thread(done: Future) -> bool:
                settle(done.result)
                return GLib.SOURCE_REMOVE

            def run(caller: Caller) -> None:
                settle(lambda: body(self, caller, *args))

            def authorize(uid: int) -> None:
                caller = Caller(sender, int(uid))
                try:
                    chosen = action if isinstance(action, str) else action(self, caller, *args)
                except dbus.DBusException as exc:
                    error(exc)
                    return
                if chosen not in ACTIONS:
                    error(NotAuthorized(f"no polkit action guards {body.__name__}"))
                    return

                def on_result(granted: bool, reason: str) -> None:
                    if granted:
                        run(caller)
                    else:
                        log.info("%s: %s denied to uid %s: %s", body.__name__, chosen, uid, reason)
                        error(NotAuthorized(f"Not authorized ({chosen}): {reason}"))

                self.authority.check(sender, chosen, on_result)

            self.connection.call_async(
                "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                "GetConnectionUnixUser", "s", (sender,), authorize,
                lambda _exc: error(NotAuthorized("the bus could not say who the caller is")),
            )  # fmt: skip

        # dbus-python reads the D-Bus argument names from the signature: the body's own
        # (less `caller`), then the keywords it fills in for asynchronous methods.
        own = list(inspect.signature(body).parameters.values())
        extra = [
            inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
            for name in _CALL_KEYWORDS
        ]
        exported.__signature__ = inspect.Signature([own[0], *own[2:], *extra])
        exported.__name__ = body.__name__
        exported.__qualname__ = body.__qualname__
        exported.__doc__ = body.__doc__
        exported.polkit_action = action
        return dbus.service.method(
            INTERFACE,
            in_signature=in_signature,
            out_signature=out_signature,
            sender_keyword="sender",
            message_keyword="message",
            async_callbacks=("reply", "error"),
        )(exported)

    return decorate
