"""A program's name and icon in the Network Monitor and History: from the desktop file
that runs it, never from one that merely starts a shell or an interpreter."""

import pytest

from netwarden.models import programs


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
