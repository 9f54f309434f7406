"""The prompt window against a real helper: a program connects, the user clicks Deny."""

import json
import os
import sys

import pytest
from PySide6.QtCore import QObject, QPointF, Qt
from PySide6.QtGui import QCursor, QGuiApplication
from PySide6.QtTest import QTest

from netwarden.main import open_prompt_window
from netwarden.models.preferences import Preferences
from netwarden.models.prompts import PromptModel, prompt_row
from netwarden_common.api import ACTION_ANSWER_PROMPT, ACTION_MONITOR
from tests.fixtures.api import ApiClient
from tests.fixtures.qml import click, screenshot
from tests.fixtures.traffic import recorder, start_client
from tests.fixtures.users import NOBODY

PORT = 8080


@pytest.fixture
def prompt_window(qml_engine, app_client):
    def open_window(preferences=None):
        prompts = PromptModel(app_client(), parent=qml_engine)
        window = open_prompt_window(qml_engine, prompts, preferences)
        return window, prompts

    return open_window


def test_deny_forever_this_host_refuses_now_and_next_time(
    system_bus, polkitd, helper, netns, prompt_window, qtbot, tmp_path, monkeypatch
):
    polkitd(grant=[ACTION_ANSWER_PROMPT, ACTION_MONITOR])
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    preferences = Preferences()
    preferences.setPinByDefault(False)  # Settings: rules for any version of the program
    window, prompts = prompt_window(preferences)
    qtbot.waitUntil(lambda: prompts.registered, timeout=10_000)
    with recorder(netns.peer, (netns.peer_v4,), PORT) as servers:
        client = start_client(netns.host, "tcp", netns.peer_v4, PORT, 20, uid=NOBODY)
        qtbot.waitUntil(lambda: prompts.count == 1, timeout=10_000)
        qtbot.waitUntil(window.isVisible, timeout=5_000)
        no_focus = Qt.WindowType.WindowDoesNotAcceptFocus
        assert window.flags() & no_focus, "shown without taking the keyboard"
        assert window.screen() == QGuiApplication.screenAt(QCursor.pos()), "the pointer's screen"
        heading = window.findChild(QObject, "promptHeading")
        click_at = heading.mapToScene(QPointF(2, 2)).toPoint()
        QTest.mouseClick(window, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         click_at)  # fmt: skip
        qtbot.waitUntil(lambda: not window.flags() & no_focus, timeout=5_000)
        program = os.path.basename(os.path.realpath(sys.executable))
        assert window.findChild(QObject, "promptHeading").property("text") == (
            f"{program} wants to connect to {netns.peer_v4}")  # fmt: skip
        destination = window.findChild(QObject, "promptDestination").property("text")
        assert destination == f"{netns.peer_v4}, port {PORT} TCP"
        screenshot(window, "prompt")

        pin = window.findChild(QObject, "pinBox")
        assert not pin.property("checked") and not pin.property("enabled"), "once: no rule"
        window.findChild(QObject, "lifetimeBox").setProperty("currentIndex", 3)  # forever
        assert pin.property("enabled")
        click(window, window.findChild(QObject, "denyButton"))
        outcome = json.loads(client.communicate(timeout=10)[0])
        assert outcome["result"] == "refused"
        qtbot.waitUntil(lambda: prompts.count == 0, timeout=5_000)
        assert not window.isVisible()

        again = start_client(netns.host, "tcp", netns.peer_v4, PORT, 5, uid=NOBODY)
        assert json.loads(again.communicate(timeout=20)[0])["result"] == "refused"
        assert prompts.count == 0, "the rule decided the second attempt without a prompt"
        assert servers.tcp_accepts == 0

    root = ApiClient(system_bus, uid=0)
    (rule,) = root.call("ListRules")
    assert (rule["action"], rule["destination"], rule["uid"]) == ("deny", netns.peer_v4, NOBODY)
    assert not rule.get("sha256"), "not pinned, as the settings say"
    root.close()


def test_a_script_is_shown_as_script_via_interpreter():
    row = prompt_row({"id": 7, "exe": "/usr/bin/python3.13", "script": "/home/ada/sync.py"})
    assert (row["program"], row["script"]) == ("sync.py via python3.13", "/home/ada/sync.py")
    assert prompt_row({"id": 8, "exe": "/usr/bin/curl"})["program"] == "curl"
