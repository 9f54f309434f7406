"""`SearchedMap`: what the Network Monitor's maps share, the text of its search box.

The connection map (`connection_map.py`) and the world map (`world_map.py`) show only the
programs and hosts the search box leaves (`connection_map.matching`), as the list does.
"""

from PySide6.QtCore import Property, QObject, Signal


class SearchedMap(QObject):
    """A map laid out again (`rebuild`) when `filterText` changes; `changed` tells QML."""

    changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._filter = ""

    def rebuild(self) -> None:
        raise NotImplementedError

    def _get_filter(self) -> str:
        """Only programs (name, path, user) or hosts containing this text, and their links."""
        return self._filter

    def _set_filter(self, text: str) -> None:
        if text != self._filter:
            self._filter = text
            self.changed.emit()
            self.rebuild()

    filterText = Property(str, _get_filter, _set_filter, notify=changed)
