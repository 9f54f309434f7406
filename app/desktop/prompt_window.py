"""Showing the prompt window: when prompts wait, on the screen the pointer is on.

The window appears centred on the pointer's screen, on top, but without keyboard focus
(the QML takes focus once it is clicked), so a person typing elsewhere keeps typing
there. It hides when no prompt is left.
"""

from PySide6.QtCore import QObject, QPoint
from PySide6.QtGui import QCursor, QGuiApplication, QWindow

from netwarden.models.prompts import PromptModel


def pointer_screen_centre(window: QWindow) -> None:
    """Move `window` to the middle of the screen the pointer is on."""
    screen = QGuiApplication.screenAt(QCursor.pos()) or QGuiApplication.primaryScreen()
    window.setScreen(screen)
    area = screen.availableGeometry()
    window.setPosition(area.center() - QPoint(window.width() // 2, window.height() // 2))


class PromptWindowController(QObject):
    """Keeps the prompt window shown exactly while prompts wait."""

    def __init__(self, window: QWindow, prompts: PromptModel) -> None:
        super().__init__(window)
        self._window = window
        self._prompts = prompts
        prompts.countChanged.connect(self._update)
        self._update()

    def _update(self) -> None:
        waiting = self._prompts.count > 0
        if waiting and not self._window.isVisible():
            pointer_screen_centre(self._window)
            self._window.show()
        elif not waiting:
            self._window.hide()
