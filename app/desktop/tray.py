"""The tray icon (a StatusNotifierItem on Plasma, through Qt): state at a glance and a menu.

States: "active" (prompts are asked), "paused" (the user paused prompts: the helper
applies the default action), "disconnected" (the helper is not running or refused this
user). The tooltip counts the prompts waiting. The menu opens the window, pauses or
resumes prompts, and quits.
"""

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from netwarden.client.helper_state import HelperState
from netwarden.models.prompts import PromptModel

ICONS = {"active": "security-high", "paused": "security-medium", "disconnected": "security-low"}
WORDS = {"active": "active", "paused": "prompts paused", "disconnected": "helper not running"}


class Tray(QObject):
    """The tray icon and its menu, following the helper and the prompts."""

    stateChanged = Signal()

    def __init__(
        self,
        helper: HelperState,
        prompts: PromptModel,
        open_window: Callable[[], None],
        quit_app: Callable[[], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._helper = helper
        self._prompts = prompts
        self._open_window = open_window
        self.icon = QSystemTrayIcon(self)
        self.menu = QMenu()
        self.open_action = QAction("&Open Netwarden", self.menu)
        self.open_action.triggered.connect(open_window)
        self.pause_action = QAction("&Pause prompts", self.menu)
        self.pause_action.setCheckable(True)
        self.pause_action.toggled.connect(prompts.setPaused)
        self.quit_action = QAction("&Quit", self.menu)
        self.quit_action.triggered.connect(quit_app)
        self.menu.addActions([self.open_action, self.pause_action, self.quit_action])
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        for changed in (helper.changed, prompts.countChanged, prompts.pausedChanged):
            changed.connect(self._update)
        self._update()
        self.icon.show()

    @property
    def state(self) -> str:
        if self._helper.state != "running":
            return "disconnected"
        return "paused" if self._prompts.paused else "active"

    def tooltip(self) -> str:
        waiting = self._prompts.count
        text = f"Netwarden: {WORDS[self.state]}"
        return text + (
            f", {waiting} prompt{'s' if waiting != 1 else ''} waiting" if waiting else ""
        )

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:  # a plain click on the icon
            self._open_window()

    def _update(self) -> None:
        self.icon.setIcon(QIcon.fromTheme(ICONS[self.state]))
        self.icon.setToolTip(self.tooltip())
        self.pause_action.setChecked(self._prompts.paused)
        self.stateChanged.emit()
