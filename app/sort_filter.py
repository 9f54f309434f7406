"""`SortFilterModel`: a QSortFilterProxyModel for QML that sorts and filters by role name."""

from PySide6.QtCore import (
    Property,
    QAbstractItemModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtQml import QmlElement

QML_IMPORT_NAME = "Netwarden.Backend"
QML_IMPORT_MAJOR_VERSION = 1

Index = QModelIndex | QPersistentModelIndex


def _sort_value(value: object) -> tuple[int, object]:
    """A key that orders numbers, then text (case-insensitive), then missing values."""
    if isinstance(value, bool | int | float):
        return (0, value)
    if isinstance(value, str) and value:
        return (1, value.casefold())
    return (2, 0)


@QmlElement
class SortFilterModel(QSortFilterProxyModel):
    """`sourceModel` sorted by the role `sortRole` (`descending`) and filtered: a row stays
    when any of `filterRoles` contains `filterText` (case-insensitive)."""

    changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._filter_text = ""
        self._filter_roles: list[str] = []
        self._sort_role = ""
        self._descending = False
        self.setDynamicSortFilter(True)
        self.rowsInserted.connect(self.changed)
        self.rowsRemoved.connect(self.changed)
        self.modelReset.connect(self.changed)

    def _role(self, name: str) -> int:
        source = self.sourceModel()
        if source is None:
            return -1
        found = [role for role, n in source.roleNames().items() if bytes(n).decode() == name]
        return found[0] if found else -1

    @Property(QAbstractItemModel, notify=changed)
    def source(self) -> QAbstractItemModel | None:
        return self.sourceModel()

    @source.setter
    def source(self, model: QAbstractItemModel) -> None:
        self.setSourceModel(model)
        self._apply_sort()
        self.changed.emit()

    @Property(str, notify=changed)
    def filterText(self) -> str:
        return self._filter_text

    @filterText.setter
    def filterText(self, text: str) -> None:
        if text != self._filter_text:
            self._filter_text = text
            self.invalidateFilter()
            self.changed.emit()

    @Property(list, notify=changed)
    def filterRoles(self) -> list[str]:
        return self._filter_roles

    @filterRoles.setter
    def filterRoles(self, names: list[str]) -> None:
        self._filter_roles = [str(name) for name in names]
        self.invalidateFilter()
        self.changed.emit()

    @Property(str, notify=changed)
    def sortRoleName(self) -> str:
        return self._sort_role

    @sortRoleName.setter
    def sortRoleName(self, name: str) -> None:
        self._sort_role = name
        self._apply_sort()
        self.changed.emit()

    @Property(bool, notify=changed)
    def descending(self) -> bool:
        return self._descending

    @descending.setter
    def descending(self, descending: bool) -> None:
        self._descending = descending
        self._apply_sort()
        self.changed.emit()

    @Property(int, notify=changed)
    def count(self) -> int:
        return self.rowCount()

    @Slot(int, result="QVariantMap")
    def get(self, row: int) -> dict:
        """Row `row` of this (sorted, filtered) view as a map of its roles."""
        index = self.index(row, 0)
        if not index.isValid():
            return {}
        return {bytes(name).decode(): index.data(role)
                for role, name in self.roleNames().items()}  # fmt: skip

    def _apply_sort(self) -> None:
        role = self._role(self._sort_role)
        if role < 0:
            self.sort(-1)  # the source's own order
            return
        self.setSortRole(role)
        order = Qt.SortOrder.DescendingOrder if self._descending else Qt.SortOrder.AscendingOrder
        self.sort(0, order)

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        needle = self._filter_text.strip().casefold()
        if not needle:
            return True
        index = self.sourceModel().index(source_row, 0, source_parent)
        for name in self._filter_roles:
            value = index.data(self._role(name))
            if value is not None and needle in str(value).casefold():
                return True
        return False

    def lessThan(self, left: Index, right: Index) -> bool:
        role = self.sortRole()
        return _sort_value(left.data(role)) < _sort_value(right.data(role))
