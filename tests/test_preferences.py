"""The app's own preferences: stored at once, garbage read as the defaults, and start at
login as an XDG autostart entry that the desktop's validator accepts."""

import stat
import subprocess

import pytest

from netwarden.models.preferences import Preferences


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    return tmp_path


def test_choices_start_at_their_defaults_and_are_kept_for_the_next_start(config):
    first = Preferences()
    assert (first.pinByDefault, first.notifications, first.startAtLogin) == (True, True, False)
    first.setPinByDefault(False)
    first.setNotifications(False)
    again = Preferences()
    assert (again.pinByDefault, again.notifications) == (False, False)
    stored = config / "netwarden" / "app.conf"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert [p.name for p in stored.parent.iterdir()] == ["app.conf"], "no temporary left"


@pytest.mark.parametrize(
    "garbage",
    [
        b"\xff\xfe not text",
        b"no section at all\n",
        b"[app]\npin_by_default = maybe\nnotifications = 0\n",
        b"[app\n",
    ],
)
def test_a_garbled_file_reads_as_the_defaults_and_the_next_change_mends_it(config, garbage):
    stored = config / "netwarden" / "app.conf"
    stored.parent.mkdir()
    stored.write_bytes(garbage)
    preferences = Preferences()
    assert (preferences.pinByDefault, preferences.notifications) == (True, True)
    preferences.setNotifications(False)
    assert stored.read_text() == "[app]\npin_by_default = true\nnotifications = false\n"


def test_one_bad_value_is_named_and_the_good_one_kept(config, caplog):
    stored = config / "netwarden" / "app.conf"
    stored.parent.mkdir()
    stored.write_text("[app]\npin_by_default = maybe\nnotifications = false\n")
    preferences = Preferences()
    assert (preferences.pinByDefault, preferences.notifications) == (True, False)
    assert "pin_by_default = 'maybe' is not true or false" in caplog.text


def test_start_at_login_writes_a_valid_autostart_entry_and_removes_it(config):
    preferences = Preferences()
    preferences.setStartAtLogin(True)
    entry = config / "autostart" / "io.github.netwarden.desktop"
    assert preferences.startAtLogin and entry.is_file()
    lines = entry.read_text().splitlines()
    assert any(line.startswith("Exec=") and line.endswith(" --hidden") for line in lines)
    checked = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True,
                             text=True)  # fmt: skip
    assert checked.returncode == 0, checked.stdout
    preferences.setStartAtLogin(False)
    assert not entry.exists() and not Preferences().startAtLogin
