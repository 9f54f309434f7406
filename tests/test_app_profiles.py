"""Profiles in the main window, against the real helper, dbus-daemon and polkitd: the
Profiles page (add, bind to the network, rename, switch, remove, the recent switches),
the switcher in the sidebar and on the Rules page, each rule's profile, the filter, the
rule form, and the switches on the History page; and the switch models alone, fed by a
fake helper (a switch signalled and read in either order, a range cut short)."""

import json

from PySide6.QtCore import QMetaObject, QObject, QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from netwarden.models.profile_switches import ProfileSwitchesModel
from netwarden.models.traffic import FLOWS_LIMIT, TrafficHistory
from netwarden_common.api import (
    ACTION_MANAGE_OWN_RULES,
    ACTION_MONITOR,
    ACTION_MONITOR_ALL,
    ACTION_SETTINGS,
)
from netwarden_common.dbus_values import dictionary
from tests.fixtures.network_manager import network_manager
from tests.fixtures.qml import click, find_all, find_item, text_of
from tests.fixtures.users import NOBODY
from tests.test_app_pages import main_window, save_screenshot, shown_top_down, trigger, type_into
from tests.test_profiles import WORK_UUID

__all__ = ["main_window"]  # the fixture, used by name

CAFE_UUID = "0b9d2f8a-0000-4c1e-8f00-000000000001"


def choose(window, combo, index):
    """Pick entry `index` of `combo` with the keyboard, as a user may (arrow keys)."""
    QMetaObject.invokeMethod(combo, "forceActiveFocus")
    key = Qt.Key.Key_Down if index > combo.property("currentIndex") else Qt.Key.Key_Up
    while combo.property("currentIndex") != index:
        before = combo.property("currentIndex")
        QTest.keyClick(window, key)
        assert combo.property("currentIndex") != before, "the entry is not there"
    QTest.qWait(50)


def pick(window, combo, text):
    """Open `combo`'s list and click its entry `text`, as a user would."""
    click(window, combo)
    content = window.contentItem()
    found = f"i => i.text === {json.dumps(text)} && i.highlighted !== undefined && i.visible"
    entries = []

    def listed():
        entries[:] = [e for e in find_all(content, found) if e != combo]
        return bool(entries)

    QTest.qWait(200)  # the list opens
    assert listed(), f"no entry {text!r}"
    click(window, entries[0])


def footer_button(dialog_item, action_name):
    (button,) = find_all(dialog_item, f"i => i.action && i.action.objectName === "
                         f"'{action_name}' && i.visible && i.width > 0")  # fmt: skip
    return button


def fill_profile_dialog(window, qtbot, name, kind=None, this_network=False):
    """Type `name` into the open profile dialog (choose the network `kind`, take this
    network's), and save it."""
    content = window.contentItem()
    field = None

    def opened():
        nonlocal field
        field = find_item(content, "profileNameField")
        return field is not None and field.property("visible")

    qtbot.waitUntil(opened, timeout=5_000)
    QTest.qWait(300)  # the dialog opens
    click(window, field)
    QTest.keySequence(window, "Ctrl+A")
    QTest.keyClick(window, Qt.Key.Key_Delete)
    for char in name:  # as typed, capitals too
        QTest.keyClick(window, char)
    if kind is not None:
        choose(window, find_item(content, "profileKindField"), kind)
    if this_network:
        click(window, find_item(content, "thisNetworkButton"))
    click(window, footer_button(content, "saveProfileAction"))
    qtbot.waitUntil(lambda: not field.property("visible"), timeout=5_000)


def profiles_of(root):
    state = root.call("ListProfiles")
    return state["active"], {
        p["name"]: (p["uuid"], p["ssid"], p["rules"]) for p in state["profiles"]
    }


def test_profiles_page_adds_one_for_this_wifi_renames_switches_and_removes_them(
    polkitd, root, system_bus, main_window, qtbot
):
    polkitd(grant=[ACTION_MONITOR, ACTION_SETTINGS])
    with network_manager(system_bus) as nm:
        nm.connect("Corner", CAFE_UUID, "802-11-wireless", "CafeWiFi")
        window, _models = main_window("profiles")
        content = window.contentItem()
        network = find_item(content, "currentNetwork")
        qtbot.waitUntil(lambda: text_of(network) == "Connected to Corner (Wi-Fi “CafeWiFi”)",
                        timeout=10_000)  # fmt: skip
        assert find_item(content, "drawerProfileSwitcher") is None, "nothing to switch yet"

        trigger(window, "addProfileAction")  # one for this Wi-Fi network
        fill_profile_dialog(window, qtbot, "Cafe", kind=1, this_network=True)
        # The network claims it: the helper switches to it at once, and the window shows it.
        qtbot.waitUntil(lambda: profiles_of(root) == ("Cafe", {"Cafe": ("", "CafeWiFi", 0)}),
                        timeout=10_000)  # fmt: skip
        qtbot.waitUntil(lambda: shown_top_down(content, "profileName") == ["Cafe (active)"],
                        timeout=5_000)  # fmt: skip
        assert shown_top_down(content, "profileDetails") == [
            "switches on Wi-Fi “CafeWiFi” · 0 rules"
        ]
        drawer_switcher = find_item(content, "drawerProfileSwitcher")
        assert drawer_switcher.property("visible")
        assert drawer_switcher.property("displayText") == "Profile: Cafe"
        assert window.findChild(QObject, "profilesAction").property("text") == "Profiles (Cafe)"

        trigger(window, "addProfileAction")  # one switched by hand
        fill_profile_dialog(window, qtbot, "Home")
        qtbot.waitUntil(lambda: len(shown_top_down(content, "profileName")) == 2, timeout=10_000)

        click(window, find_item(find_item(content, "profile-Cafe"), "renameProfileButton"))
        fill_profile_dialog(window, qtbot, "Coffee")
        qtbot.waitUntil(lambda: profiles_of(root)[0] == "Coffee", timeout=10_000)
        qtbot.waitUntil(lambda: shown_top_down(content, "profileName") == [
            "Coffee (active)", "Home"], timeout=5_000)  # fmt: skip

        click(window, find_item(find_item(content, "profile-Home"), "useProfileButton"))
        qtbot.waitUntil(lambda: profiles_of(root)[0] == "Home", timeout=10_000)
        qtbot.waitUntil(lambda: drawer_switcher.property("displayText") == "Profile: Home",
                        timeout=5_000)  # fmt: skip
        assert shown_top_down(content, "profileName") == ["Coffee", "Home (active)"]

        # Back on the café's network: the helper switches, the window follows unasked.
        nm.connect("Office", WORK_UUID, "802-3-ethernet")
        nm.connect("Corner", CAFE_UUID, "802-11-wireless", "CafeWiFi")
        qtbot.waitUntil(lambda: drawer_switcher.property("displayText") == "Profile: Coffee",
                        timeout=10_000)  # fmt: skip

        click(window, find_item(find_item(content, "profile-Home"), "removeProfileButton"))
        qtbot.waitUntil(lambda: shown_top_down(content, "profileName") == ["Coffee (active)"],
                        timeout=10_000)  # fmt: skip
        assert profiles_of(root) == ("Coffee", {"Coffee": ("", "CafeWiFi", 0)})


def test_a_bad_name_is_refused_with_the_helpers_message_and_changes_nothing(
    polkitd, root, main_window, qtbot
):
    polkitd(grant=[ACTION_MONITOR, ACTION_SETTINGS])
    root.call("AddProfile", {"name": "Work"})
    window, _models = main_window("profiles")
    content = window.contentItem()
    qtbot.waitUntil(lambda: find_item(content, "profile-Work") is not None, timeout=10_000)
    click(window, find_item(find_item(content, "profile-Work"), "renameProfileButton"))
    fill_profile_dialog(window, qtbot, "W" * 33)
    problem = find_item(content, "profilesProblem")
    qtbot.waitUntil(lambda: problem.property("visible"), timeout=10_000)
    assert text_of(problem) == "name: must be 1 to 32 characters"
    assert profiles_of(root) == ("", {"Work": ("", "", 0)})
    assert shown_top_down(content, "profileName") == ["Work"]


def test_a_switch_polkit_refuses_is_shown_and_the_switcher_keeps_the_active_profile(
    polkitd, root, main_window, qtbot
):
    polkitd(grant=[ACTION_MONITOR])  # not the settings action
    root.call("AddProfile", {"name": "Work"})
    window, _models = main_window("profiles")
    content = window.contentItem()
    qtbot.waitUntil(lambda: find_item(content, "profile-Work") is not None, timeout=10_000)
    switcher = find_item(content, "profileSwitcher")
    pick(window, switcher, "Work")
    problem = find_item(content, "profilesProblem")
    qtbot.waitUntil(lambda: problem.property("visible"), timeout=10_000)
    assert "io.github.netwarden.settings" in text_of(problem)
    qtbot.waitUntil(lambda: switcher.property("displayText") == "Profile: No profile",
                    timeout=5_000)  # fmt: skip
    assert profiles_of(root) == ("", {"Work": ("", "", 0)})


def test_rules_show_their_profile_filter_by_it_and_the_form_and_switcher_set_it(
    polkitd, root, main_window, qtbot
):
    polkitd(grant=[ACTION_MONITOR, ACTION_SETTINGS, ACTION_MANAGE_OWN_RULES])
    for name in ("Home", "Work"):
        root.call("AddProfile", {"name": name})
    for exe, profile in (("/usr/bin/curl", ""), ("/usr/bin/wget", "Work"),
                         ("/usr/bin/ssh", "Home")):  # fmt: skip
        root.call("AddRule", dictionary({"action": "allow", "exe": exe, "uid": NOBODY,
                                         "profile": profile}))  # fmt: skip
    window, models = main_window("rules")
    content = window.contentItem()
    rule_list = find_item(content, "rulesList")
    qtbot.waitUntil(lambda: rule_list.property("count") == 3, timeout=10_000)

    def badges():
        rows = find_all(content, "i => /^rule-[0-9]/.test(String(i.objectName)) && i.visible")
        found = {}
        for row in rows:
            badge = find_item(row, "ruleProfile").parent()
            found[text_of(find_item(row, "ruleProgram"))] = (
                text_of(find_item(row, "ruleProfile")),
                badge.property("inForce"),
            )
        return found

    qtbot.waitUntil(lambda: len(badges()) == 3, timeout=5_000)
    assert badges() == {"curl": ("every profile", True), "wget": ("Work", False),
                        "ssh": ("Home", False)}  # fmt: skip

    switcher = find_item(content, "profileSwitcher")  # the Rules page's own
    qtbot.waitUntil(lambda: switcher.property("visible"), timeout=5_000)
    pick(window, switcher, "Work")
    qtbot.waitUntil(lambda: root.call("ListProfiles")["active"] == "Work", timeout=10_000)
    qtbot.waitUntil(lambda: badges()["wget"] == ("Work", True), timeout=5_000)
    assert badges()["ssh"] == ("Home", False)
    assert find_item(content, "drawerProfileSwitcher").property("displayText") == "Profile: Work"
    QTest.mouseMove(window, QPoint(window.width() // 2, window.height() - 20))  # no hover
    save_screenshot(window, "profiles")

    profile_filter = find_item(content, "rulesProfileFilter")
    for index, shown in (
        (1, {"curl", "wget"}),
        (2, {"curl"}),
        (3, {"ssh"}),
        (0, {"curl", "wget", "ssh"}),
    ):
        choose(window, profile_filter, index)  # in force, every profile's, only Home, all
        qtbot.waitUntil(lambda shown=shown: set(badges()) == shown, timeout=5_000)

    trigger(window, "addRuleAction")
    qtbot.waitUntil(lambda: find_item(content, "ruleForm") is not None, timeout=5_000)
    form = find_item(content, "ruleForm")
    qtbot.wait(600)  # the layer slides in
    type_into(window, find_item(form, "exeField"), "/usr/bin/rsync")
    field = find_item(form, "profileField")
    (combo,) = find_all(field, "i => /ComboBox/.test(String(i)) && i.popup !== undefined")
    choose(window, combo, 1)  # "Every profile", "Home", "Work"
    click(window, find_item(form, "saveRuleButton"))
    qtbot.waitUntil(lambda: any(r["exe"] == "/usr/bin/rsync" for r in root.call("ListRules")),
                    timeout=10_000)  # fmt: skip
    rsync = next(r for r in root.call("ListRules") if r["exe"] == "/usr/bin/rsync")
    assert rsync["profile"] == "Home"
    qtbot.waitUntil(lambda: badges().get("rsync") == ("Home", False), timeout=5_000)
    assert models["rules"].rowOf(rsync["id"]) >= 0


def test_a_network_event_while_the_rule_form_is_open_keeps_the_profile_picked(
    polkitd, root, system_bus, main_window, qtbot
):
    """Every network event is a ProfilesChanged: it must not put the rule's own profile
    back in the form, where Save would write it."""
    polkitd(grant=[ACTION_MONITOR, ACTION_SETTINGS, ACTION_MANAGE_OWN_RULES])
    for name in ("Home", "Work"):
        root.call("AddProfile", {"name": name})
    rule = root.call("AddRule", dictionary({"action": "allow", "exe": "/usr/bin/ssh",
                                            "uid": NOBODY, "profile": "Home"}))  # fmt: skip
    with network_manager(system_bus) as nm:
        window, models = main_window("rules")
        content = window.contentItem()
        qtbot.waitUntil(lambda: find_item(content, f"rule-{rule['id']}") is not None,
                        timeout=10_000)  # fmt: skip
        click(window, find_item(find_item(content, f"rule-{rule['id']}"), "editButton"))
        qtbot.waitUntil(lambda: find_item(content, "ruleForm") is not None, timeout=5_000)
        form = find_item(content, "ruleForm")
        qtbot.wait(600)  # the layer slides in
        (combo,) = find_all(find_item(form, "profileField"),
                            "i => /ComboBox/.test(String(i)) && i.popup !== undefined")  # fmt: skip
        assert combo.property("currentText") == "Home"
        choose(window, combo, 2)  # "Every profile", "Home", "Work"

        nm.connect("Office", WORK_UUID, "802-3-ethernet")  # no profile claims it
        profiles = models["profiles"]
        qtbot.waitUntil(lambda: profiles.network.get("id") == "Office", timeout=10_000)
        QTest.qWait(100)
        assert combo.property("currentText") == "Work"
        click(window, find_item(form, "saveRuleButton"))
        qtbot.waitUntil(lambda: find_item(content, "ruleForm") is None, timeout=10_000)
    assert root.call("ListRules")[0]["profile"] == "Work"


def test_switches_are_listed_with_why_on_the_profiles_and_history_pages(
    polkitd, root, system_bus, main_window, qtbot
):
    polkitd(grant=[ACTION_MONITOR, ACTION_MONITOR_ALL, ACTION_SETTINGS])
    root.call("AddProfile", {"name": "Work", "uuid": WORK_UUID})
    root.call("AddProfile", {"name": "Home"})
    root.call("SetActiveProfile", "Home")  # before the window opens: read from the history
    with network_manager(system_bus) as nm:
        window, _models = main_window("profiles")
        content = window.contentItem()
        qtbot.waitUntil(
            lambda: shown_top_down(content, "switchText") == ["Profile Home (by hand)"],
            timeout=10_000,
        )  # root's: this user is not told who

        nm.connect("Office", WORK_UUID, "802-3-ethernet")  # shown as it happens
        qtbot.waitUntil(lambda: shown_top_down(content, "switchText") == [
            "Profile Work (network: Office)", "Profile Home (by hand)"],
            timeout=10_000)  # fmt: skip
        (newest, _older) = sorted(
            find_all(content, "i => i.objectName === 'profileSwitch'"),
            key=lambda i: i.mapToScene(QPointF(0, 0)).y(),
        )
        assert newest.property("previous") == "from Home"

        click(window, find_item(find_item(content, "profile-Home"), "useProfileButton"))
        qtbot.waitUntil(lambda: shown_top_down(content, "switchText")[0] ==
                        "Profile Home (by hand: nobody)", timeout=10_000)  # fmt: skip
        QTest.mouseMove(window, QPoint(window.width() // 2, window.height() - 20))  # no hover
        save_screenshot(window, "profile-switches")

    trigger(window, "historyAction")  # the same switches, in the range shown
    qtbot.waitUntil(lambda: window.property("currentPage") == "history", timeout=5_000)
    qtbot.waitUntil(lambda: shown_top_down(window.contentItem(), "switchText") == [
        "Profile Home (by hand: nobody)", "Profile Work (network: Office)",
        "Profile Home (by hand)"], timeout=10_000)  # fmt: skip
    trigger(window, "historyAllUsersAction")  # an administrator's view: who made each
    qtbot.waitUntil(lambda: shown_top_down(window.contentItem(), "switchText")[-1] ==
                    "Profile Home (by hand: root)", timeout=10_000)  # fmt: skip


class FakeHelper:
    """The helper as a model sees it: the test makes it appear, answers the calls it
    holds and sends its signals."""

    def __init__(self):
        self.calls, self.signals = [], {}

    def watch_helper(self, on_change):
        self.appear = lambda: on_change(True)

    def on_signal(self, name, handler):
        self.signals[name] = handler

    def call(self, method, signature, arguments, ok, failed):
        self.calls.append((method, dict(arguments[0]), ok))


def a_switch(number, to, **told):
    """Switch `number` to profile `to` by hand, as the helper tells it (`uid`: who)."""
    return {"id": number, "time": 1_800_000_000.0 + number, "from_profile": "",
            "to_profile": to, "why": "user", "network_id": "", "network_uuid": "",
            "network_ssid": "", **told}  # fmt: skip


def test_recent_switches_list_a_signalled_switch_once_whether_read_before_or_after(qapp):
    helper = FakeHelper()
    model = ProfileSwitchesModel(helper)
    helper.appear()
    signal = helper.signals["ProfileSwitched"]

    def read(call, *numbers):
        helper.calls[call][2]({"switches": [a_switch(n, f"P{n}", uid=0) for n in numbers],
                               "more": False})  # fmt: skip

    def texts():
        return [row["text"] for row in model.rows()]

    read(0, 2, 1)
    signal(a_switch(2, "P2"))  # the read had it already
    assert texts() == ["Profile P2 (by hand: root)", "Profile P1 (by hand: root)"]
    assert len(helper.calls) == 1
    signal(a_switch(3, "P3"))  # broadcast without who: shown, and read again for who
    signal(a_switch(4, "P4"))
    assert [call[0] for call in helper.calls] == ["QueryProfileSwitches"] * 3
    read(1, 3, 2, 1)  # a read made before switch 4 was stored
    assert texts() == ["Profile P4 (by hand)", "Profile P3 (by hand: root)",
                       "Profile P2 (by hand: root)", "Profile P1 (by hand: root)"]  # fmt: skip
    read(2, 4, 3, 2, 1)
    assert texts()[0] == "Profile P4 (by hand: root)" and model.count == 4


def test_the_history_page_tells_when_its_range_has_more_switches_than_listed(qapp):
    helper = FakeHelper()
    history = TrafficHistory(helper)
    helper.appear()
    history.allUsers = True

    def answer(more):
        (*_, (options, read)) = [(o, ok) for m, o, ok in helper.calls
                                 if m == "QueryProfileSwitches"]  # fmt: skip
        assert (options["limit"], options["all_users"]) == (FLOWS_LIMIT, True)
        read({"switches": [a_switch(n, "Work") for n in range(FLOWS_LIMIT, 0, -1)],
              "more": more})  # fmt: skip

    answer(more=True)
    assert (history.switches.count, history.switchesTruncated) == (FLOWS_LIMIT, True)
    history.refresh()
    answer(more=False)
    assert not history.switchesTruncated
