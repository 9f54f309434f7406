"""A curious or hostile local user against the real helper, its bus and polkitd."""

import json

import dbus
import dbus.mainloop.glib
import dbus.service
import pytest
from gi.repository import GLib

from netwarden_common.api import (
    ACTION_MANAGE_OWN_RULES,
    ACTION_MANAGE_RULES,
    ACTION_MONITOR,
    ACTION_MONITOR_ALL,
    BUS_NAME,
    INTERFACE,
    OBJECT_PATH,
)
from netwarden_common.dbus_values import dictionary
from netwarden_common.rules import validate
from netwarden_helper.bus.polkit import PolkitAuthority
from netwarden_helper.composition import Helper, Served
from netwarden_helper.runtime.loop import Loop
from tests.fixtures.api import ApiClient, error_name, own_rule, pump_until
from tests.fixtures.processes import wait_for
from tests.fixtures.traffic import recorder, run_client, start_client
from tests.fixtures.users import NOBODY

PORT = 8080


def test_a_rule_whose_owner_changes_while_polkit_waits_is_judged_again(
    system_bus, polkitd, netns, tmp_path
):
    # polkit takes 2 s over nobody's answers (a person typing a password); nobody may
    # manage their own rules, not everyone's.
    polkitd(grant=[ACTION_MANAGE_OWN_RULES], deny=[ACTION_MANAGE_RULES], slow=2)
    # The helper's parts on this thread's main context, served on the private bus, so the
    # test can change a rule from inside while polkit is asked (polkitd answers one rules
    # check at a time: another caller's change could not come in between).
    with netns.host.entered():
        helper = Helper(Loop(), tmp_path / "state", 7700, 7701, tmp_path / "rules.d")
        connection = system_bus.connect(0, mainloop=dbus.mainloop.glib.DBusGMainLoop())
        name = dbus.service.BusName(BUS_NAME, connection)
        served = Served(connection, PolkitAuthority(connection), helper)
        try:
            rule = helper.rule_book.add_rule(validate(own_rule(note="nobody's")))
            nobody = ApiClient(system_bus, NOBODY, mainloop=dbus.mainloop.glib.DBusGMainLoop())
            outcome = []
            # nobody edits what is, when the call comes, their own rule...
            nobody.connection.call_async(
                BUS_NAME, OBJECT_PATH, INTERFACE, "UpdateRule", "ta{sv}",
                (rule.id, dictionary(own_rule(note="taken over", destination="192.0.2.66"))),
                outcome.append, outcome.append,
            )  # fmt: skip
            deadline = GLib.get_monotonic_time() + 500_000
            pump_until(lambda: GLib.get_monotonic_time() > deadline)
            assert not outcome, "polkit answered before the administrator's change"
            # ...and while polkit waits, it becomes everyone's rule.
            everyone = validate({**own_rule(note="everyone's"), "uid": None})
            helper.rule_book.replace_rule(rule.id, everyone)
            pump_until(lambda: outcome, timeout=20)
            assert isinstance(outcome[0], dbus.DBusException), outcome
            assert error_name(outcome[0]) == "NotAuthorized"
            assert "manage-rules" in outcome[0].get_dbus_message()
            stored = helper.rule_book.rule(rule.id)
            assert (stored.uid, stored.note) == (None, "everyone's")
            nobody.close()
        finally:
            served.close()
            del name  # gives the bus name back
            connection.close()
            helper.close()


def test_a_user_sees_only_their_own_programs_flows_unless_an_administrator(
    system_bus, polkitd, helper, netns
):
    polkitd(grant=[ACTION_MONITOR], deny=[ACTION_MONITOR_ALL])
    nobody = ApiClient(system_bus, NOBODY, mainloop=dbus.mainloop.glib.DBusGMainLoop())
    events = []
    nobody.connection.add_signal_receiver(events.append, "ConnectionEvent", INTERFACE)
    nobody.call("WatchConnections", dictionary({}))
    with recorder(netns.peer, (netns.peer_v4,), PORT):
        assert run_client(netns.host, "tcp", netns.peer_v4, PORT)["result"] == "connected"
        mine = start_client(netns.host, "tcp", netns.peer_v4, PORT, uid=NOBODY)
        assert json.loads(mine.communicate(timeout=20)[0])["result"] == "connected"
    pump_until(lambda: events, timeout=10)
    root_view = ApiClient(system_bus, 0)

    def flows(client, **query):
        found = client.call("QueryHistory", dictionary(query))["flows"]
        return {flow["uid"] for flow in found if flow["port"] == PORT}

    wait_for(lambda: flows(root_view) == {0, NOBODY}, 10, "both flows in the history")
    assert flows(nobody) == {NOBODY}, "root's flow is not nobody's to see"
    assert {e["uid"] for e in events} == {NOBODY}, "nor its connection event"
    top = nobody.call("TopTraffic", dictionary({}))
    assert all(p["uid"] == NOBODY for p in top["programs"])
    for method, query in (("QueryHistory", {"all_users": True}),
                          ("ListConnections", {"all_users": True}),
                          ("WatchConnections", {"all_users": True})):  # fmt: skip
        with pytest.raises(dbus.DBusException) as refused:
            nobody.call(method, dictionary(query))
        assert error_name(refused.value) == "NotAuthorized"
        assert "monitor-all-users" in refused.value.get_dbus_message()
    nobody.close()
    root_view.close()
