"""`netwardenctl monitor`: one line per event until Ctrl+C.

Events: prompts raised, changed and closed (the command registers as a prompt agent for
the caller's programs, or every user's with --all-users, unless --no-prompts), every
decided connection and each second's traffic (with --connections: the command watches
connections), hash-change alerts raised and resolved (sent to prompt agents and
watchers), rules changed, rules' and blocklists' hit counts, settings changed, profiles
changed or switched (and why), the location database updated (or its update failed),
and the helper stopping or starting (the command
registers and watches again when it comes back). While the command runs as a prompt
agent, the caller's new connections that no rule covers are held until answered
(`netwardenctl prompt answer`) or until the prompt timeout.
"""

import argparse
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import dbus
import dbus.mainloop.glib
from gi.repository import GLib

from netwarden.cli import output
from netwarden.cli.bus import CliError, Helper, cli_error, connect
from netwarden.client.helper_client import BUS_NAME, INTERFACE, OBJECT_PATH, to_python
from netwarden_common.dbus_values import dictionary


class Monitor:
    """Prints events; `json` chooses JSON lines over text lines."""

    def __init__(self, helper: Helper, args: argparse.Namespace) -> None:
        self.helper = helper
        self.json = bool(getattr(args, "json", False))
        self.prompts = not args.no_prompts
        self.all_users = bool(args.all_users)
        self.connections = bool(args.connections)
        self.helper_seen: bool | None = None

    def emit(self, event: str, text: str, **fields: Any) -> None:
        if self.json:
            output.print_json({"event": event, "time": time.time(), **fields})
        else:
            print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)

    def register(self) -> None:
        if self.prompts:
            self.helper.call("RegisterPromptAgent", dictionary({"all_users": self.all_users}))
        if self.connections:
            self.helper.call("WatchConnections", dictionary({"all_users": self.all_users}))

    def connection(self, flow: dict[str, Any]) -> None:
        text = (
            f"connection: {output.flow_program(flow)} ({output.user(flow.get('uid'))}) -> "
            f"{output.destination(flow)} {flow.get('verdict')} [{output.decided_by(flow)}]"
        )
        self.emit("connection", text, flow=flow)

    def alert_raised(self, alert: dict[str, Any]) -> None:
        text = (
            f"alert {alert['id']} raised: {alert.get('exe')} {output.alert_what(alert)} "
            f"({alert.get('state')}; {output.package(alert)})"
        )
        self.emit("alert_raised", text, alert=alert)

    def alert_resolved(self, alert: dict[str, Any]) -> None:
        text = f"alert {alert['id']} resolved: {alert.get('exe')} {alert.get('state')}"
        self.emit("alert_resolved", text, alert=alert)

    def prompt_raised(self, prompt: dict[str, Any]) -> None:
        where = ", ".join(prompt.get("hosts") or []) or prompt.get("destination")
        user = prompt.get("user") or prompt.get("uid")
        text = (
            f"prompt {prompt['id']} raised: {prompt.get('exe') or '?'} ({user}) -> "
            f"{where}:{prompt.get('port')}/{prompt.get('protocol')} "
            f"[{prompt.get('reason')}]"
        )
        self.emit("prompt_raised", text, prompt=prompt)

    def prompt_changed(self, prompt: dict[str, Any]) -> None:
        text = f"prompt {prompt['id']} changed: {prompt.get('exe') or '?'}" + (
            " gave up" if prompt.get("gave_up") else "")  # fmt: skip
        self.emit("prompt_changed", text, prompt=prompt)

    def prompt_closed(self, prompt_id: int, outcome: str) -> None:
        self.emit(
            "prompt_closed", f"prompt {prompt_id} closed: {outcome}", id=prompt_id, outcome=outcome
        )

    def rules_changed(self) -> None:
        self.emit("rules_changed", "rules changed")

    def hits(self, what: str) -> Callable[[list], None]:
        """A handler of RuleHitsChanged (`what` "rule") or BlocklistHitsChanged
        ("blocklist"): (id, hits, last hit) of each one hit lately."""

        def changed(counts: list) -> None:
            text = ", ".join(f"{what} {key}: {hits}" for key, hits, _last in counts)
            items = [{"id": key, "hits": hits, "last_hit": last} for key, hits, last in counts]
            self.emit(f"{what}_hits", f"hits: {text}", counts=items)

        return changed

    def profiles_changed(self, state: dict[str, Any]) -> None:
        names = ", ".join(p["name"] for p in state.get("profiles", [])) or "none"
        network = (state.get("network") or {}).get("id") or "none"
        active = state.get("active") or "none"
        text = (f"profiles changed ({state.get('reason')}): active {active}; "
                f"profiles {names}; network {network}")  # fmt: skip
        self.emit("profiles_changed", text, state=state)

    def location_database(self, state: dict[str, Any]) -> None:
        loaded = state.get("database_type") if state.get("loaded") else "none loaded"
        problem = f" ({state['error']})" if state.get("error") else ""
        on = "on" if state.get("enabled") else "off"
        text = f"location database changed: {on}, {loaded}{problem}"
        self.emit("location_database_changed", text, state=state)

    def traffic(self, sample: dict[str, Any]) -> None:
        programs = sample.get("programs", [])
        moved = "; ".join(f"{p['exe']} {output.size(p['bytes_out'])} out, "
                          f"{output.size(p['bytes_in'])} in" for p in programs)  # fmt: skip
        self.emit("traffic", f"traffic: {moved}", sample=sample)

    def settings_changed(self, settings: dict[str, Any]) -> None:
        text = " ".join(f"{k}={output.setting_text(v)}" for k, v in sorted(settings.items()))
        self.emit("settings_changed", f"settings changed: {text}", settings=settings)

    def owner_changed(self, owner: str) -> None:
        running = bool(owner)
        if self.helper_seen is not None and running != self.helper_seen:
            self.emit(
                "helper_started" if running else "helper_stopped",
                "helper started" if running else "helper stopped",
            )
            if running:
                try:
                    self.register()
                except CliError as exc:
                    print(f"netwardenctl: {exc}", file=sys.stderr, flush=True)
        self.helper_seen = running


def _receive(connection: dbus.bus.BusConnection, name: str, handler: Callable) -> None:
    connection.add_signal_receiver(
        lambda *values: handler(*(to_python(v) for v in values)),
        signal_name=name,
        dbus_interface=INTERFACE,
        bus_name=BUS_NAME,
        path=OBJECT_PATH,
    )


def run(_helper: None, args: argparse.Namespace) -> int:
    """Stream events until SIGINT or SIGTERM; exit 0 then."""
    helper = Helper(connect(mainloop=dbus.mainloop.glib.DBusGMainLoop()))
    monitor = Monitor(helper, args)
    loop = GLib.MainLoop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal_number, loop.quit)
    try:
        connection = helper.connection
        _receive(connection, "PromptRaised", monitor.prompt_raised)
        _receive(connection, "PromptChanged", monitor.prompt_changed)
        _receive(connection, "PromptClosed", monitor.prompt_closed)
        _receive(connection, "RulesChanged", monitor.rules_changed)
        _receive(connection, "RuleHitsChanged", monitor.hits("rule"))
        _receive(connection, "BlocklistHitsChanged", monitor.hits("blocklist"))
        _receive(connection, "SettingsChanged", monitor.settings_changed)
        _receive(connection, "ProfilesChanged", monitor.profiles_changed)
        _receive(connection, "LocationDatabaseChanged", monitor.location_database)
        _receive(connection, "ConnectionEvent", monitor.connection)
        _receive(connection, "TrafficSample", monitor.traffic)
        _receive(connection, "AlertRaised", monitor.alert_raised)
        _receive(connection, "AlertResolved", monitor.alert_resolved)
        helper.call("GetStatus")  # the monitor action, and whether the helper runs
        monitor.register()
        connection.watch_name_owner(BUS_NAME, monitor.owner_changed)
        what = [
            *(["prompts"] if monitor.prompts else []),
            *(["connections"] if monitor.connections else []),
            *(["alerts"] if monitor.prompts or monitor.connections else []),
            "rules, hits, settings and profiles",
        ]
        monitor.emit(
            "monitoring",
            f"monitoring {', '.join(what)} (Ctrl+C to stop)",
            prompts=monitor.prompts,
            connections=monitor.connections,
        )
        loop.run()
    except dbus.DBusException as exc:
        raise cli_error(exc) from None
    finally:
        helper.close()
    return 0
