"""`SortFilterModel`: a QSortFilterProxyModel for QML that sorts and filters a `RowModel` by
role name.

The filter reads each row's values straight from the source's rows (`RowModel.text_of`),
not through `data()` role by role: 10,000 rules filter in a few tens of milliseconds
(bench/rules_filter.py)."""

from PySide6.QtCore import (
    Property,
    QAbstractItemModel,
    QObject,
    QSortFilterProxyModel,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtQml import QmlElement

from netwarden.models.row_model import Index, RowModel

QML_IMPORT_NAME = "Netwarden.Backend"
QML_IMPORT_MAJOR_VERSION = 1


def _sort_value(value: object) -> tuple[int, object]:
    """A key that orders numbers, then text (case-insensitive), then missing values."""
    if isinstance(value, bool | int | float):
        return (0, value)
    if isinstance(value, str) and value:
        return (1, value.casefold())
    return (2, 0)


@QmlElement
class SortFilterModel(QSortFilterProxyModel):
    """`source` (a RowModel) sorted by the role `sortRole` (`descending`) and filtered: a
    row stays when any of `filterRoles` contains `filterText` (case-insensitive), and,
    when `matchRole` is set, its value of that role is one of `matchValues`."""

    changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._filter_text = ""
        self._needle = ""  # the filter text as compared
        self._filter_roles: list[str] = []
        self._match_role = ""
        self._match_values: list[object] = []
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

    # The read-write properties are made with `Property(type, getter, setter)`: mypy
    # takes a `@name.setter` of PySide's Property for a second definition of `name`.

    def _get_source(self) -> QAbstractItemModel | None:
        return self.sourceModel()

    def _set_source(self, model: RowModel) -> None:
        self.setSourceModel(model)
        self._apply_sort()
        self.changed.emit()

    source = Property(QAbstractItemModel, _get_source, _set_source, notify=changed)

    def _get_filter_text(self) -> str:
        return self._filter_text

    def _set_filter_text(self, text: str) -> None:
        if text != self._filter_text:
            self._filter_text = text
            self._needle = text.strip().casefold()
            self.invalidateFilter()
            self.changed.emit()

    filterText = Property(str, _get_filter_text, _set_filter_text, notify=changed)

    def _get_filter_roles(self) -> list[str]:
        return self._filter_roles

    def _set_filter_roles(self, names: list[str]) -> None:
        self._filter_roles = [str(name) for name in names]
        self.invalidateFilter()
        self.changed.emit()

    filterRoles = Property(list, _get_filter_roles, _set_filter_roles, notify=changed)

    def _get_match_role(self) -> str:
        return self._match_role

    def _set_match_role(self, name: str) -> None:
        self._match_role = name
        self.invalidateFilter()
        self.changed.emit()

    matchRole = Property(str, _get_match_role, _set_match_role, notify=changed)

    def _get_match_values(self) -> list[object]:
        return self._match_values

    def _set_match_values(self, values: list[object]) -> None:
        self._match_values = list(values)
        self.invalidateFilter()
        self.changed.emit()

    matchValues = Property(list, _get_match_values, _set_match_values, notify=changed)

    def _get_sort_role(self) -> str:
        return self._sort_role

    def _set_sort_role(self, name: str) -> None:
        self._sort_role = name
        self._apply_sort()
        self.changed.emit()

    sortRoleName = Property(str, _get_sort_role, _set_sort_role, notify=changed)

    def _get_descending(self) -> bool:
        return self._descending

    def _set_descending(self, descending: bool) -> None:
        self._descending = descending
        self._apply_sort()
        self.changed.emit()

    descending = Property(bool, _get_descending, _set_descending, notify=changed)

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
        source = self.sourceModel()
        if self._match_role:
            value = source.get(source_row).get(self._match_role)
            if value not in self._match_values:
                return False
        return not self._needle or self._needle in source.text_of(source_row, self._filter_roles)

    def lessThan(self, left: Index, right: Index) -> bool:
        role = self.sortRole()
        return _sort_value(left.data(role)) < _sort_value(right.data(role))
