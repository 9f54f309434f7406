"""Named D-Bus errors the helper returns; each carries a message a person can act on."""

import dbus

from netwarden_common.api import ERROR_PREFIX


class HelperError(dbus.DBusException):
    """Base of the helper's errors: `io.github.netwarden.Helper1.Error.Failed`."""

    _dbus_error_name = f"{ERROR_PREFIX}.Failed"


class NotAuthorized(HelperError):
    """polkit did not authorize the caller for the method's action."""

    _dbus_error_name = f"{ERROR_PREFIX}.NotAuthorized"


class InvalidArgument(HelperError):
    """An argument failed validation; nothing was changed."""

    _dbus_error_name = f"{ERROR_PREFIX}.InvalidArgument"


class Busy(HelperError):
    """Too much of this work waits already (history queries); try again shortly."""

    _dbus_error_name = f"{ERROR_PREFIX}.Busy"


class NotFound(HelperError):
    """The rule or prompt named does not exist (any more)."""

    _dbus_error_name = f"{ERROR_PREFIX}.NotFound"
