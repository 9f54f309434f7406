"""`Coalesced`: a rebuild run once for a burst of changes, at most every `interval_ms`.

The maps of the Network Monitor (`connection_map.py`, `world_map.py`) lay themselves out
again from the connections' rows; rows change many times a second under load, so each
change only schedules the rebuild, which runs once when the interval is over.
"""

from collections.abc import Callable

from PySide6.QtCore import QAbstractItemModel, QObject, QTimer


class Coalesced(QTimer):
    """Calls `rebuild()` `interval_ms` after the first `schedule()` since the last call;
    every change of `model`'s rows schedules it."""

    def __init__(
        self, parent: QObject, interval_ms: int, rebuild: Callable[[], None],
        model: QAbstractItemModel,
    ) -> None:  # fmt: skip
        super().__init__(parent)
        self.setSingleShot(True)
        self.setInterval(interval_ms)
        self.timeout.connect(rebuild)
        for signal in (model.rowsInserted, model.rowsRemoved, model.dataChanged,
                       model.modelReset):  # fmt: skip
            signal.connect(self.schedule)

    def schedule(self) -> None:
        if not self.isActive():
            self.start()
