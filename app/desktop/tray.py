"""The tray icon (a StatusNotifierItem on Plasma, through Qt): state at a glance and a menu.

States: "active" (prompts are asked), "paused" (the user paused prompts: the helper
applies the default action), "silent" (Silent Mode: the helper allows or denies what no
rule covers without asking), "disconnected" (the helper is not running or refused this
user). The tooltip counts the prompts waiting and names the active profile. The menu
opens the window, switches the profile, turns Silent Mode on (allowing) or off, pauses or
resumes prompts, and quits; a profile switch the network made is shown as a message.
"""

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QActionGroup, QIcon
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from netwarden.client.helper_state import HelperState
from netwarden.models.profiles import ProfilesModel
from netwarden.models.prompts import PromptModel
from netwarden.models.settings import SettingsModel

ICONS = {"active": "security-high", "paused": "security-medium",
         "silent": "notifications-disabled", "disconnected": "security-low"}  # fmt: skip
WORDS = {"active": "active", "paused": "prompts paused", "silent": "Silent Mode",
         "disconnected": "helper not running"}  # fmt: skip


class Tray(QObject):
    """The tray icon and its menu, following the helper and the prompts."""

    stateChanged = Signal()

    def __init__(
        self,
        helper: HelperState,
        prompts: PromptModel,
        settings: SettingsModel,
        open_window: Callable[[], None],
        quit_app: Callable[[], None],
        parent: QObject | None = None,
        profiles: ProfilesModel | None = None,
    ) -> None:
        super().__init__(parent)
        self._helper = helper
        self._prompts = prompts
        self._settings = settings
        self._open_window = open_window
        self.icon = QSystemTrayIcon(self)
        self.menu = QMenu()
        self.open_action = QAction("&Open Netwarden", self.menu)
        self.open_action.triggered.connect(open_window)
        self.silent_action = QAction("&Silent Mode (allow without asking)", self.menu)
        self.silent_action.setCheckable(True)
        self.silent_action.triggered.connect(
            lambda on: settings.setSilentMode("allow" if on else "off")
        )
        self.pause_action = QAction("&Pause prompts", self.menu)
        self.pause_action.setCheckable(True)
        self.pause_action.toggled.connect(prompts.setPaused)
        self.quit_action = QAction("&Quit", self.menu)
        self.quit_action.triggered.connect(quit_app)
        self.profile_menu = QMenu("P&rofile", self.menu)
        self.menu.addAction(self.open_action)
        if profiles is not None:
            self.menu.addMenu(self.profile_menu)
            profiles.changed.connect(lambda: self._update_profiles(profiles))
            profiles.switched.connect(lambda text: self.icon.showMessage("Netwarden", text))
        self._profiles = profiles
        self.menu.addActions([self.silent_action, self.pause_action, self.quit_action])
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        for changed in (helper.changed, prompts.countChanged, prompts.pausedChanged,
                        settings.changed):  # fmt: skip
            changed.connect(self._update)
        self._update()
        self.icon.show()

    @property
    def state(self) -> str:
        if self._helper.state != "running":
            return "disconnected"
        if self._settings.silentMode != "off":
            return "silent"
        return "paused" if self._prompts.paused else "active"

    def tooltip(self) -> str:
        waiting = self._prompts.count
        text = f"Netwarden: {WORDS[self.state]}"
        if self._profiles is not None and self._profiles.active:
            text += f", profile {self._profiles.active}"
        return text + (
            f", {waiting} prompt{'s' if waiting != 1 else ''} waiting" if waiting else ""
        )

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:  # a plain click on the icon
            self._open_window()

    def _update_profiles(self, profiles: ProfilesModel) -> None:
        """One checkable entry per profile, and "No profile"; the active one checked."""
        self.profile_menu.clear()
        group = QActionGroup(self.profile_menu)
        for name in ["", *profiles.names]:
            action = QAction(name or "No profile", self.profile_menu)
            action.setCheckable(True)
            action.setChecked(name == profiles.active)
            action.triggered.connect(lambda _checked, chosen=name: profiles.use(chosen))
            group.addAction(action)
            self.profile_menu.addAction(action)
        self._update()

    def _update(self) -> None:
        self.icon.setIcon(QIcon.fromTheme(ICONS[self.state]))
        self.icon.setToolTip(self.tooltip())
        self.pause_action.setChecked(self._prompts.paused)
        self.silent_action.setChecked(self._settings.silentMode != "off")
        self.stateChanged.emit()
