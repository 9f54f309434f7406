"""The Alerts page against a real helper: a pinned program changes on disk, the user
sees both hashes and trusts the new binary; a program opens a packet socket, the user
sees who and blocks every connection it makes."""

import os
import shutil

from netwarden.client.helper_state import HelperState
from netwarden.main import qml_import_dir
from netwarden.models.alerts import AlertModel
from netwarden.models.prompts import PromptModel
from netwarden_common.api import (
    ACTION_ANSWER_PROMPT,
    ACTION_MANAGE_OWN_RULES,
    ACTION_MANAGE_RULES,
    ACTION_MONITOR,
)
from netwarden_common.dbus_values import dictionary
from tests.fixtures.api import ApiClient
from tests.fixtures.binaries import sha256
from tests.fixtures.frames import PYTHON, frame_sender
from tests.fixtures.qml import click, find_item, screenshot, text_of
from tests.fixtures.users import NOBODY

WINDOW = b"""
import QtQuick
import org.kde.kirigami as Kirigami
import Netwarden
Kirigami.ApplicationWindow {
    id: root
    required property var alerts
    required property var helper
    width: 900
    height: 640
    visible: true
    pageStack.initialPage: AlertsPage { alerts: root.alerts; helper: root.helper }
}
"""


def alerts_window(qml_engine, alerts: AlertModel, client):
    qml_engine.addImportPath(os.fspath(qml_import_dir()))
    helper = HelperState(client, parent=qml_engine)
    qml_engine.setInitialProperties({"alerts": alerts, "helper": helper})
    qml_engine.loadData(WINDOW)
    return qml_engine.rootObjects()[-1]


def shown_card(window, alerts: AlertModel, qtbot):
    name = f"alert-{alerts.get_id(0)}"
    qtbot.waitUntil(lambda: find_item(window.contentItem(), name) is not None, timeout=5_000)
    return find_item(window.contentItem(), name)


def test_a_changed_binary_shows_both_hashes_and_trusting_repins_the_rule(
    system_bus, polkitd, helper, qml_engine, app_client, tmp_path, qtbot
):
    polkitd(grant=[ACTION_MONITOR, ACTION_ANSWER_PROMPT, ACTION_MANAGE_OWN_RULES])
    program = tmp_path / "bin" / "fetcher"
    program.parent.mkdir()
    shutil.copyfile("/usr/bin/nc.openbsd", program)
    root = ApiClient(system_bus, uid=0)
    rule = root.call("AddRule", dictionary({"action": "allow", "exe": str(program),
                                            "sha256": sha256(program), "uid": NOBODY}))  # fmt: skip
    client = app_client()
    prompts = PromptModel(client, parent=qml_engine)  # the app is a prompt agent
    alerts = AlertModel(client, parent=qml_engine)
    window = alerts_window(qml_engine, alerts, client)
    qtbot.waitUntil(lambda: prompts.registered, timeout=10_000)

    with open(program, "ab") as file:
        file.write(b"\0changed")
    qtbot.waitUntil(lambda: alerts.rowCount() == 1, timeout=10_000)
    card = shown_card(window, alerts, qtbot)
    assert text_of(find_item(card, "newHash")) == sha256(program)
    assert text_of(find_item(card, "oldHash")) == rule["sha256"]
    assert alerts.openCount == 1
    screenshot(window, "alerts")

    click(window, find_item(card, "trustButton"))
    qtbot.waitUntil(lambda: alerts.openCount == 0, timeout=10_000)
    assert text_of(find_item(card, "alertState")) == "Trusted"
    stored = next(r for r in root.call("ListRules") if r["id"] == rule["id"])
    assert stored["sha256"] == sha256(program)
    root.close()


def test_a_packet_socket_names_the_program_and_blocking_refuses_its_connections(
    system_bus, polkitd, helper, netns, qml_engine, app_client, qtbot
):
    polkitd(grant=[ACTION_MONITOR, ACTION_ANSWER_PROMPT, ACTION_MANAGE_RULES])
    client = app_client()
    prompts = PromptModel(client, parent=qml_engine)
    alerts = AlertModel(client, parent=qml_engine)
    window = alerts_window(qml_engine, alerts, client)
    qtbot.waitUntil(lambda: prompts.registered, timeout=10_000)

    with frame_sender(netns, hold_s=5):
        qtbot.waitUntil(lambda: alerts.rowCount() == 1, timeout=5_000)
    card = shown_card(window, alerts, qtbot)
    assert text_of(find_item(card, "newHash")) == sha256(PYTHON)
    assert find_item(card, "oldHash").property("visible") is False
    assert "packet socket" in text_of(find_item(card, "alertHeading"))
    screenshot(window, "alerts-packet-socket")

    click(window, find_item(card, "blockButton"))
    qtbot.waitUntil(lambda: alerts.openCount == 0, timeout=10_000)
    assert text_of(find_item(card, "alertState")).startswith("Blocked: every connection")
    root = ApiClient(system_bus, uid=0)
    deny = [r for r in root.call("ListRules") if r["exe"] == PYTHON]
    assert [(r["action"], r["sha256"], r["priority"]) for r in deny] == [
        ("deny", sha256(PYTHON), 1000)
    ]
    root.close()
