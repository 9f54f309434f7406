"""The helper's one D-Bus object: `io.github.netwarden.Helper1` at
`/io/github/netwarden/Helper1`, assembled from one class per concern.

Each concern (status and settings, rules, prompts, alerts, history, blocklists,
profiles, locations) is a
plain class with its own state and the parts it needs, given at construction by the
composition root; its methods are declared with `authorized_method`. `HelperObject` is
the exported object: its class holds every concern's methods (`exported_interface`) and
the interface's signals, declared here for introspection (they are sent through
`peers.Signals`, most of them to chosen names only). The interface is documented in
docs/dbus-api.md.
"""

import types
from typing import Any

import dbus
import dbus.service

from netwarden_common.api import INTERFACE, OBJECT_PATH
from netwarden_helper.bus.alerts import AlertMethods
from netwarden_helper.bus.authorization import exported_interface
from netwarden_helper.bus.blocklists import BlocklistMethods
from netwarden_helper.bus.history import HistoryMethods
from netwarden_helper.bus.locations import LocationMethods
from netwarden_helper.bus.polkit import PolkitAuthority
from netwarden_helper.bus.profiles import ProfileMethods
from netwarden_helper.bus.prompts import PromptMethods
from netwarden_helper.bus.rules import RulesMethods
from netwarden_helper.bus.status import StatusMethods
from netwarden_helper.runtime.loop import Loop

CONCERNS = (
    StatusMethods, RulesMethods, PromptMethods, AlertMethods, HistoryMethods, BlocklistMethods,
    ProfileMethods, LocationMethods,
)  # fmt: skip


class HelperSignals(dbus.service.Object):
    """The interface's signals, and the object's hold on its concerns."""

    def __init__(
        self, bus: dbus.Bus, authority: PolkitAuthority, loop: Loop, concerns: list[Any]
    ) -> None:
        super().__init__(bus, OBJECT_PATH)
        self.authority = authority
        self.loop = loop  # where replies of work done on other threads are sent from
        self._concerns = {type(concern): concern for concern in concerns}
        if set(self._concerns) != set(CONCERNS):
            raise ValueError("the object needs exactly one of each concern")

    def concern(self, cls: type) -> Any:
        return self._concerns[cls]

    @dbus.service.signal(INTERFACE, signature="a{sv}")
    def SettingsChanged(self, settings: dbus.Dictionary) -> None:
        """Broadcast after a settings change, with every setting."""

    @dbus.service.signal(INTERFACE, signature="")
    def RulesChanged(self) -> None:
        """Broadcast after any rule was added, changed or deleted (by a call, an answer,
        expiry or the administrator's files)."""

    @dbus.service.signal(INTERFACE, signature="a(txd)")
    def RuleHitsChanged(self, counts: dbus.Array) -> None:
        """Every few seconds while rules decide flows: (rule id, hits, last hit) of each
        rule hit since the last time."""

    @dbus.service.signal(INTERFACE, signature="a(txd)")
    def BlocklistHitsChanged(self, counts: dbus.Array) -> None:
        """Every few seconds while blocklists block flows: (list id, flows blocked, last
        time) of each list that blocked since the last time."""

    @dbus.service.signal(INTERFACE, signature="a{sv}")
    def ProfilesChanged(self, state: dbus.Dictionary) -> None:
        """Broadcast after a profile was added, changed, removed or switched to (by a call
        or by the network), or the network changed: as ListProfiles, with `reason`."""

    @dbus.service.signal(INTERFACE, signature="a{sv}")
    def ProfileSwitched(self, switch: dbus.Dictionary) -> None:
        """Broadcast once the history stored a switch of the active profile: as a switch
        of QueryProfileSwitches, without `uid` (who made it is per-user data)."""

    @dbus.service.signal(INTERFACE, signature="a{sv}")
    def LocationDatabaseChanged(self, state: dbus.Dictionary) -> None:
        """Broadcast after the location database was updated, or an update failed: as
        GetLocationDatabase."""

    @dbus.service.signal(INTERFACE, signature="a{sv}")
    def PromptRaised(self, prompt: dbus.Dictionary) -> None:
        """A held connection waits for an answer. Sent only to the prompt agents that
        answer for the program's user (unicast)."""

    @dbus.service.signal(INTERFACE, signature="ts")
    def PromptClosed(self, prompt_id: int, outcome: str) -> None:
        """A prompt is over: answered, rule, timeout, no_agent or shutdown. Sent to the
        agents that were told of the prompt (unicast)."""

    @dbus.service.signal(INTERFACE, signature="a{sv}")
    def AlertRaised(self, alert: dbus.Dictionary) -> None:
        """A pinned program's binary changed (state open, or auto_trusted for a verified
        package update). Sent to prompt agents and watchers (unicast)."""

    @dbus.service.signal(INTERFACE, signature="a{sv}")
    def AlertResolved(self, alert: dbus.Dictionary) -> None:
        """An alert was trusted or blocked. Sent to prompt agents and watchers (unicast)."""

    @dbus.service.signal(INTERFACE, signature="a{sv}")
    def ConnectionEvent(self, flow: dbus.Dictionary) -> None:
        """A flow was decided (fields as in QueryHistory). Sent only to watchers
        (unicast)."""

    @dbus.service.signal(INTERFACE, signature="a{sv}")
    def TrafficSample(self, sample: dbus.Dictionary) -> None:
        """Bytes moved in the last second: time (d) and programs (aa{sv}: exe, uid,
        bytes_out, bytes_in). Sent only to watchers (unicast), only when bytes moved."""


# One class: the signals above and every concern's methods.
HelperObject = types.new_class(
    "HelperObject",
    (HelperSignals,),
    exec_body=lambda namespace: namespace.update(
        __module__=__name__, __doc__="The object clients talk to.",
        **exported_interface(*CONCERNS),
    ),
)  # fmt: skip
