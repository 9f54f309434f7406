"""The tray icon's state and menu against a real helper: pausing prompts lets the helper
apply the default action at once; resuming holds connections for an answer again."""

import json

from netwarden.client.helper_state import HelperState
from netwarden.desktop.tray import Tray
from netwarden.models.prompts import PromptModel
from netwarden_common.api import ACTION_ANSWER_PROMPT, ACTION_MONITOR
from tests.fixtures.traffic import recorder, start_client
from tests.fixtures.users import NOBODY

PORT = 8080


def test_pause_and_resume_from_the_tray_menu(
    system_bus, polkitd, helper, netns, app_client, qapp, qtbot
):
    polkitd(grant=[ACTION_ANSWER_PROMPT, ACTION_MONITOR])
    client = app_client()
    state, prompts = HelperState(client), PromptModel(client)
    opened = []
    tray = Tray(state, prompts, lambda: opened.append(True), lambda: None)
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


def test_the_tray_says_when_the_helper_is_not_running(system_bus, app_client, qapp, qtbot):
    client = app_client()
    state, prompts = HelperState(client), PromptModel(client)
    tray = Tray(state, prompts, lambda: None, lambda: None)
    qtbot.waitUntil(lambda: state.state != "connecting", timeout=10_000)
    assert tray.state == "disconnected"
    assert tray.icon.toolTip() == "Netwarden: helper not running"
