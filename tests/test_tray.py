"""The tray icon's state and menu against a real helper: pausing prompts lets the helper
apply the default action at once; resuming holds connections for an answer again; Silent
Mode from the menu allows unasked and shows in the icon."""

import json

from PySide6.QtCore import QMetaObject, QObject
from PySide6.QtWidgets import QSystemTrayIcon

from netwarden.client.helper_state import HelperState
from netwarden.desktop.tray import Tray
from netwarden.main import load_main_window, show_main_window
from netwarden.models.prompts import PromptModel
from netwarden.models.settings import SettingsModel
from netwarden_common.api import ACTION_ANSWER_PROMPT, ACTION_MONITOR, ACTION_SETTINGS
from tests.fixtures.traffic import recorder, start_client
from tests.fixtures.users import NOBODY

PORT = 8080


def test_pause_and_resume_from_the_tray_menu(
    system_bus, polkitd, helper, netns, app_client, qapp, qtbot
):
    polkitd(grant=[ACTION_ANSWER_PROMPT, ACTION_MONITOR])
    client = app_client()
    state, prompts, settings = HelperState(client), PromptModel(client), SettingsModel(client)
    opened = []
    tray = Tray(state, prompts, settings, lambda: opened.append(True), lambda: None)
    qtbot.waitUntil(lambda: prompts.registered and tray.state == "active", timeout=10_000)
    assert tray.icon.toolTip() == "Netwarden: active"

    tray.open_action.trigger()
    assert opened == [True]

    tray.pause_action.trigger()  # the user picks "Pause prompts"
    assert tray.state == "paused" and not prompts.registered
    assert tray.icon.toolTip() == "Netwarden: prompts paused"
    with recorder(netns.peer, (netns.peer_v4,), PORT):
        client = start_client(netns.host, "tcp", netns.peer_v4, PORT, 20, uid=NOBODY)
        outcome = json.loads(client.communicate(timeout=30)[0])
        assert outcome["result"] == "connected" and outcome["elapsed"] < 2, "not held"

        tray.pause_action.trigger()  # resume
        qtbot.waitUntil(lambda: prompts.registered, timeout=10_000)
        held = start_client(netns.host, "tcp", netns.peer_v4, PORT, 20, uid=NOBODY)
        qtbot.waitUntil(lambda: prompts.count == 1, timeout=10_000)
        assert tray.icon.toolTip() == "Netwarden: active, 1 prompt waiting"
        prompts.answer(prompts.get(0)["promptId"], "allow", "host", "once")
        assert json.loads(held.communicate(timeout=30)[0])["result"] == "connected"


def test_silent_mode_from_the_tray_menu_and_its_icon(
    system_bus, polkitd, helper, netns, app_client, root, qapp, qtbot
):
    polkitd(grant=[ACTION_ANSWER_PROMPT, ACTION_MONITOR, ACTION_SETTINGS])
    client = app_client()
    state, prompts, settings = HelperState(client), PromptModel(client), SettingsModel(client)
    tray = Tray(state, prompts, settings, lambda: None, lambda: None)
    qtbot.waitUntil(lambda: prompts.registered and settings.loaded, timeout=10_000)
    tray.silent_action.trigger()  # the user picks "Silent Mode (allow without asking)"
    qtbot.waitUntil(lambda: tray.state == "silent", timeout=10_000)
    assert root.call("GetSettings")["silent_mode"] == "allow"
    assert tray.icon.toolTip() == "Netwarden: Silent Mode" and tray.silent_action.isChecked()
    with recorder(netns.peer, (netns.peer_v4,), PORT):
        client = start_client(netns.host, "tcp", netns.peer_v4, PORT, 20, uid=NOBODY)
        outcome = json.loads(client.communicate(timeout=30)[0])
    assert outcome["result"] == "connected" and prompts.count == 0, "allowed unasked"
    tray.silent_action.trigger()
    qtbot.waitUntil(lambda: tray.state == "active", timeout=10_000)
    assert root.call("GetSettings")["silent_mode"] == "off"


def test_the_tray_says_when_the_helper_is_not_running(system_bus, app_client, qapp, qtbot):
    client = app_client()
    state, prompts = HelperState(client), PromptModel(client)
    tray = Tray(state, prompts, SettingsModel(client), lambda: None, lambda: None)
    qtbot.waitUntil(lambda: state.state != "connecting", timeout=10_000)
    assert tray.state == "disconnected"
    assert tray.icon.toolTip() == "Netwarden: helper not running"


def test_without_a_tray_the_window_opens_offers_pause_and_quit_and_closing_it_quits(
    system_bus, polkitd, helper, app_client, qml_engine, qapp, qtbot
):
    """GNOME without the AppIndicator extension: no StatusNotifierItem host (as here,
    offscreen with no session bus), so nothing may hide in a tray nobody sees."""
    polkitd(grant=[ACTION_ANSWER_PROMPT, ACTION_MONITOR])
    assert not QSystemTrayIcon.isSystemTrayAvailable()
    client = app_client()
    state, prompts = HelperState(client, parent=qml_engine), PromptModel(client, parent=qml_engine)
    window = load_main_window(qml_engine, state, {"prompts": prompts})
    quits = qapp.quitOnLastWindowClosed()
    try:
        show_main_window(qapp, window, hidden=True)  # netwarden --hidden, as at login
        assert window.isVisible(), "no tray to start in: the window opens"
        assert qapp.quitOnLastWindowClosed(), "closing the window quits, not vanishes"
    finally:
        qapp.setQuitOnLastWindowClosed(quits)
    qtbot.waitUntil(lambda: prompts.registered, timeout=10_000)
    quit_action = window.findChild(QObject, "quitAction")
    assert quit_action.property("visible") and quit_action.property("text") == (
        "Quit (no more prompts)")  # fmt: skip
    pause = window.findChild(QObject, "pausePromptsAction")
    assert pause.property("visible")
    QMetaObject.invokeMethod(pause, "trigger")  # the user picks "Pause Prompts"
    qtbot.waitUntil(lambda: prompts.paused and not prompts.registered, timeout=10_000)
    assert pause.property("checked")
    QMetaObject.invokeMethod(pause, "trigger")  # and resumes
    qtbot.waitUntil(lambda: prompts.registered, timeout=10_000)
