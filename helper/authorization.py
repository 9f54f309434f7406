"""The one decorator through which the helper exports D-Bus methods.

Every method names the polkit action that guards it; the caller's unique bus name is
checked against that action asynchronously before the method body runs. There is no
other way to export a method on the helper's interface, so nothing is reachable without
a polkit answer, and an action polkit does not know is denied.
"""

import inspect
import logging
from collections.abc import Callable
from typing import Any

import dbus
import dbus.service

from netwarden_helper.api import ACTIONS, INTERFACE
from netwarden_helper.errors import HelperError, NotAuthorized

log = logging.getLogger(__name__)

_CALL_KEYWORDS = ("sender", "reply", "error")


def authorized_method(
    action: str, in_signature: str = "", out_signature: str = ""
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Export the decorated method on the helper's interface, guarded by polkit `action`.

    The body runs only after polkit grants; it returns the reply value (a tuple when the
    out signature has several values) or raises a `dbus.DBusException` subclass.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown polkit action {action!r}")
    out_count = len(tuple(dbus.Signature(out_signature)))

    def decorate(body: Callable[..., Any]) -> Callable[..., Any]:
        def exported(self: Any, *args: Any, sender: str, reply: Callable, error: Callable) -> None:
            def on_result(granted: bool, reason: str) -> None:
                if not granted:
                    log.info("%s: %s denied to %s: %s", body.__name__, action, sender, reason)
                    error(NotAuthorized(f"Not authorized ({action}): {reason}"))
                    return
                try:
                    result = body(self, *args)
                except dbus.DBusException as exc:
                    error(exc)
                    return
                except Exception:
                    log.exception("%s failed", body.__name__)
                    error(HelperError(f"{body.__name__} failed inside the helper; see its log"))
                    return
                if out_count == 0:
                    reply()
                elif out_count == 1:
                    reply(result)
                else:
                    reply(*result)

            self.authority.check(sender, action, on_result)

        # dbus-python reads the argument names from the signature: the body's own
        # arguments, then the keywords it fills in for asynchronous methods.
        extra = [
            inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
            for name in _CALL_KEYWORDS
        ]
        exported.__signature__ = inspect.Signature(
            [*inspect.signature(body).parameters.values(), *extra]
        )
        exported.__name__ = body.__name__
        exported.__qualname__ = body.__qualname__
        exported.__doc__ = body.__doc__
        exported.polkit_action = action
        return dbus.service.method(
            INTERFACE,
            in_signature=in_signature,
            out_signature=out_signature,
            sender_keyword="sender",
            async_callbacks=("reply", "error"),
        )(exported)

    return decorate
