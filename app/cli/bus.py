"""Blocking calls to netwarden-helper for `netwardenctl`, errors turned into exit codes."""

import os
from typing import Any

import dbus
import dbus.bus

from netwarden.client.helper_client import (
    BUS_NAME,
    ERRORS_HELPER_ABSENT,
    INTERFACE,
    OBJECT_PATH,
    to_python,
)
from netwarden_common.api import METHOD_SIGNATURES

# Exit codes (docs/cli.md, "Exit codes").
EXIT_OK = 0
EXIT_ERROR = 1  # the helper refused an argument or failed; a local file is unusable
EXIT_USAGE = 2  # the command line is wrong (argparse's own code)
EXIT_NOT_AUTHORIZED = 3  # polkit said no; nothing was changed
EXIT_NO_HELPER = 4  # no system bus, or the helper is not running and cannot be started
EXIT_NOT_FOUND = 5  # no such rule, prompt or alert

ERROR_PREFIX = f"{INTERFACE}.Error."
_EXIT_BY_ERROR = {
    "NotAuthorized": EXIT_NOT_AUTHORIZED,
    "NotFound": EXIT_NOT_FOUND,
    "InvalidArgument": EXIT_ERROR,
    "Failed": EXIT_ERROR,
}


class CliError(Exception):
    """A failure to report in one line and end with `code`."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


def cli_error(exc: dbus.DBusException) -> CliError:
    """A D-Bus error as one clear line and its exit code."""
    name = exc.get_dbus_name() or ""
    message = exc.get_dbus_message() or name
    if name.startswith(ERROR_PREFIX):
        short = name.removeprefix(ERROR_PREFIX)
        label = {"NotAuthorized": "not authorized", "NotFound": "not found"}.get(short, "error")
        return CliError(f"{label}: {message}", _EXIT_BY_ERROR.get(short, EXIT_ERROR))
    if name in ERRORS_HELPER_ABSENT:
        return CliError(f"the Netwarden helper is not running ({message})", EXIT_NO_HELPER)
    if name == "org.freedesktop.DBus.Error.AccessDenied":
        return CliError(f"not authorized: {message}", EXIT_NOT_AUTHORIZED)
    return CliError(f"D-Bus error {name}: {message}", EXIT_ERROR)


def connect(mainloop: Any = None) -> dbus.bus.BusConnection:
    """The system bus (DBUS_SYSTEM_BUS_ADDRESS when set), or `CliError` (exit 4)."""
    address = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", dbus.bus.BusConnection.TYPE_SYSTEM)
    try:
        return dbus.bus.BusConnection(address, mainloop=mainloop)
    except dbus.DBusException as exc:
        raise CliError(
            f"cannot reach the system bus: {exc.get_dbus_message()}", EXIT_NO_HELPER
        ) from None


class Helper:
    """The helper's object on one bus connection; `call` blocks and returns plain values."""

    def __init__(self, connection: dbus.bus.BusConnection) -> None:
        self.connection = connection

    def call(self, method: str, *args: Any) -> Any:
        """Call `method`; `CliError` with the matching exit code when it fails."""
        try:
            reply = self.connection.call_blocking(
                BUS_NAME,
                OBJECT_PATH,
                INTERFACE,
                method,
                METHOD_SIGNATURES[method],
                args,
                timeout=300,
            )
        except dbus.DBusException as exc:
            raise cli_error(exc) from None
        return to_python(reply)

    def close(self) -> None:
        self.connection.close()
