"""The prompt window against a real helper: a program connects, the user clicks Deny."""

import json
import os
import subprocess
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
from tests.fixtures.dns_server import dns_server
from tests.fixtures.helper import running_helper
from tests.fixtures.qml import click, screenshot
from tests.fixtures.traffic import CHECKOUT, as_user, recorder, start_client
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


def test_the_first_prompt_names_the_host_the_program_looked_up(
    system_bus, polkitd, netns, prompt_window, qtbot, tmp_path
):
    """The lookup goes to this computer's DNS server (the built-in rule lets it), so the
    one prompt is for the connection itself, by name; "this domain" offers its domain."""
    polkitd(grant=[ACTION_ANSWER_PROMPT, ACTION_MONITOR])
    resolv_conf = tmp_path / "resolv.conf"
    resolv_conf.write_text(f"nameserver {netns.peer_v4}\n")
    names = {"www.example.org": netns.peer_v4}
    with (
        dns_server(netns.peer, netns.peer_v4, names),
        running_helper(system_bus, netns.host, tmp_path / "state", f"--resolv-conf={resolv_conf}"),
        recorder(netns.peer, (netns.peer_v4,), PORT),
    ):
        window, prompts = prompt_window()
        qtbot.waitUntil(lambda: prompts.registered, timeout=10_000)
        client = netns.host.popen(
            *as_user(NOBODY), sys.executable, "-m", "tests.fixtures.client", "tcp",
            "www.example.org", str(PORT),
            f"--resolver={netns.peer_v4}", "--timeout=20", stdout=subprocess.PIPE, cwd=CHECKOUT,
        )  # fmt: skip
        try:
            qtbot.waitUntil(lambda: prompts.count == 1, timeout=10_000)
            program = os.path.basename(os.path.realpath(sys.executable))
            heading = window.findChild(QObject, "promptHeading").property("text")
            assert heading == f"{program} wants to connect to www.example.org"
            destination = window.findChild(QObject, "promptDestination").property("text")
            assert destination == f"www.example.org ({netns.peer_v4}), port {PORT} TCP"
            scopes = window.findChild(QObject, "scopeBox")
            assert scopes.property("model")[1]["text"] == "This domain (example.org)"
            screenshot(window, "prompt")
            click(window, window.findChild(QObject, "allowButton"))
            assert json.loads(client.communicate(timeout=20)[0])["result"] == "connected"
        finally:
            client.kill()
            client.wait()


def test_a_program_that_stops_waiting_is_said_so_and_the_answer_still_makes_the_rule(
    system_bus, polkitd, helper, netns, prompt_window, qtbot
):
    """The program gives up after 1 s (its connect times out, it exits): the prompt stays
    and says so; deny forever then refuses its next attempt without asking."""
    polkitd(grant=[ACTION_ANSWER_PROMPT, ACTION_MONITOR])
    window, prompts = prompt_window()
    qtbot.waitUntil(lambda: prompts.registered, timeout=10_000)
    with recorder(netns.peer, (netns.peer_v4,), PORT) as servers:
        impatient = start_client(netns.host, "tcp", netns.peer_v4, PORT, 1, uid=NOBODY)
        qtbot.waitUntil(lambda: prompts.count == 1, timeout=10_000)
        notice = window.findChild(QObject, "promptGaveUp")
        assert not notice.property("visible")
        assert json.loads(impatient.communicate(timeout=10)[0])["result"] == "timeout"
        qtbot.waitUntil(lambda: notice.property("visible"), timeout=5_000)
        assert "stopped waiting" in notice.property("text")
        root = ApiClient(system_bus, uid=0)
        assert root.call("GetStatus")["counters"]["held_packets"] == 0, "nothing held for it"

        window.findChild(QObject, "lifetimeBox").setProperty("currentIndex", 3)  # forever
        click(window, window.findChild(QObject, "denyButton"))
        qtbot.waitUntil(lambda: prompts.count == 0, timeout=5_000)
        again = start_client(netns.host, "tcp", netns.peer_v4, PORT, 5, uid=NOBODY)
        assert json.loads(again.communicate(timeout=20)[0])["result"] == "refused"
        assert prompts.count == 0 and servers.tcp_accepts == 0
    (rule,) = root.call("ListRules")
    assert (rule["action"], rule["destination"]) == ("deny", netns.peer_v4)
    root.close()


def test_a_script_is_shown_as_script_via_interpreter():
    row = prompt_row({"id": 7, "exe": "/usr/bin/python3.13", "script": "/home/ada/sync.py"})
    assert (row["program"], row["script"]) == ("sync.py via python3.13", "/home/ada/sync.py")
    assert prompt_row({"id": 8, "exe": "/usr/bin/curl"})["program"] == "curl"
