"""The helper's D-Bus object: `io.github.netwarden.Helper1` at `/io/github/netwarden/Helper1`.

Each method is exported through `authorized_method`, so polkit answers before it runs.
"""

import time

import dbus
import dbus.service

from netwarden_helper import __version__
from netwarden_helper.api import ACTION_MONITOR, OBJECT_PATH
from netwarden_helper.authorization import authorized_method
from netwarden_helper.daemon import Helper
from netwarden_helper.polkit import PolkitAuthority


class HelperService(dbus.service.Object):
    """The object clients talk to; it delegates every decision to the helper's parts."""

    def __init__(self, bus: dbus.Bus, authority: PolkitAuthority, helper: Helper) -> None:
        super().__init__(bus, OBJECT_PATH)
        self.authority = authority
        self._helper = helper
        self._started_at = time.time()

    @authorized_method(ACTION_MONITOR, out_signature="a{sv}")
    def GetStatus(self) -> dbus.Dictionary:
        """Version, start time (Unix seconds), uptime (seconds), netfilter backend,
        failure mode, and the packet path's counters (each an int64)."""
        helper = self._helper
        counters = {name: dbus.Int64(value) for name, value in helper.firewall.status().items()}
        return dbus.Dictionary(
            {
                "version": dbus.String(__version__),
                "started_at": dbus.Int64(int(self._started_at)),
                "uptime": dbus.Double(time.time() - self._started_at),
                "backend": dbus.String(helper.backend.name),
                "fail_closed": dbus.Boolean(helper.interception.fail_closed),
                "counters": dbus.Dictionary(counters, signature="sx"),
            },
            signature="sv",
        )
