"""The main window's pages against a real helper in a netns, real dbus-daemon and polkitd,
real traffic: Rules, Network Monitor, History and Settings, driven as a user would."""

import json
import os
import re
import sys

import pytest
from PySide6.QtCore import QMetaObject, QObject, QPointF, Qt, QUrl
from PySide6.QtGraphs import QLineSeries
from PySide6.QtTest import QTest

from netwarden.client.helper_state import HelperState
from netwarden.main import load_main_window, open_prompt_window, page_models
from netwarden.models.connections import REFRESH_MS
from netwarden.models.prompts import PromptModel
from netwarden_common.api import (
    ACTION_ANSWER_PROMPT,
    ACTION_MANAGE_OWN_RULES,
    ACTION_MANAGE_RULES,
    ACTION_MONITOR,
    ACTION_MONITOR_ALL,
    ACTION_SETTINGS,
)
from netwarden_common.dbus_values import dictionary
from tests.fixtures.qml import click, find_all, find_item, screenshot, text_of
from tests.fixtures.traffic import bulk_server, recorder, run_client, start_client, start_fetch
from tests.fixtures.users import NOBODY

PORT = 8080
SIZE = 2_000_000
PROGRAM = os.path.basename(os.path.realpath(sys.executable))  # python3.13


# -- driving the window ----------------------------------------------------------------


def type_text(window, text):
    """Type `text` (ASCII) into the focused item, key by key."""
    for char in text:
        QTest.keyClick(window, Qt.Key(ord(char.upper())))


def type_into(window, field, text):
    """Click into the text field inside form delegate `field`, select all, type `text`."""
    (editor,) = find_all(field, "item => /^(QQuick)?TextField/.test(String(item))")
    click(window, editor)
    QTest.keySequence(window, "Ctrl+A")
    QTest.keyClick(window, Qt.Key.Key_Delete)
    type_text(window, text)


def trigger(window, action_name):
    """Trigger the window's action `action_name` (what a click on it in the sidebar does)."""
    action = window.findChild(QObject, action_name)
    assert action is not None, action_name
    assert QMetaObject.invokeMethod(action, "trigger")


def shown_top_down(item, name):
    """The texts of the visible items called `name` under `item`, from the top down."""
    found = find_all(item, f"i => i.objectName === {json.dumps(name)} && i.visible")
    found.sort(key=lambda i: i.mapToScene(QPointF(0, 0)).y())
    return [text_of(i) for i in found]


def save_screenshot(window, name):
    """Save the window as test-artifacts/`name`.png (`make screenshots` copies it into
    docs/screenshots/)."""
    QTest.qWait(500)  # the desktop style paints its controls a moment later
    screenshot(window, name)


@pytest.fixture
def main_window(qml_engine, app_client, qtbot):
    """The app's main window with all its pages' models, connected as nobody."""

    def open_window(page):
        client = app_client()
        state = HelperState(client, parent=qml_engine)
        models = page_models(client, qml_engine)
        window = load_main_window(qml_engine, state, models)
        window.show()
        qtbot.waitExposed(window)
        qtbot.waitUntil(lambda: state.state == "running", timeout=10_000)
        trigger(window, f"{page}Action")
        qtbot.waitUntil(lambda: window.property("currentPage") == page, timeout=5_000)
        opened.append(models)
        return window, models

    opened = []
    yield open_window
    for models in opened:  # no more calls on the connection the fixture closes
        while models["connections"].active:
            models["connections"].stopWatching()


def rule_by_id(root, rule_id):
    return next((r for r in root.call("ListRules") if r["id"] == rule_id), None)


# -- Rules -----------------------------------------------------------------------------


def test_rules_page_shows_toggles_validates_edits_deletes_and_undoes(
    polkitd, root, main_window, qtbot
):
    polkitd(grant=[ACTION_MONITOR, ACTION_MANAGE_OWN_RULES])
    window, models = main_window("rules")
    content = window.contentItem()
    curl = root.call("AddRule", dictionary({
        "action": "allow", "exe": "/usr/bin/curl", "destination": "example.org",
        "ports": "443", "protocol": "tcp", "uid": NOBODY}))  # fmt: skip
    row_name = f"rule-{curl['id']}"
    qtbot.waitUntil(lambda: find_item(content, row_name) is not None, timeout=10_000)
    row = find_item(content, row_name)
    assert text_of(find_item(row, "ruleProgram")) == "curl"
    assert text_of(find_item(row, "ruleDestination")) == "example.org"

    click(window, find_item(row, "enabledSwitch"))
    qtbot.waitUntil(lambda: not rule_by_id(root, curl["id"])["enabled"], timeout=10_000)

    trigger(window, "addRuleAction")
    qtbot.waitUntil(lambda: find_item(content, "ruleForm") is not None, timeout=5_000)
    form = find_item(content, "ruleForm")
    qtbot.waitUntil(lambda: form.property("visible"), timeout=5_000)
    qtbot.wait(600)  # the layer slides in
    type_into(window, find_item(form, "exeField"), "/usr/bin/wget")
    type_into(window, find_item(form, "destinationField"), "*.debian.org")
    ports = find_item(form, "portsField")
    type_into(window, ports, "99999")
    click(window, find_item(form, "saveRuleButton"))
    qtbot.waitUntil(lambda: ports.property("statusMessage") != "", timeout=10_000)
    assert ports.property("statusMessage") == "ports: ports run from 1 to 65535, low to high"
    assert len(root.call("ListRules")) == 1, "nothing was written"

    type_into(window, ports, "443")
    click(window, find_item(form, "saveRuleButton"))
    qtbot.waitUntil(lambda: len(root.call("ListRules")) == 2, timeout=10_000)
    wget = next(r for r in root.call("ListRules") if r["id"] != curl["id"])
    assert (wget["exe"], wget["destination"], wget["ports"], wget["uid"]) == (
        "/usr/bin/wget", "*.debian.org", "443", NOBODY)  # fmt: skip
    qtbot.waitUntil(lambda: find_item(content, "ruleForm") is None, timeout=5_000)
    qtbot.waitUntil(lambda: find_item(content, f"rule-{wget['id']}") is not None, timeout=5_000)

    rows = models["rules"]
    filter_field = find_item(content, "rulesFilter")
    click(window, filter_field)
    type_text(window, "wget")
    rule_list = find_item(content, "rulesList")
    qtbot.waitUntil(lambda: rule_list.property("count") == 1, timeout=5_000)
    QTest.keySequence(window, "Ctrl+A")
    QTest.keyClick(window, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: rule_list.property("count") == 2, timeout=5_000)
    click(window, find_item(content, "sort-program"))  # curl, then wget
    qtbot.waitUntil(lambda: shown_top_down(content, "ruleProgram") == ["curl", "wget"],
                    timeout=5_000)  # fmt: skip
    click(window, find_item(content, "sort-program"))  # descending
    qtbot.waitUntil(lambda: shown_top_down(content, "ruleProgram") == ["wget", "curl"],
                    timeout=5_000)  # fmt: skip
    save_screenshot(window, "rules")

    click(window, find_item(find_item(content, row_name), "deleteButton"))
    qtbot.waitUntil(lambda: rule_by_id(root, curl["id"]) is None, timeout=10_000)
    qtbot.waitUntil(lambda: find_item(content, row_name) is None, timeout=5_000)
    undo_message = find_item(content, "undoMessage")
    assert undo_message.property("visible")
    assert "allow curl to example.org port 443" in text_of(undo_message)
    (undo_button,) = find_all(undo_message, "i => i.action && i.action.objectName === "
                              "'undoAction' && i.visible && i.width > 0")  # fmt: skip
    click(window, undo_button)
    qtbot.waitUntil(lambda: len(root.call("ListRules")) == 2, timeout=10_000)
    again = next(r for r in root.call("ListRules") if r["id"] not in (curl["id"], wget["id"]))
    kept = ("action", "exe", "destination", "ports", "protocol", "uid", "enabled")
    assert {k: again[k] for k in kept} == {k: curl[k] for k in kept} | {"enabled": False}
    qtbot.waitUntil(lambda: rows.rowOf(again["id"]) >= 0, timeout=5_000)


# -- Network Monitor -------------------------------------------------------------------


def test_opening_the_rule_form_logs_no_qml_error(polkitd, root, main_window, qtbot, qtlog):
    """KDE's form components call i18n functions (i18ndc, ...) and the sort headings read
    their list: neither may fail while the page and its form are made."""
    polkitd(grant=[ACTION_MONITOR, ACTION_MANAGE_OWN_RULES])
    window, _models = main_window("rules")
    content = window.contentItem()
    trigger(window, "addRuleAction")
    qtbot.waitUntil(lambda: find_item(content, "ruleForm") is not None, timeout=5_000)
    QTest.qWait(300)
    errors = [r.message for r in qtlog.records if "Error" in r.message]
    assert errors == []


def test_a_rule_with_many_destinations_is_one_row_shown_compactly(
    polkitd, root, main_window, qtbot
):
    polkitd(grant=[ACTION_MONITOR])
    window, models = main_window("rules")
    content = window.contentItem()
    hosts = [f"h{i}.example.org" for i in range(50)]
    rule = {
        "action": "deny",
        "destination": ",".join(hosts),
        "ports": "53,80,443,8000-8080,9000,9100",
    }
    added = root.call("AddRule", dictionary(rule))
    qtbot.waitUntil(lambda: find_item(content, f"rule-{added['id']}") is not None, timeout=10_000)
    assert models["rules"].count == 1
    row = find_item(content, f"rule-{added['id']}")
    assert (
        text_of(find_item(row, "ruleDestination")) == "h0.example.org, h1.example.org and 48 more"
    )
    assert text_of(find_item(row, "rulePorts")) == "53, 80, 443, 8000-8080 and 2 more"
    tip = models["rules"].get(0)["destinationTip"].splitlines()  # the label's tooltip
    assert tip == [*hosts[:25], "and 25 more (open the rule for all)"]


def test_a_rules_hit_count_and_last_hit_refresh_while_it_decides_connections(
    polkitd, root, netns, main_window, qtbot
):
    """Nothing else changes: only the rule's own hits, told by the helper every 5 s."""
    polkitd(grant=[ACTION_MONITOR])
    window, _models = main_window("rules")
    content = window.contentItem()
    added = root.call("AddRule", dictionary({"action": "deny", "destination": netns.peer_v4}))
    qtbot.waitUntil(lambda: find_item(content, f"rule-{added['id']}") is not None, timeout=10_000)
    row = find_item(content, f"rule-{added['id']}")
    assert text_of(find_item(row, "ruleHits")) == "0"
    for _ in range(2):
        assert run_client(netns.host, "tcp", netns.peer_v4, PORT)["result"] == "refused"
    qtbot.waitUntil(lambda: text_of(find_item(row, "ruleHits")) == "2", timeout=10_000)
    assert text_of(find_item(row, "ruleLastHit")) != "never"
    (listed,) = root.call("ListRules")  # what `netwardenctl rules list` shows
    assert listed["hits"] == 2 and listed["last_hit"] > added["created"]


def test_the_administrators_rules_are_listed_but_locked(polkitd, root, main_window, qtbot, rules_d):
    polkitd(grant=[ACTION_MONITOR, ACTION_MANAGE_OWN_RULES])
    (rules_d / "10-corp.json").write_text(json.dumps({"format": "netwarden-rules", "version": 1,
        "rules": [{"action": "deny", "ports": "25"}]}))  # fmt: skip
    window, models = main_window("rules")
    content = window.contentItem()
    qtbot.waitUntil(lambda: models["rules"].count == 1, timeout=10_000)
    (admin,) = root.call("ListRules")
    row_name = f"rule-{admin['id']}"
    qtbot.waitUntil(lambda: find_item(content, row_name) is not None, timeout=5_000)
    row = find_item(content, row_name)
    owner = text_of(find_item(row, "ruleOwner"))
    assert owner == "set by your administrator (rules.d/10-corp.json)"
    switch = find_item(row, "enabledSwitch")
    assert not switch.property("enabled")
    click(window, switch)
    click(window, row)
    QTest.qWait(300)
    assert find_item(content, "ruleForm") is None, "no form to edit it"
    assert rule_by_id(root, admin["id"])["enabled"], "still enabled"


def test_monitor_shows_a_download_under_its_program_with_details_until_it_closes(
    polkitd, root, netns, main_window, qtbot
):
    polkitd(grant=[ACTION_MONITOR, ACTION_MONITOR_ALL])
    window, models = main_window("monitor")
    content = window.contentItem()
    row_name = f"program-{PROGRAM}"
    with bulk_server(netns.peer, netns.peer_v4, PORT, SIZE):
        fetch = start_fetch(netns.host, netns.peer_v4, PORT, SIZE)  # root's: not the user's
        try:
            assert json.loads(fetch.stdout.readline())["received"] == SIZE
            qtbot.wait(2 * REFRESH_MS)  # the user's own programs only, at first
            assert find_item(content, row_name) is None
            trigger(window, "monitorAllUsersAction")  # every user's: an administrator's view
            assert models["connections"].allUsers
            qtbot.waitUntil(lambda: find_item(content, row_name) is not None, timeout=10_000)
            row = find_item(content, row_name)
            shown = find_item(row, "programBytes")
            qtbot.waitUntil(lambda: bool(re.match(r"↓ 2\.\d MB", text_of(shown))), timeout=10_000)
            destinations = [
                text_of(i) for i in find_all(row, "i => i.objectName === 'destination'")
            ]
            assert destinations == [f"{netns.peer_v4}:{PORT}/tcp"]
            assert find_all(row, "i => i.verdict === 'allow' && i.visible")
            save_screenshot(window, "monitor")

            click(window, row)
            qtbot.waitUntil(lambda: find_item(content, "programPage") is not None, timeout=5_000)
            details = find_item(content, "programPage")
            assert text_of(find_item(details, "programPath")) == os.path.realpath(sys.executable)
            live = [c for c in root.call("ListConnections", dictionary({})) if c["port"] == PORT]
            known = next((c["sha256"] for c in live if c.get("sha256")), "")
            assert text_of(find_item(details, "programHash")) == (
                known or "not known: the helper hashes a program when a rule pins it"
            )
            flows = models["connections"].recentFlows
            qtbot.waitUntil(lambda: flows.count >= 1, timeout=15_000)
            assert flows.get(0)["destination"] == f"{netns.peer_v4}:{PORT}/tcp"
            save_screenshot(window, "monitor-program")
        finally:
            fetch.communicate("\n", timeout=10)
    qtbot.waitUntil(lambda: find_item(content, row_name) is None, timeout=15_000)


def test_monitor_names_a_containers_connection_by_where_it_came_from(
    polkitd, root, routed, main_window, qtbot
):
    """A connection this computer forwards (a container's) is shown apart from this
    computer's programs, under the interface and address it came from."""
    polkitd(grant=[ACTION_MONITOR, ACTION_MONITOR_ALL])
    window, models = main_window("monitor")
    trigger(window, "monitorAllUsersAction")
    content = window.contentItem()
    assert routed.connect() == "connected"
    row_name = "program-Forwarded from fw0 (198.51.100.2)"
    qtbot.waitUntil(lambda: find_item(content, row_name) is not None, timeout=10_000)
    click(window, find_item(content, row_name))
    qtbot.waitUntil(lambda: find_item(content, "programPage") is not None, timeout=5_000)
    details = find_item(content, "programPage")
    assert text_of(find_item(details, "forwardedFrom")).startswith("fw0 198.51.100.2: ")
    assert find_item(details, "programPath").property("visible") is False
    flows = models["connections"].recentFlows
    qtbot.waitUntil(lambda: flows.count >= 1, timeout=15_000)
    assert flows.get(0)["program"] == "Forwarded from fw0 (198.51.100.2)"


# -- Silent Mode -----------------------------------------------------------------------


def test_silent_mode_lists_what_would_have_asked_and_makes_a_rule_from_it(
    polkitd, root, netns, main_window, qtbot
):
    polkitd(grant=[ACTION_MONITOR, ACTION_SETTINGS, ACTION_MANAGE_OWN_RULES])
    window, models = main_window("silent")
    content = window.contentItem()
    page = find_item(content, "silentPage")
    qtbot.waitUntil(lambda: models["settings"].loaded, timeout=10_000)
    click(window, find_item(page, "silentSwitch"))
    qtbot.waitUntil(lambda: root.call("GetSettings")["silent_mode"] == "allow", timeout=10_000)
    with recorder(netns.peer, (netns.peer_v4,), PORT):
        client = start_client(netns.host, "tcp", netns.peer_v4, PORT, 20, uid=NOBODY)
        assert json.loads(client.communicate(timeout=30)[0])["result"] == "connected"
    row_name = f"silent-{PROGRAM}-{netns.peer_v4}:{PORT}/tcp"
    qtbot.waitUntil(lambda: find_item(content, row_name) is not None, timeout=10_000)
    row = find_item(content, row_name)
    assert text_of(find_item(row, "silentWhat")) == f"{PROGRAM} to {netns.peer_v4}:{PORT}/tcp"
    assert text_of(find_item(row, "silentWhen")).startswith("nobody · once, last ")
    save_screenshot(window, "silent")

    click(window, find_item(row, "silentDeny"))
    qtbot.waitUntil(lambda: find_item(content, row_name) is None, timeout=10_000)
    (rule,) = root.call("ListRules")
    assert (rule["action"], rule["destination"], rule["ports"], rule["uid"]) == (
        "deny", netns.peer_v4, str(PORT), NOBODY)  # fmt: skip
    assert rule["exe"] == os.path.realpath(sys.executable)
    click(window, find_item(page, "silentSwitch"))
    qtbot.waitUntil(lambda: root.call("GetSettings")["silent_mode"] == "off", timeout=10_000)


# -- History ---------------------------------------------------------------------------


def test_history_graphs_a_download_lists_its_program_and_exports_the_range(
    polkitd, root, netns, main_window, qtbot, tmp_path
):
    polkitd(grant=[ACTION_MONITOR, ACTION_MONITOR_ALL])
    with bulk_server(netns.peer, netns.peer_v4, PORT, SIZE):
        start_fetch(netns.host, netns.peer_v4, PORT, SIZE).communicate("\n", timeout=20)
    qtbot.waitUntil(lambda: sum(p[2] for p in root.call("TrafficSeries", dictionary({})))
                    >= SIZE, timeout=15_000)  # fmt: skip

    window, models = main_window("history")
    trigger(window, "historyAllUsersAction")  # the download was root's: every user's traffic
    content = window.contentItem()
    graph = find_item(content, "trafficGraph")
    received = graph.findChild(QLineSeries, "receivedSeries")
    qtbot.waitUntil(lambda: models["history"].unit == "MB", timeout=10_000)  # root's too
    qtbot.waitUntil(lambda: received.count() > 0, timeout=10_000)
    assert received.count() >= 60, "one point per minute of the hour, quiet ones too"
    peak = max(received.at(i).y() for i in range(received.count()))
    assert peak >= 2.0 and models["history"].unit == "MB"
    qtbot.waitUntil(lambda: any(name.startswith("python3") for name in
                                shown_top_down(content, "topName")), timeout=10_000)  # fmt: skip
    assert netns.peer_v4 in shown_top_down(content, "topName")
    save_screenshot(window, "history")

    click(window, find_item(content, "range-day"))
    # hourly points over the day, from the 3-hour tick before it to the one after now
    qtbot.waitUntil(lambda: 24 <= received.count() <= 30, timeout=10_000)

    page = find_item(content, "historyPage")
    dialog = page.findChild(QObject, "exportDialog")
    target = tmp_path / "range.csv"
    dialog.setProperty("selectedFile", QUrl.fromLocalFile(os.fspath(target)))  # typed in
    trigger(window, "exportAction")
    qtbot.waitUntil(lambda: dialog.property("visible"), timeout=5_000)
    assert QMetaObject.invokeMethod(dialog, "accept")
    message = find_item(content, "historyMessage")
    qtbot.waitUntil(lambda: message.property("visible"), timeout=10_000)
    assert text_of(message) == "1 connection written to range.csv"
    lines = target.read_text().splitlines()
    assert len(lines) == 2 and f"{netns.peer_v4}" in lines[1]


# -- A user's whole path ----------------------------------------------------------------


def test_deny_forever_from_the_prompt_then_the_rule_and_both_attempts_are_shown(
    polkitd, root, netns, main_window, qml_engine, app_client, qtbot
):
    polkitd(grant=[ACTION_MONITOR, ACTION_ANSWER_PROMPT, ACTION_MANAGE_OWN_RULES])
    window, _models = main_window("rules")
    content = window.contentItem()
    prompts = PromptModel(app_client(), parent=qml_engine)
    prompt = open_prompt_window(qml_engine, prompts)
    qtbot.waitUntil(lambda: prompts.registered, timeout=10_000)
    with recorder(netns.peer, (netns.peer_v4,), PORT) as servers:
        first = start_client(netns.host, "tcp", netns.peer_v4, PORT, 20, uid=NOBODY)
        qtbot.waitUntil(prompt.isVisible, timeout=10_000)
        heading = prompt.findChild(QObject, "promptHeading")
        assert text_of(heading) == f"{PROGRAM} wants to connect to {netns.peer_v4}"
        prompt.findChild(QObject, "lifetimeBox").setProperty("currentIndex", 3)  # forever
        assert prompt.findChild(QObject, "scopeBox").property("currentValue") == "host"
        click(prompt, prompt.findChild(QObject, "denyButton"))
        assert json.loads(first.communicate(timeout=10)[0])["result"] == "refused"

        qtbot.waitUntil(lambda: shown_top_down(content, "ruleProgram") == [PROGRAM],
                        timeout=10_000)  # fmt: skip
        assert shown_top_down(content, "ruleDestination") == [netns.peer_v4]

        again = start_client(netns.host, "tcp", netns.peer_v4, PORT, 5, uid=NOBODY)
        assert json.loads(again.communicate(timeout=20)[0])["result"] == "refused"
        assert prompts.count == 0 and not prompt.isVisible(), "no prompt the second time"
        assert servers.tcp_accepts == 0

    def recorded():
        return len(root.call("QueryHistory", dictionary({"limit": 10}))["flows"])

    qtbot.waitUntil(lambda: recorded() == 2, timeout=10_000)  # written within a second
    trigger(window, "historyAction")
    qtbot.waitUntil(lambda: window.property("currentPage") == "history", timeout=5_000)
    qtbot.waitUntil(lambda: len(shown_top_down(content, "flowDestination")) == 2,
                    timeout=10_000)  # fmt: skip
    rows = find_all(content, "i => i.objectName === 'historyFlow'")
    assert [(r.property("program"), r.property("verdict")) for r in rows] == [
        (PROGRAM, "deny"), (PROGRAM, "deny")]  # fmt: skip
    assert all(netns.peer_v4 in d for d in shown_top_down(content, "flowDestination"))


# -- Settings --------------------------------------------------------------------------


def change_prompt_timeout(window, content, seconds):
    page = find_item(content, "settingsPage")
    type_into(window, find_item(page, "promptTimeoutField"), str(seconds))
    click(window, find_item(page, "saveSettingsButton"))
    return page


def test_settings_page_stores_a_change(polkitd, root, main_window, qtbot):
    polkitd(grant=[ACTION_MONITOR, ACTION_SETTINGS])
    window, models = main_window("settings")
    content = window.contentItem()
    qtbot.waitUntil(lambda: models["settings"].loaded, timeout=10_000)
    page = change_prompt_timeout(window, content, 90)
    qtbot.waitUntil(lambda: root.call("GetSettings")["prompt_timeout"] == 90, timeout=10_000)
    qtbot.waitUntil(lambda: find_item(page, "settingsSaved").property("visible"), timeout=5_000)
    save_screenshot(window, "settings")


def test_a_change_made_elsewhere_shows_without_losing_an_edit_in_progress(
    polkitd, root, main_window, qtbot
):
    polkitd(grant=[ACTION_MONITOR, ACTION_SETTINGS])
    window, models = main_window("settings")
    content = window.contentItem()
    qtbot.waitUntil(lambda: models["settings"].loaded, timeout=10_000)
    page = find_item(content, "settingsPage")
    type_into(window, find_item(page, "promptTimeoutField"), "90")
    QTest.keyClick(window, Qt.Key.Key_Tab)  # the edit is done, not saved
    root.call("SetSettings", dictionary({"history_days": 7}))  # another administrator
    days = find_item(page, "historyDaysField")
    qtbot.waitUntil(lambda: days.property("value") == 7, timeout=10_000)
    assert find_item(page, "promptTimeoutField").property("value") == 90, "the edit stays"
    click(window, find_item(page, "saveSettingsButton"))
    qtbot.waitUntil(lambda: root.call("GetSettings")["prompt_timeout"] == 90, timeout=10_000)
    assert root.call("GetSettings")["history_days"] == 7


def test_forwarded_traffic_dns_rule_and_kernel_verdict_settings_show_and_store(
    polkitd, root, main_window, qtbot
):
    polkitd(grant=[ACTION_MONITOR, ACTION_SETTINGS])
    window, models = main_window("settings")
    qtbot.waitUntil(lambda: models["settings"].loaded, timeout=10_000)
    page = find_item(window.contentItem(), "settingsPage")
    field = find_item(page, "forwardedField")
    assert field.property("currentValue") == "allow"  # containers keep working
    root.call("SetSettings", dictionary({"forwarded": "ask"}))
    qtbot.waitUntil(lambda: field.property("currentValue") == "ask", timeout=10_000)
    field.setProperty("currentIndex", 2)  # Deny, as chosen in the list
    dns = find_item(page, "dnsToResolversField")
    assert dns.property("checked"), "the built-in DNS rule is on by default"
    click(window, dns)
    kernel = find_item(page, "kernelVerdictsField")
    assert kernel.property("checked"), "kernel verdicts are on by default"
    click(window, kernel)
    click(window, find_item(page, "saveSettingsButton"))
    qtbot.waitUntil(lambda: root.call("GetSettings")["forwarded"] == "deny", timeout=10_000)
    assert not root.call("GetSettings")["dns_to_resolvers"]
    assert not root.call("GetSettings")["kernel_verdicts"]


def test_this_apps_preferences_apply_at_once_without_an_administrator(
    polkitd, root, main_window, qtbot, tmp_path, monkeypatch
):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    polkitd(grant=[ACTION_MONITOR])  # no settings action: these are not the helper's
    window, models = main_window("settings")
    content = window.contentItem()
    qtbot.waitUntil(lambda: find_item(content, "startAtLoginField") is not None, timeout=5_000)
    click(window, find_item(content, "startAtLoginField"))
    entry = tmp_path / "autostart" / "io.github.netwarden.desktop"
    qtbot.waitUntil(entry.exists, timeout=5_000)
    click(window, find_item(content, "notificationsField"))
    qtbot.waitUntil(lambda: not models["preferences"].notifications, timeout=5_000)
    assert "notifications = false" in (tmp_path / "netwarden" / "app.conf").read_text()
    assert find_item(content, "settingsProblem").property("visible") is False


def test_settings_page_shows_a_refusal_plainly_and_keeps_the_stored_value(
    polkitd, root, main_window, qtbot
):
    polkitd(grant=[ACTION_MONITOR, ACTION_ANSWER_PROMPT])  # not the settings action
    window, models = main_window("settings")
    content = window.contentItem()
    qtbot.waitUntil(lambda: models["settings"].loaded, timeout=10_000)
    page = change_prompt_timeout(window, content, 90)
    problem = find_item(page, "settingsProblem")
    qtbot.waitUntil(lambda: problem.property("visible"), timeout=10_000)
    assert "io.github.netwarden.settings" in text_of(problem)
    assert root.call("GetSettings")["prompt_timeout"] == 60
    spin = find_item(page, "promptTimeoutField")
    assert spin.property("value") == 60, "the form shows the stored value again"


# -- Blocklists ------------------------------------------------------------------------


def test_blocklists_page_shows_each_lists_format_and_how_its_lines_were_counted(
    polkitd, root, main_window, qtbot, blocklists_dir
):
    polkitd(grant=[ACTION_MONITOR, ACTION_MANAGE_RULES])
    (blocklists_dir / "ads.txt").write_text(
        "[Adblock Plus 2.0]\n! a comment\n||ads.example^\n||wa.me^\n||t.example^$third-party\n"
        "example.org##.ad\n||bad name^\n"
    )
    (blocklists_dir / "cosmetic.txt").write_text("example.org##.ad\n")
    for name in ("ads.txt", "cosmetic.txt"):
        root.call("AddBlocklist", {"source": str(blocklists_dir / name)})
    qtbot.waitUntil(lambda: all(b.get("checked_at") for b in root.call("ListBlocklists")),
                    timeout=10_000)  # fmt: skip
    window, models = main_window("blocklists")
    content = window.contentItem()
    qtbot.waitUntil(lambda: len(shown_top_down(content, "blocklistBlocks")) == 2, timeout=10_000)
    assert shown_top_down(content, "blocklistBlocks") == [
        "2 names (adblock list)", "nothing yet: not read"]  # fmt: skip
    assert shown_top_down(content, "blocklistLines") == [
        "2 accepted, 4 ignored (2 comments, 2 other adblock rules), 1 rejected"]  # fmt: skip
    assert shown_top_down(content, "blocklistProblem") == [
        "no host names or networks in it (read as adblock: 0 accepted, 0 rejected, "
        "ignored: 1 adblock_rule)"]  # fmt: skip
    save_screenshot(window, "blocklists")

    # "Update now" shows its progress until the helper has read the lists again
    model, busy = models["blocklists"], []
    model.updatingChanged.connect(lambda: busy.append(model.updating))
    trigger(window, "updateBlocklists")
    assert model.updating and find_item(content, "blocklistsUpdating").property("visible")
    qtbot.waitUntil(lambda: busy == [True, False], timeout=10_000)
    assert not find_item(content, "blocklistsUpdating").property("visible")


def test_blocklists_page_counts_what_each_list_blocked_and_its_switch_turns_it_off(
    polkitd, root, netns, main_window, qtbot, blocklists_dir
):
    polkitd(grant=[ACTION_MONITOR, ACTION_MANAGE_RULES])
    (blocklists_dir / "peer.txt").write_text(f"{netns.peer_v4}/32\n")
    listed = root.call("AddBlocklist", {"source": str(blocklists_dir / "peer.txt")})
    qtbot.waitUntil(lambda: "updated_at" in root.call("ListBlocklists")[0], timeout=10_000)
    window, _models = main_window("blocklists")
    content = window.contentItem()
    qtbot.waitUntil(lambda: shown_top_down(content, "blocklistHits") == ["no connection yet"],
                    timeout=10_000)  # fmt: skip
    with recorder(netns.peer, (netns.peer_v4,), PORT):
        for _ in range(2):
            assert run_client(netns.host, "tcp", netns.peer_v4, PORT)["result"] == "refused"
        # told by the helper within seconds, shown in place
        qtbot.waitUntil(lambda: shown_top_down(content, "blocklistHits")[0].startswith(
            "2 connections, the last at "), timeout=10_000)  # fmt: skip
        card = find_item(content, f"blocklist-{listed['id']}")
        click(window, find_item(card, "blocklistSwitch"))
        qtbot.waitUntil(lambda: not root.call("ListBlocklists")[0]["enabled"], timeout=10_000)
        assert run_client(netns.host, "tcp", netns.peer_v4, PORT)["result"] == "connected"
        qtbot.waitUntil(lambda: not find_item(card, "blocklistSwitch").property("checked"),
                        timeout=5_000)  # fmt: skip
        click(window, find_item(card, "blocklistSwitch"))
        qtbot.waitUntil(lambda: bool(root.call("ListBlocklists")[0]["enabled"]), timeout=10_000)
        assert run_client(netns.host, "tcp", netns.peer_v4, PORT)["result"] == "refused"
    assert root.call("ListBlocklists")[0]["hits"] >= 2
