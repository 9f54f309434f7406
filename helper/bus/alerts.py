"""Alerts over the bus: ListAlerts, ResolveAlert, and their signals.

AlertRaised and AlertResolved go to prompt agents and connection watchers (unicast).
Resolving needs what changing the affected rules needs.
"""

import dbus

from netwarden_common.api import ACTION_MONITOR
from netwarden_common.dbus_values import dictionary
from netwarden_common.errors import BadValue, Missing
from netwarden_helper.bus.authorization import Caller, authorized_method
from netwarden_helper.bus.peers import BusPeers, Signals
from netwarden_helper.bus.records import alert_record
from netwarden_helper.bus.rules import for_rules
from netwarden_helper.pinning.alerts import OPEN, RESOLUTIONS, Alert, block_rule
from netwarden_helper.pinning.pins import PinGuard


class AlertMethods:
    def __init__(
        self,
        pins: PinGuard,
        audiences: tuple[BusPeers, ...],
        signals: Signals,
    ) -> None:
        self._pins = pins
        self._audiences = audiences
        self._signals = signals

    @authorized_method(ACTION_MONITOR, out_signature="aa{sv}")
    def ListAlerts(self, caller: Caller) -> dbus.Array:
        """Every hash-change alert, newest first."""
        return dbus.Array(
            [dictionary(alert_record(a)) for a in self._pins.alerts()], signature="a{sv}"
        )

    def _alert_action(self, caller: Caller, alert_id: int) -> str:
        alert = next((a for a in self._pins.alerts() if a.id == alert_id), None)
        if alert is None:
            raise Missing(f"there is no alert {alert_id}")
        if alert.state != OPEN:  # nothing will change: the refusal needs no more
            return ACTION_MONITOR
        rules = self._pins.affected(alert)
        return for_rules(caller, *rules, block_rule(alert, rules))

    @authorized_method(
        lambda self, caller, alert_id, resolution: self._alert_action(caller, alert_id),
        in_signature="ts",
        out_signature="a{sv}",
    )
    def ResolveAlert(self, caller: Caller, alert_id: int, resolution: str) -> dbus.Dictionary:
        """Resolve an open alert: "trust" re-pins every affected rule to the new binary,
        "block" adds a deny rule for it. (To decide later, do nothing: the alert stays
        open and the new binary gets no connection meanwhile.) Returns the alert."""
        if resolution not in RESOLUTIONS:
            raise BadValue("resolution: must be trust or block")
        return dictionary(alert_record(self._pins.resolve(int(alert_id), str(resolution))))

    # From the pin guard (queued on the loop)

    def alert_raised(self, alert: Alert) -> None:
        self._tell_everyone("AlertRaised", alert)

    def alert_resolved(self, alert: Alert) -> None:
        self._tell_everyone("AlertResolved", alert)

    def _tell_everyone(self, member: str, alert: Alert) -> None:
        record = dictionary(alert_record(alert))
        for name in {name for peers in self._audiences for name in peers.names()}:
            self._signals.send(member, "a{sv}", record, to=name)
