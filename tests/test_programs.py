"""A program's name and icon in the Network Monitor and History: from the desktop file
that runs it, never from one that merely starts a shell or an interpreter."""

import pytest

from netwarden.models import programs
from netwarden.models.alerts import alert_row
from netwarden.models.connections import program_row
from netwarden.models.prompts import prompt_row
from netwarden.models.rules import rule_program


@pytest.fixture
def applications(tmp_path, monkeypatch):
    folder = tmp_path / "share" / "applications"
    folder.mkdir(parents=True)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_DIRS", str(tmp_path / "share"))
    programs.desktop_entries.cache_clear()
    yield folder
    programs.desktop_entries.cache_clear()


def entry(folder, name, exec_line, icon):
    (folder / f"{name.lower()}.desktop").write_text(
        f"[Desktop Entry]\nType=Application\nName={name}\nIcon={icon}\nExec={exec_line}\n"
    )


def test_an_app_names_its_own_binary_but_not_the_shell_or_interpreter_it_starts(applications):
    entry(applications, "Firefox", "/usr/lib/firefox/firefox %u", "firefox")
    entry(applications, "Backup", "sh -c 'backup --now'", "backup")
    entry(applications, "Sync", "python3 /opt/sync/app.py", "sync")
    entry(applications, "Chat", "flatpak run org.example.Chat", "org.example.Chat")
    assert programs.identity("/usr/lib/firefox/firefox") == ("Firefox", "firefox")
    assert programs.identity("/usr/bin/sh") == ("sh", programs.GENERIC_ICON)
    assert programs.identity("/usr/bin/python3.13") == ("python3.13", programs.GENERIC_ICON)
    assert programs.identity("/usr/bin/flatpak") == ("flatpak", programs.GENERIC_ICON)
    assert programs.identity("", "org.example.Chat") == ("Chat", "org.example.Chat")


def test_every_page_names_a_program_the_same_way(applications):
    """Monitor, Rules, Alerts, the prompt and notifications: "Firefox", not "firefox"."""
    entry(applications, "Firefox", "/usr/lib/firefox/firefox %u", "firefox")
    exe = "/usr/lib/firefox/firefox"
    flows = [{"exe": exe, "uid": 1000, "verdict": "allow", "destination": "192.0.2.2"}]
    assert program_row(exe, 1000, flows, (0, 0))["program"] == "Firefox"
    assert rule_program({"exe": exe}) == "Firefox"
    assert prompt_row({"id": 1, "exe": exe})["program"] == "Firefox"
    assert alert_row({"id": 1, "exe": exe, "uid": -1})["program"] == "Firefox"
