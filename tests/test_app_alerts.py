"""The Alerts page against a real helper: a pinned program changes on disk, the user
sees both hashes and trusts the new binary."""

import os
import shutil

from netwarden.main import qml_import_dir
from netwarden.models.alerts import AlertModel
from netwarden.models.prompts import PromptModel
from netwarden_common.api import ACTION_ANSWER_PROMPT, ACTION_MANAGE_OWN_RULES, ACTION_MONITOR
from netwarden_common.dbus_values import dictionary
from tests.fixtures.api import ApiClient
from tests.fixtures.binaries import sha256
from tests.fixtures.qml import click, find_item, screenshot, text_of
from tests.fixtures.users import NOBODY

WINDOW = b"""
import QtQuick
import org.kde.kirigami as Kirigami
import Netwarden
Kirigami.ApplicationWindow {
    id: root
    required property var alerts
    width: 900
    height: 640
    visible: true
    pageStack.initialPage: AlertsPage { alerts: root.alerts }
}
"""


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
    qml_engine.addImportPath(os.fspath(qml_import_dir()))
    qml_engine.setInitialProperties({"alerts": alerts})
    qml_engine.loadData(WINDOW)
    window = qml_engine.rootObjects()[-1]
    qtbot.waitUntil(lambda: prompts.registered, timeout=10_000)

    with open(program, "ab") as file:
        file.write(b"\0changed")
    qtbot.waitUntil(lambda: alerts.rowCount() == 1, timeout=10_000)
    name = f"alert-{alerts.get_id(0)}"
    qtbot.waitUntil(lambda: find_item(window.contentItem(), name) is not None, timeout=5_000)
    card = find_item(window.contentItem(), name)
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
