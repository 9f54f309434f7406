"""`RowModel`: a QAbstractListModel of dict rows with one role per key, kept in sync by diffs.

The pages' models derive from it: they say which roles a row has (`ROLES`) and which one
identifies it (`KEY`), then hand `sync()` the whole new list whenever they learn it.
`sync()` turns the difference into row removals, inserts and `dataChanged` for the rows
whose values changed, so views keep their scroll position, selection and the delegates
of the rows that stay in place; it costs a few milliseconds for 10,000 rows.
"""

from bisect import bisect_left
from typing import TypeAlias

from PySide6.QtCore import (
    Property,
    QAbstractListModel,
    QByteArray,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
    Slot,
)

Index: TypeAlias = QModelIndex | QPersistentModelIndex  # what Qt hands a model
FIRST_ROLE = Qt.ItemDataRole.UserRole + 1


class RowModel(QAbstractListModel):
    """Rows as dicts; subclasses set `ROLES` (role names) and `KEY` (the identifying one)."""

    ROLES: tuple[str, ...] = ()
    KEY = ""
    countChanged = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[dict] = []

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt API)
        return 0 if parent.isValid() else len(self._rows)

    def roleNames(self) -> dict[int, QByteArray]:
        return {FIRST_ROLE + i: QByteArray(name.encode()) for i, name in enumerate(self.ROLES)}

    def roleNumber(self, name: str) -> int:
        """The role number of role `name` (-1 when there is none)."""
        return FIRST_ROLE + self.ROLES.index(name) if name in self.ROLES else -1

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        offset = role - FIRST_ROLE
        if not 0 <= offset < len(self.ROLES):
            return None
        return self._rows[index.row()].get(self.ROLES[offset])

    @Property(int, notify=countChanged)
    def count(self) -> int:
        return len(self._rows)

    @Slot(int, result="QVariantMap")
    def get(self, row: int) -> dict:
        """Row `row` as a map of its roles (an empty map past the end)."""
        return dict(self._rows[row]) if 0 <= row < len(self._rows) else {}

    def rows(self) -> list[dict]:
        """The rows, in order (copies)."""
        return [dict(row) for row in self._rows]

    def text_of(self, row: int, names: list[str]) -> str:
        """The values of roles `names` of row `row`, as one casefolded text (for filters)."""
        values = self._rows[row]
        return "\n".join(str(values.get(name, "")) for name in names).casefold()

    def find(self, key: object) -> int | None:
        """The row number of the row whose `KEY` is `key`."""
        return next((i for i, row in enumerate(self._rows) if row[self.KEY] == key), None)

    @Slot("QVariant", result=int)
    def rowOf(self, key: object) -> int:
        """The row number of the row whose `KEY` is `key` (-1 when there is none)."""
        found = self.find(key)
        return -1 if found is None else found

    def sync(self, rows: list[dict]) -> None:
        """Make the model hold `rows`, in that order, by few changes: removals, inserts and
        `dataChanged`, each batched over neighbouring rows. A row that changes places
        (one outside the longest run of rows already in order) is removed and inserted
        again rather than moved: behind a QSortFilterProxyModel a move becomes a layout
        change of every row, which a QML view redoes in full (90 ms for 10,000 rows)."""
        before, key = len(self._rows), self.KEY
        wanted = [row[key] for row in rows]
        self._remove_unless(set(wanted))
        keys = [row[key] for row in self._rows]
        present = set(keys)
        kept = [k for k in wanted if k in present]
        if kept != keys:
            present = _longest_ordered_run(kept, {k: n for n, k in enumerate(keys)})
            self._remove_unless(present)
        i = 0
        changed: list[tuple[int, set[int]]] = []
        while i < len(rows):
            if wanted[i] not in present:  # a run of new (or moving) rows
                end = i + 1
                while end < len(rows) and wanted[end] not in present:
                    end += 1
                self.beginInsertRows(QModelIndex(), i, end - 1)
                self._rows[i:i] = [dict(row) for row in rows[i:end]]
                self.endInsertRows()
                i = end
                continue
            old, new = self._rows[i], rows[i]
            if old != new:
                roles = {FIRST_ROLE + n for n, name in enumerate(self.ROLES)
                         if old.get(name) != new.get(name)}  # fmt: skip
                self._rows[i] = dict(new)
                changed.append((i, roles))
            i += 1
        self._emit_changed(changed)
        if len(self._rows) != before:
            self.countChanged.emit()

    def update(self, values_by_key: dict) -> None:
        """Change some values of the rows whose `KEY` is a key of `values_by_key` (keys with
        no row are ignored), in place: one `dataChanged` per run of changed rows."""
        changed: list[tuple[int, set[int]]] = []
        for i, row in enumerate(self._rows):
            values = values_by_key.get(row[self.KEY])
            if values is None:
                continue
            roles = {FIRST_ROLE + self.ROLES.index(name) for name, value in values.items()
                     if row.get(name) != value}  # fmt: skip
            if roles:
                row.update(values)
                changed.append((i, roles))
        self._emit_changed(changed)

    def _remove_unless(self, keep: set) -> None:
        """Remove the rows whose key is not in `keep`, a run of neighbours at a time."""
        end = len(self._rows)
        while end > 0:
            if self._rows[end - 1][self.KEY] in keep:
                end -= 1
                continue
            start = end - 1
            while start > 0 and self._rows[start - 1][self.KEY] not in keep:
                start -= 1
            self.beginRemoveRows(QModelIndex(), start, end - 1)
            del self._rows[start:end]
            self.endRemoveRows()
            end = start

    def _emit_changed(self, changed: list[tuple[int, set[int]]]) -> None:
        """One `dataChanged` per run of neighbouring changed rows (with all their roles)."""
        start = 0
        while start < len(changed):
            end, roles = start, set(changed[start][1])
            while end + 1 < len(changed) and changed[end + 1][0] == changed[end][0] + 1:
                end += 1
                roles |= changed[end][1]
            first, last = self.index(changed[start][0]), self.index(changed[end][0])
            self.dataChanged.emit(first, last, sorted(roles))
            start = end + 1


def _longest_ordered_run(keys: list, position: dict) -> set:
    """The largest set of `keys` whose `position`s increase along `keys` (patience sort)."""
    tails: list[int] = []  # the smallest last position of a run of each length
    tail_keys: list = []
    before: dict = {}
    for k in keys:
        at = bisect_left(tails, position[k])
        before[k] = tail_keys[at - 1] if at else None
        if at == len(tails):
            tails.append(position[k])
            tail_keys.append(k)
        else:
            tails[at], tail_keys[at] = position[k], k
    run, k = set(), (tail_keys[-1] if tail_keys else None)
    while k is not None:
        run.add(k)
        k = before[k]
    return run
