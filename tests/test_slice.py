"""The first vertical slice: helper on the system bus, polkit, and the app's window."""

import os
import subprocess
import sys

import dbus
import pytest
from PySide6.QtGui import QIcon

from netwarden.client.helper_state import HelperState
from netwarden.main import load_main_window
from netwarden.models.prompts import PromptModel
from netwarden.models.rules import RulesModel
from netwarden.models.settings import SettingsModel
from netwarden_common.api import (
    ACTION_ANSWER_PROMPT,
    ACTION_MONITOR,
    BUS_NAME,
    INTERFACE,
    OBJECT_PATH,
)
from netwarden_common.dbus_values import dictionary
from netwarden_helper import __version__
from tests.fixtures.api import ApiClient, own_rule
from tests.fixtures.helper import helper_command, helper_environment, running_helper
from tests.fixtures.processes import wait_for
from tests.fixtures.qml import screenshot


def _get_status(bus):
    connection = bus.connect()
    try:
        helper = dbus.Interface(connection.get_object(BUS_NAME, OBJECT_PATH), INTERFACE)
        return helper.GetStatus()
    finally:
        connection.close()


def test_get_status_when_polkit_grants(system_bus, polkitd, helper):
    polkitd(grant=[ACTION_MONITOR])
    status = _get_status(system_bus)
    assert status["version"] == __version__
    assert status["uptime"] >= 0


def test_get_status_refused_when_polkit_denies(system_bus, polkitd, helper):
    polkitd(deny=[ACTION_MONITOR])
    with pytest.raises(dbus.DBusException) as error:
        _get_status(system_bus)
    assert error.value.get_dbus_name() == f"{INTERFACE}.Error.NotAuthorized"


def test_get_status_refused_without_polkitd(system_bus, helper):
    with pytest.raises(dbus.DBusException) as error:
        _get_status(system_bus)
    assert error.value.get_dbus_name() == f"{INTERFACE}.Error.NotAuthorized"
    assert "polkit could not be asked" in error.value.get_dbus_message()
    assert helper.poll() is None, "the helper must keep serving"


def test_second_helper_refuses_to_start_and_leaves_the_first_alone(
    system_bus, netns, helper, tmp_path
):
    def installed_queue_rules():
        return netns.host.run("iptables-save").stdout.count("NFQUEUE")

    wait_for(lambda: installed_queue_rules() > 0, 10, "the first helper's netfilter rules")
    before = installed_queue_rules()
    second = netns.host.run(
        *helper_command(tmp_path / "second"), check=False, env=helper_environment(system_bus)
    )
    assert second.returncode == 1
    assert "already owns" in second.stderr
    assert installed_queue_rules() == before


@pytest.fixture
def main_window(qml_engine, qtbot, app_client):
    def open_window():
        state = HelperState(app_client(), parent=qml_engine)
        load_main_window(qml_engine, state)
        (window,) = qml_engine.rootObjects()
        window.show()
        qtbot.waitExposed(window)
        return window, state

    return open_window


def _label(window, name):
    from PySide6.QtCore import QObject

    return window.findChild(QObject, name)


def test_app_window_shows_running_helper(system_bus, polkitd, helper, main_window, qtbot):
    polkitd(grant=[ACTION_MONITOR])
    window, state = main_window()
    qtbot.waitUntil(lambda: state.state == "running", timeout=10_000)
    assert _label(window, "helperVersionLabel").property("text") == __version__
    assert _label(window, "helperProblem").property("visible") is False
    # A helper started by `ip netns exec` sees no cgroup2 mount: /proc, and it says why.
    assert (
        _label(window, "helperAttribution").property("text").startswith("best effort, from /proc (")
    )
    assert (
        _label(window, "helperKernelVerdicts")
        .property("text")
        .startswith("off (no eBPF data plane")
    )
    # the window's and the sidebar's icon is Netwarden's own, also from the checkout
    assert not QIcon.fromTheme("io.github.netwarden").isNull()
    screenshot(window, "status-running")


def test_app_window_says_when_helper_is_absent(system_bus, main_window, qtbot):
    window, state = main_window()
    qtbot.waitUntil(lambda: state.state == "absent", timeout=10_000)
    problem = _label(window, "helperProblem")
    assert problem.property("visible") is True
    assert "not running" in problem.property("text")
    screenshot(window, "status-absent")


def test_app_window_says_when_polkit_denies(system_bus, polkitd, helper, main_window, qtbot):
    polkitd(deny=[ACTION_MONITOR])
    window, state = main_window()
    qtbot.waitUntil(lambda: state.state == "denied", timeout=10_000)
    assert "not allowed" in _label(window, "helperProblem").property("text")


def test_app_notices_the_helper_stopping(system_bus, polkitd, netns, tmp_path, main_window, qtbot):
    polkitd(grant=[ACTION_MONITOR])
    with running_helper(system_bus, netns.host, tmp_path / "state"):
        window, state = main_window()
        qtbot.waitUntil(lambda: state.state == "running", timeout=10_000)
    qtbot.waitUntil(lambda: state.state == "absent", timeout=10_000)
    assert _label(window, "helperProblem").property("visible") is True


def test_the_models_let_go_when_the_helper_stops_and_load_again_when_it_is_back(
    system_bus, polkitd, netns, tmp_path, app_client, qapp, qtbot
):
    polkitd(grant=[ACTION_MONITOR, ACTION_ANSWER_PROMPT])
    client = app_client()
    with running_helper(system_bus, netns.host, tmp_path / "state"):
        root = ApiClient(system_bus, uid=0)
        root.call("AddRule", dictionary(own_rule()))
        root.call("SetSettings", dictionary({"prompt_timeout": 90}))
        root.close()
        rules, prompts, settings = RulesModel(client), PromptModel(client), SettingsModel(client)
        qtbot.waitUntil(lambda: rules.count == 1 and prompts.registered and settings.loaded,
                        timeout=10_000)  # fmt: skip
    qtbot.waitUntil(lambda: rules.count == 0 and not prompts.registered, timeout=10_000)
    assert settings.promptTimeout == 90, "the last values stay on the Settings page"

    with running_helper(system_bus, netns.host, tmp_path / "state"):
        qtbot.waitUntil(lambda: rules.count == 1 and prompts.registered, timeout=10_000)
        assert rules.get(0)["exe"] == "/usr/bin/curl"


def test_the_app_says_plainly_when_there_is_no_system_bus():
    app = subprocess.run(
        [sys.executable, "-m", "netwarden"],
        env={**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent/bus",
             "QT_QPA_PLATFORM": "offscreen"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert app.returncode == 1
    assert app.stderr.startswith("netwarden: cannot reach the system bus"), app.stderr
