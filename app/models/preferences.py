"""`Preferences`: this user's choices for the app itself, apart from the helper's
settings: pin new rules to the binary, desktop notifications, start at login.

They need no administrator and apply at once. They are kept in
`$XDG_CONFIG_HOME/netwarden/app.conf` (an ini file, replaced whole, mode 0600); a file
that cannot be read, or a value that is not `true`/`false`, reads as the default and is
logged once, and the next change writes a good file. "Start at login" is the autostart
entry `$XDG_CONFIG_HOME/autostart/io.github.netwarden.desktop` (XDG Autostart, read by
Plasma and GNOME), which starts the app in its tray.
"""

import configparser
import logging
import os
import shutil
from pathlib import Path

from PySide6.QtCore import Property, QObject, Signal, Slot
from PySide6.QtQml import QmlElement, QmlUncreatable

from netwarden_common.files import write_private

QML_IMPORT_NAME = "Netwarden.Backend"
QML_IMPORT_MAJOR_VERSION = 1

APP_ID = "io.github.netwarden"
SECTION = "app"
DEFAULTS = {"pin_by_default": True, "notifications": True}

log = logging.getLogger(__name__)


def config_home() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")


def autostart_entry(command: str) -> str:
    """The autostart desktop file that starts `command` in the tray at login."""
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Name=Netwarden\n"
        "Comment=Start Netwarden in the tray to ask about new connections\n"
        f"Exec={command} --hidden\n"
        f"Icon={APP_ID}\n"
        "NoDisplay=true\n"
        "X-GNOME-Autostart-enabled=true\n"
    )


def read_choices(path: Path) -> dict[str, bool]:
    """The stored choices, each one that is missing or garbled as its default."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as exc:
        log.warning("%s cannot be read, using the defaults: %s", path, str(exc).splitlines()[0])
        return dict(DEFAULTS)
    stored = parser[SECTION] if parser.has_section(SECTION) else {}
    choices = dict(DEFAULTS)
    for name in DEFAULTS:
        value = stored.get(name)
        if value in ("true", "false"):
            choices[name] = value == "true"
        elif value is not None:
            log.warning("%s: %s = %r is not true or false, using %s", path, name, value[:40],
                        DEFAULTS[name])  # fmt: skip
    return choices


@QmlElement
@QmlUncreatable("Preferences is made by the app")
class Preferences(QObject):
    """This user's choices for the app, stored as soon as they change."""

    changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._path = config_home() / "netwarden" / "app.conf"
        self._autostart = config_home() / "autostart" / f"{APP_ID}.desktop"
        self._choices = read_choices(self._path)

    @Property(bool, notify=changed)
    def pinByDefault(self) -> bool:
        """Whether an answer's rule pins the program's binary unless the user says not."""
        return self._choices["pin_by_default"]

    @Property(bool, notify=changed)
    def notifications(self) -> bool:
        """Whether missed prompts and alerts are shown as desktop notifications."""
        return self._choices["notifications"]

    @Property(bool, notify=changed)
    def startAtLogin(self) -> bool:
        return self._autostart.exists()

    @Slot(bool)
    def setPinByDefault(self, on: bool) -> None:
        self._choose("pin_by_default", on)

    @Slot(bool)
    def setNotifications(self, on: bool) -> None:
        self._choose("notifications", on)

    @Slot(bool)
    def setStartAtLogin(self, on: bool) -> None:
        try:
            if on:
                command = shutil.which("netwarden") or "netwarden"
                self._autostart.parent.mkdir(parents=True, exist_ok=True)
                write_private(self._autostart, autostart_entry(command).encode())
            else:
                self._autostart.unlink(missing_ok=True)
        except OSError as exc:  # the switch then shows what is on disk
            log.warning("cannot change %s: %s", self._autostart, exc.strerror)
        self.changed.emit()

    def _choose(self, name: str, on: bool) -> None:
        self._choices[name] = bool(on)
        lines = "".join(f"{k} = {'true' if v else 'false'}\n" for k, v in self._choices.items())
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            write_private(self._path, f"[{SECTION}]\n{lines}".encode())
        except OSError as exc:  # the choice still applies for this run
            log.warning("cannot keep the app's preferences in %s: %s", self._path,
                        exc.strerror)  # fmt: skip
        self.changed.emit()
