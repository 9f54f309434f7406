"""What to call a program and which icon to show: from its desktop file when one runs it.

Desktop files are read once from the XDG data folders (`applications/`); one whose
`Exec` (or `TryExec`) names the program's path or file name gives the program its
`Name` and `Icon`, unless that command is an interpreter or a launcher (`sh -c …`,
`python3 app.py`, `flatpak run …`): those run many programs, so no one app names them. A
flatpak app id is its own icon name. Anything else is named by its file name, with a
generic icon.
"""

import configparser
import os
import shlex
from functools import cache
from pathlib import Path

from netwarden_common.interpreters import interpreter_kind

GENERIC_ICON = "application-x-executable"
LAUNCHERS = {"env", "flatpak", "snap", "gtk-launch", "kioclient", "kioclient5", "xdg-open"}


def _data_dirs() -> list[Path]:
    home = os.environ.get("XDG_DATA_HOME", os.path.expanduser("~/.local/share"))
    system = os.environ.get("XDG_DATA_DIRS", "/usr/local/share:/usr/share")
    return [Path(home), *(Path(d) for d in system.split(":") if d)]


def _command(entry: configparser.SectionProxy) -> str:
    for key in ("TryExec", "Exec"):
        try:
            words = shlex.split(entry.get(key, ""))
        except ValueError:
            continue
        if words:
            command = words[0]
            name = os.path.basename(command)
            return "" if name in LAUNCHERS or interpreter_kind(name) else command
    return ""


@cache
def desktop_entries() -> dict[str, tuple[str, str]]:
    """Program path and file name -> (Name, Icon), from the installed desktop files."""
    found: dict[str, tuple[str, str]] = {}
    for folder in reversed(_data_dirs()):  # earlier folders take precedence
        for path in sorted((folder / "applications").glob("*.desktop")):
            parser = configparser.ConfigParser(interpolation=None, strict=False)
            try:
                parser.read(path, encoding="utf-8")
            except (configparser.Error, OSError, UnicodeDecodeError):
                continue
            if not parser.has_section("Desktop Entry"):
                continue
            entry = parser["Desktop Entry"]
            command = _command(entry)
            if not command or entry.get("NoDisplay", "false") == "true":
                continue
            value = (entry.get("Name", ""), entry.get("Icon", ""))
            found[command] = value
            found[os.path.basename(command)] = value
    return found


FORWARDED_ICON = "network-wired"


def forwarded_name(forwarded_from: str) -> str:
    """How forwarded traffic's source reads: "Forwarded from docker0 (172.17.0.2)"."""
    interface, _, source = forwarded_from.partition(" ")
    if interface == "*" and not source:
        return "Forwarded traffic"
    where = "any interface" if interface == "*" else interface
    return f"Forwarded from {where} ({source})" if source else f"Forwarded from {where}"


def identity(exe: str, flatpak: str = "", forwarded_from: str = "") -> tuple[str, str]:
    """(name, icon name) for the program `exe` (or flatpak app `flatpak`), or for the
    source of forwarded traffic."""
    if forwarded_from:
        return forwarded_name(forwarded_from), FORWARDED_ICON
    if flatpak:
        return flatpak.rsplit(".", 1)[-1], flatpak
    entries = desktop_entries()
    name, icon = entries.get(exe) or entries.get(os.path.basename(exe)) or ("", "")
    return name or os.path.basename(exe) or exe, icon or GENERIC_ICON
