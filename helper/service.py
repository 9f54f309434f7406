"""The helper's D-Bus object: `io.github.netwarden.Helper1` at `/io/github/netwarden/Helper1`.

Each method is exported through `authorized_method`, so polkit answers before it runs.
"""

import time

import dbus
import dbus.service

from netwarden_helper import __version__
from netwarden_helper.api import ACTION_MONITOR, OBJECT_PATH
from netwarden_helper.authorization import authorized_method
from netwarden_helper.polkit import PolkitAuthority


class HelperService(dbus.service.Object):
    """The object clients talk to; it delegates every decision to the helper's parts."""

    def __init__(self, bus: dbus.Bus, authority: PolkitAuthority) -> None:
        super().__init__(bus, OBJECT_PATH)
        self.authority = authority
        self._started_at = time.time()

    @authorized_method(ACTION_MONITOR, out_signature="a{sv}")
    def GetStatus(self) -> dbus.Dictionary:
        """The helper's version, start time (Unix seconds) and uptime (seconds)."""
        return dbus.Dictionary(
            {
                "version": dbus.String(__version__),
                "started_at": dbus.Int64(int(self._started_at)),
                "uptime": dbus.Double(time.time() - self._started_at),
            },
            signature="sv",
        )
