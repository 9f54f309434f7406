"""The one decorator through which the helper's D-Bus methods are declared, and the one
place they are exported, authorized and their errors named.

A method is declared on the class of its concern (`bus/rules.py`, `bus/prompts.py`, ...)
with `authorized_method`, naming the polkit action that guards it: a fixed action, or a
function of the concern, the caller and the arguments (a rule for the caller's own
programs needs less than a rule for someone else's). `exported_interface` turns the
concerns' methods into the methods of the one exported object (`bus/service.py`). Before
a body runs, the bus tells who the caller is (uid of its connection) and polkit is asked,
asynchronously, with the caller's unique bus name as subject. An action polkit does not
know, a caller the bus cannot name, or a polkitd that does not answer all mean "denied".
When polkit grants, the action is chosen again from the state of that moment (a check can
wait minutes for a password): if it changed, polkit is asked again for the new one.

Errors are named here, once: `BadValue` from any layer becomes InvalidArgument, `Missing`
NotFound and `Busy` Busy, with their messages; anything else is logged and reported as a
failure inside the helper.
"""

import inspect
import logging
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import dbus
import dbus.service

from netwarden_common.api import ACTIONS, INTERFACE
from netwarden_common.errors import BadValue, Busy, Missing
from netwarden_helper.bus import errors
from netwarden_helper.bus.errors import HelperError, InvalidArgument, NotAuthorized, NotFound

log = logging.getLogger(__name__)

_CALL_KEYWORDS = ("sender", "message", "reply", "error")
MAX_RECHECKS = 3  # choices of action that changed while polkit was asked, in a row


@dataclass(frozen=True)
class Caller:
    """Who made a call: its unique bus name and the uid the bus vouches for."""

    bus_name: str
    uid: int


ActionChoice = str | Callable[..., str]  # or (concern, caller, *arguments) -> action


@dataclass(frozen=True)
class BusMethod:
    """A concern's method as declared: its body, guard and signatures."""

    body: Callable[..., Any]
    action: ActionChoice
    in_signature: str
    out_signature: str


def authorized_method(
    action: ActionChoice, in_signature: str = "", out_signature: str = ""
) -> Callable[[Callable[..., Any]], BusMethod]:
    """Declare the decorated method of a concern as a D-Bus method guarded by polkit
    `action`.

    The body is called as `body(concern, caller, *arguments)` only after polkit grants;
    it returns the reply value (a tuple when the out signature has several values), or a
    `Future` of it (work done on another thread; the reply is sent from the bus's main
    loop), or raises: `BadValue`, `Missing` or a `dbus.DBusException` subclass. A
    function choosing the action may raise the same (for arguments it cannot judge).
    """
    if isinstance(action, str) and action not in ACTIONS:
        raise ValueError(f"unknown polkit action {action!r}")

    def declare(body: Callable[..., Any]) -> BusMethod:
        return BusMethod(body, action, in_signature, out_signature)

    return declare


def bus_error(exc: Exception) -> dbus.DBusException:
    """The named D-Bus error a caller gets for `exc`."""
    if isinstance(exc, dbus.DBusException):
        return exc
    if isinstance(exc, BadValue):
        return InvalidArgument(str(exc))
    if isinstance(exc, Missing):
        return NotFound(str(exc))
    if isinstance(exc, Busy):
        return errors.Busy(str(exc))
    return HelperError("failed inside the helper; see its log")


def exported_interface(*concerns: type) -> dict[str, Any]:
    """The D-Bus methods of the concerns' classes, to be the namespace of the exported
    object's class. Each finds its concern on the object (`object.concern(cls)`)."""
    namespace: dict[str, Any] = {}
    for concern in concerns:
        for name, member in vars(concern).items():
            if isinstance(member, BusMethod):
                if name in namespace:
                    raise ValueError(f"{name} is declared twice")
                namespace[name] = _exported(concern, member)
    return namespace


def _exported(concern: type, method: BusMethod) -> Callable[..., None]:
    body, action = method.body, method.action
    out_count = len(tuple(dbus.Signature(method.out_signature)))

    def exported(
        self: Any, *args: Any, sender: str, message: Any, reply: Callable, error: Callable
    ) -> None:
        part = self.concern(concern)
        # dbus-python does not hold calls to the declared signature: do it here.
        if (message.get_signature() or "") != method.in_signature:
            error(InvalidArgument(f"{body.__name__} takes ({method.in_signature}), "
                                  f"not ({message.get_signature() or ''})"))  # fmt: skip
            return

        def settle(outcome: Callable[[], Any]) -> None:
            try:
                result = outcome()
            except (dbus.DBusException, BadValue, Missing, Busy) as exc:
                error(bus_error(exc))
                return
            except Exception:
                log.exception("%s failed", body.__name__)
                error(HelperError(f"{body.__name__} failed inside the helper; see its log"))
                return
            if isinstance(result, Future):  # done on another thread: reply from the loop
                result.add_done_callback(
                    lambda done: self.loop.call_soon(lambda: settle(done.result))
                )
            elif out_count == 0:
                reply()
            elif out_count == 1:
                reply(result)
            else:
                reply(*result)

        def authorize(uid: int, granted_before: str | None = None, rounds: int = 0) -> None:
            caller = Caller(sender, int(uid))
            try:
                chosen = action if isinstance(action, str) else action(part, caller, *args)
            except (dbus.DBusException, BadValue, Missing, Busy) as exc:
                error(bus_error(exc))
                return
            except Exception:  # a bug: the caller still gets an answer
                log.exception("choosing the action of %s failed", body.__name__)
                error(HelperError(f"{body.__name__} failed inside the helper; see its log"))
                return
            if chosen not in ACTIONS or rounds > MAX_RECHECKS:
                error(NotAuthorized(f"no polkit action guards {body.__name__}"))
                return
            if chosen == granted_before:  # still what polkit granted: go
                settle(lambda: body(part, caller, *args))
                return

            def on_result(granted: bool, reason: str) -> None:
                if granted:
                    # polkit may have waited minutes for a password: what the call needs may
                    # have changed meanwhile (the rule got another owner). Choose again.
                    authorize(uid, chosen, rounds + 1)
                else:
                    log.info("%s: %s denied to uid %s: %s", body.__name__, chosen, uid, reason)
                    error(NotAuthorized(f"Not authorized ({chosen}): {reason}"))

            self.authority.check(sender, chosen, on_result)

        self.connection.call_async(
            "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
            "GetConnectionUnixUser", "s", (sender,), authorize,
            lambda _exc: error(NotAuthorized("the bus could not say who the caller is")),
        )  # fmt: skip

    # dbus-python reads the D-Bus argument names from the signature: the body's own (less
    # the concern and `caller`), then the keywords it fills in for asynchronous methods.
    own = list(inspect.signature(body).parameters.values())
    extra = [
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in _CALL_KEYWORDS
    ]
    exported.__signature__ = inspect.Signature([own[0], *own[2:], *extra])  # type: ignore[attr-defined]
    exported.__name__ = body.__name__
    exported.__qualname__ = body.__qualname__
    exported.__doc__ = body.__doc__
    exported.polkit_action = action  # type: ignore[attr-defined]
    return dbus.service.method(
        INTERFACE,
        in_signature=method.in_signature,
        out_signature=method.out_signature,
        sender_keyword="sender",
        message_keyword="message",
        async_callbacks=("reply", "error"),
    )(exported)
