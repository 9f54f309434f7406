"""Profiles: named rule sets, one active, switched by hand (bus, netwardenctl) or by
NetworkManager's primary connection; against the real helper, polkitd and dbus-daemon
(and the helper's parts alone, for a switch as the history closes)."""

import json
import logging

import dbus
import dbus.mainloop.glib
import jsonschema
import pytest
from gi.repository import GLib

from netwarden_common.api import (
    ACTION_MANAGE_RULES,
    ACTION_MONITOR,
    ACTION_MONITOR_ALL,
    ACTION_SETTINGS,
    INTERFACE,
)
from netwarden_common.profiles import Profile
from netwarden_helper.policy.profiles import Profiles
from netwarden_helper.policy.rule_book import RuleBook
from netwarden_helper.records.history import History
from netwarden_helper.runtime.loop import Loop
from netwarden_helper.storage.store import Store
from tests.fixtures.api import ApiClient, error_name, pump_until
from tests.fixtures.network_manager import network_manager
from tests.fixtures.processes import wait_for
from tests.fixtures.traffic import recorder, run_client
from tests.fixtures.users import NOBODY
from tests.test_ctl import SCHEMA, ctl, ctl_json

PORT = 8080
WORK_UUID = "5f0c8f4e-5b1e-4a39-9d55-2f1c6a0e7b11"
CORNER_UUID = "0b9d2f8a-0000-4c1e-8f00-000000000001"


def test_a_profiles_rule_decides_only_while_the_profile_is_active(polkitd, root, netns):
    polkitd(grant=[ACTION_MONITOR, ACTION_SETTINGS, ACTION_MANAGE_RULES])
    added = ctl("profiles", "add", "Work")
    assert added.returncode == 0, added.stderr
    assert added.stdout.splitlines()[:2] == [
        "added profile Work", "active profile: none (only the rules of every profile)"]  # fmt: skip
    ctl_json("rules", "add", "--action", "allow", "--protocol", "tcp", "--ports", PORT)
    rule = ctl_json("rules", "add", "--action", "deny", "--protocol", "tcp", "--ports", PORT,
                    "--profile", "Work")  # fmt: skip
    assert rule["profile"] == "Work"

    def connect() -> str:
        return run_client(netns.host, "tcp", netns.peer_v4, PORT)["result"]

    with recorder(netns.peer, (netns.peer_v4,), PORT):
        assert connect() == "connected"  # Work's deny is not in force
        used = ctl("profiles", "use", "Work")
        assert used.stdout.splitlines()[:2] == ["using profile Work", "active profile: Work"]
        assert connect() == "refused"  # at once: the next flow meets Work's rules
        table = ctl("profiles").stdout.splitlines()
        assert table[1].split() == ["ACTIVE", "NAME", "NETWORK", "RULES"]
        assert table[2].split() == ["yes", "Work", "-", "1"]
        assert ctl("profiles", "none").stdout.startswith("using no profile")
        assert connect() == "connected"
    listed = {r["id"]: r for r in root.call("ListRules")}
    assert listed[rule["id"]]["profile"] == "Work"  # listed while not in force
    rules_table = ctl("rules", "list").stdout.splitlines()
    assert rules_table[0].split()[11] == "PROFILE"
    assert sorted(line.split()[11] for line in rules_table[1:]) == ["Work", "all"]


def test_bad_profile_input_is_refused_with_clear_errors(polkitd, root, system_bus):
    polkitd()
    root.call("AddProfile", {"name": "Work"})
    root.call("AddRule", {"action": "deny", "exe": "/usr/bin/curl", "profile": "Work"})
    before = root.call("ListProfiles")
    refused = [
        ("AddProfile", ({"name": ""},), "InvalidArgument", "name: must be 1 to 32 characters"),
        ("AddProfile", ({"name": "Home\n"},), "InvalidArgument",
         "name: must be printable, without spaces at either end"),
        ("AddProfile", ({"name": "Work"},), "InvalidArgument",
         "name: there is a profile 'Work' already"),
        ("AddProfile", ({"name": "Cafe", "uuid": "not-a-uuid!"},), "InvalidArgument",
         "uuid: not a NetworkManager connection UUID"),
        ("AddProfile", ({"name": "Cafe", "colour": "red"},), "InvalidArgument",
         "colour: unknown option"),
        ("SetActiveProfile", ("Home",), "NotFound", "there is no profile 'Home'"),
        ("UpdateProfile", ("Home", {"ssid": "x"}), "NotFound", "there is no profile 'Home'"),
        ("AddRule", ({"action": "deny", "profile": "Home"},), "NotFound",
         "there is no profile 'Home'"),
        ("AddRule", ({"action": "deny", "profile": " Work"},), "InvalidArgument",
         "profile: must be printable, without spaces at either end (or empty: every profile)"),
        ("RemoveProfile", ("Work", {}), "InvalidArgument", "profile 'Work' has 1 rule: "
         "move or delete them first, or remove it with its rules"),
    ]  # fmt: skip
    for method, args, name, message in refused:
        with pytest.raises(dbus.DBusException) as caught:
            root.call(method, *args)
        assert (error_name(caught.value), caught.value.get_dbus_message()) == (name, message)
    assert root.call("ListProfiles") == before
    nobody = ApiClient(system_bus)
    with pytest.raises(dbus.DBusException) as caught:
        nobody.call("SetActiveProfile", "Work")
    assert error_name(caught.value) == "NotAuthorized"
    nobody.close()
    unknown = ctl("profiles", "use", "Home", uid=0)
    assert (unknown.returncode, unknown.stderr) == (
        5, "netwardenctl: not found: there is no profile 'Home'\n")  # fmt: skip
    removed = ctl("profiles", "remove", "Work", "--with-rules", uid=0)
    assert removed.stdout.startswith("removed profile Work and its 1 rule\n")
    assert root.call("ListRules") == []


def test_a_renamed_profile_keeps_its_rules_network_and_place_and_stays_active(polkitd, root, netns):
    polkitd(grant=[ACTION_MONITOR, ACTION_SETTINGS, ACTION_MANAGE_RULES])
    root.call("AddProfile", {"name": "Work", "uuid": WORK_UUID})
    root.call("AddProfile", {"name": "Home"})
    rule = root.call("AddRule", {"action": "deny", "protocol": "tcp", "ports": str(PORT),
                                 "profile": "Work"})  # fmt: skip
    root.call("SetActiveProfile", "Work")
    renamed = ctl("profiles", "rename", "Work", "Office")
    assert renamed.returncode == 0, renamed.stderr
    assert renamed.stdout.splitlines()[:2] == [
        "renamed profile Work to Office", "active profile: Office"]  # fmt: skip
    state = root.call("ListProfiles")
    assert [(p["name"], p["uuid"], p["rules"]) for p in state["profiles"]] == [
        ("Office", WORK_UUID, 1), ("Home", "", 0)]  # fmt: skip
    listed = {r["id"]: r for r in root.call("ListRules")}
    assert listed[rule["id"]]["profile"] == "Office"
    with recorder(netns.peer, (netns.peer_v4,), PORT):
        assert run_client(netns.host, "tcp", netns.peer_v4, PORT)["result"] == "refused"
    taken = ctl("profiles", "rename", "Office", "Home")
    assert (taken.returncode, taken.stderr) == (
        1, "netwardenctl: error: name: there is a profile 'Home' already\n")  # fmt: skip
    bad = ctl("profiles", "rename", "Office", " Home")
    assert bad.returncode == 1
    assert bad.stderr.endswith(" name: must be printable, without spaces at either end\n")
    missing = ctl("profiles", "rename", "Work", "Away")
    assert (missing.returncode, missing.stderr) == (
        5, "netwardenctl: not found: there is no profile 'Work'\n")  # fmt: skip
    assert root.call("ListProfiles") == state


def test_export_and_import_keep_the_profiles(polkitd, root):
    polkitd()
    root.call("AddProfile", {"name": "Work", "ssid": "corp-wifi"})
    root.call("AddRule", {"action": "deny", "exe": "/usr/bin/curl", "profile": "Work"})
    root.call("AddRule", {"action": "allow", "exe": "/usr/bin/wget"})
    exported = root.call("ExportRules")
    document = json.loads(exported)
    jsonschema.validate(document, SCHEMA)  # docs/rules-schema.json describes it
    assert document["profiles"] == [{"name": "Work", "uuid": "", "ssid": "corp-wifi"}]
    assert [r.get("profile") for r in document["rules"]] == ["Work", ""]
    root.call("RemoveProfile", "Work", {"delete_rules": True})
    root.call("ImportRules", exported, {"replace": True})
    assert root.call("ExportRules") == exported
    profiles = root.call("ListProfiles")["profiles"]
    assert [(p["name"], p["ssid"], p["rules"]) for p in profiles] == [("Work", "corp-wifi", 1)]


def test_networkmanagers_primary_connection_switches_the_profile(polkitd, root, system_bus):
    polkitd()
    root.call("AddProfile", {"name": "Work", "uuid": WORK_UUID})
    root.call("AddProfile", {"name": "Cafe", "ssid": "FreeWiFi"})
    root.call("AddProfile", {"name": "Travel"})

    def active() -> str:
        return str(root.call("ListProfiles")["active"])

    with network_manager(system_bus) as nm:
        nm.connect("Office", WORK_UUID.upper(), "802-3-ethernet")
        wait_for(lambda: active() == "Work", 10, "Work, on the office's connection")
        network = root.call("ListProfiles")["network"]
        assert (network["id"], network["type"], network["ssid"]) == ("Office", "802-3-ethernet", "")
        nm.connect("Corner", "0b9d2f8a-0000-4c1e-8f00-000000000001", "802-11-wireless",
                   "FreeWiFi")  # fmt: skip
        wait_for(lambda: active() == "Cafe", 10, "Cafe, on its Wi-Fi network")
        assert root.call("ListProfiles")["network"]["ssid"] == "FreeWiFi"
        nm.connect("Home", "0b9d2f8a-0000-4c1e-8f00-000000000002", "802-3-ethernet")
        wait_for(lambda: active() == "", 10, "no profile, on a network no profile claims")
        root.call("SetActiveProfile", "Travel")  # chosen by hand, claims no network
        nm.disconnect()
        wait_for(lambda: dict(root.call("ListProfiles")["network"]) == {}, 10, "no network")
        assert active() == "Travel"


def test_the_tray_menu_switches_the_profile_and_names_it(
    system_bus, polkitd, helper, root, app_client, qapp, qtbot
):
    from netwarden.client.helper_state import HelperState
    from netwarden.desktop.tray import Tray
    from netwarden.models.profiles import ProfilesModel
    from netwarden.models.prompts import PromptModel
    from netwarden.models.settings import SettingsModel

    polkitd(grant=[ACTION_MONITOR, ACTION_SETTINGS])
    root.call("AddProfile", {"name": "Home"})
    root.call("AddProfile", {"name": "Work"})
    client = app_client()
    profiles = ProfilesModel(client)
    tray = Tray(HelperState(client), PromptModel(client), SettingsModel(client),
                lambda: None, lambda: None, profiles=profiles)  # fmt: skip
    qtbot.waitUntil(lambda: profiles.names == ["Home", "Work"], timeout=10_000)
    entries = tray.profile_menu.actions()
    assert [(a.text(), a.isChecked()) for a in entries] == [
        ("No profile", True), ("Home", False), ("Work", False)]  # fmt: skip
    entries[2].trigger()  # the user picks "Work"
    qtbot.waitUntil(lambda: root.call("ListProfiles")["active"] == "Work", timeout=10_000)
    qtbot.waitUntil(lambda: tray.icon.toolTip().endswith(", profile Work"), timeout=10_000)
    assert [a.isChecked() for a in tray.profile_menu.actions()] == [False, False, True]


def test_switches_by_hand_and_by_network_are_recorded_in_history_and_listed(
    polkitd, root, system_bus
):
    polkitd(grant=[ACTION_MONITOR, ACTION_MONITOR_ALL, ACTION_SETTINGS])
    root.call("AddProfile", {"name": "Work", "uuid": WORK_UUID})
    root.call("AddProfile", {"name": "Cafe", "ssid": "FreeWiFi"})
    root.call("AddProfile", {"name": "Home"})
    listener = ApiClient(system_bus, NOBODY, mainloop=dbus.mainloop.glib.DBusGMainLoop())
    told = []
    listener.connection.add_signal_receiver(told.append, "ProfileSwitched", INTERFACE)

    def switches() -> list[tuple]:
        found = root.call("QueryProfileSwitches", {})["switches"]
        return [(s["from_profile"], s["to_profile"], s["why"], s.get("uid"), s["network_id"],
                 s["network_uuid"], s["network_ssid"]) for s in found]  # fmt: skip

    assert ctl("profiles", "use", "Home").returncode == 0  # by hand, as nobody
    with network_manager(system_bus) as nm:
        nm.connect("Office", WORK_UUID, "802-3-ethernet")
        wait_for(lambda: len(switches()) == 2, 10, "the switch to Work recorded")
        nm.connect("Corner", CORNER_UUID, "802-11-wireless", "FreeWiFi")
        wait_for(lambda: len(switches()) == 3, 10, "the switch to Cafe recorded")
        root.call("SetActiveProfile", "Home")  # by hand, as root
        root.call("UpdateProfile", "Cafe", {"ssid": "FreeWiFi"})  # the network, by root's change
    assert switches() == [
        ("Home", "Cafe", "network", 0, "Corner", CORNER_UUID, "FreeWiFi"),
        ("Cafe", "Home", "user", 0, "", "", ""),
        ("Work", "Cafe", "network", None, "Corner", CORNER_UUID, "FreeWiFi"),
        ("Home", "Work", "network", None, "Office", WORK_UUID, ""),
        ("", "Home", "user", NOBODY, "", "", ""),
    ]

    def why_listed(*options: str) -> list[str]:
        listed = ctl("profiles", "history", *options)
        assert listed.returncode == 0, listed.stderr
        lines = listed.stdout.splitlines()
        assert lines[0].split() == ["TIME", "FROM", "TO", "WHY"]
        return [line.split(None, 2)[2] for line in lines[1:]]

    assert why_listed() == [  # nobody is told who switched only for its own switch
        "Home  Cafe  network: Corner, Wi-Fi “FreeWiFi”",
        "Cafe  Home  by hand",
        "Work  Cafe  network: Corner, Wi-Fi “FreeWiFi”",
        "Home  Work  network: Office",
        "none  Home  by hand: nobody",
    ]
    assert why_listed("--all-users")[:2] == [  # an administrator's view: everyone's
        "Home  Cafe  network: Corner, Wi-Fi “FreeWiFi”, after root's change",
        "Cafe  Home  by hand: root",
    ]
    pump_until(lambda: len(told) == 5)  # broadcast without who switched
    assert [(s["to_profile"], s["why"], s["network_id"]) for s in told] == [
        ("Home", "user", ""), ("Work", "network", "Office"), ("Cafe", "network", "Corner"),
        ("Home", "user", ""), ("Cafe", "network", "Corner")]  # fmt: skip
    assert not [s for s in told if "uid" in s]
    listener.close()
    newest = ctl_json("profiles", "history", "--limit", "1")
    assert newest["more"] and [s["to_profile"] for s in newest["switches"]] == ["Cafe"]
    assert "uid" not in newest["switches"][0]
    assert ctl("profiles", "history", "--until", "1h").stdout == "no profile switches\n"

    refused = [
        ({"since": "yesterday"}, "since: must be float"),
        ({"limit": 0}, "limit: must be between 1 and 1000"),
        ({"since": 10.0, "until": 5.0}, "since: must not be after until"),
        ({"profile": "Work"}, "profile: unknown option"),
    ]
    for query, message in refused:
        with pytest.raises(dbus.DBusException) as caught:
            root.call("QueryProfileSwitches", query)
        assert (error_name(caught.value), caught.value.get_dbus_message()) == (
            "InvalidArgument", message)  # fmt: skip
    bad_time = ctl("profiles", "history", "--since", "soon")
    assert bad_time.returncode == 2 and "'soon' is not a time" in bad_time.stderr


def test_a_switch_after_the_history_closed_is_in_force_and_told(tmp_path, caplog):
    """NetworkManager's signal as the helper stops: the closed history only logs the
    switch; the switch is made and `changed` told all the same."""
    loop = Loop(GLib.MainContext())
    store = Store(tmp_path / "state")
    profiles = Profiles(store, RuleBook(loop, store))
    history = History(loop, tmp_path / "state", lambda: 30, meter=False)
    told: list[str] = []
    profiles.changed.connect(told.append)
    profiles.switched.connect(history.profile_switched)
    profiles.add([Profile("Work")])
    history.close()
    with caplog.at_level(logging.DEBUG):
        profiles.use("Work", "network")
    assert (profiles.active, told) == ("Work", ["edited", "network"])
    assert "the switch to profile 'Work' came after the history closed" in caplog.text
    store.close()
