"""Benchmark: filtering 10,000 rules in the Rules page (issue 19).

Loads the app's real main window (Kirigami, offscreen, org.kde.desktop style) on the
Rules page with the real `RulesModel`, fed 10,000 rules by a stand-in for the helper
(`RulesClient`: ListRules answered on the next loop turn). Then types a filter into the
page's search field a key at a time, as a person does ("p12", then one more key, then
the filter cleared), and measures how long each keystroke takes to settle: from the key
until the list's count is final and the window has drawn a frame.

Side by side in one run: `SortFilterModel` as it is, and the baseline, the filter before
issue 19 (each row's roles looked up by name, for each role, on each keystroke).

    sudo make bench            (or: tools/devenv run -- python3 bench/rules_filter.py)
"""

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_QUICK_CONTROLS_STYLE", "org.kde.desktop")
os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="netwarden-xdg-"))

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtQml import QQmlApplicationEngine
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from netwarden.client.helper_state import HelperState
from netwarden.main import load_main_window
from netwarden.models.row_model import Index
from netwarden.models.rules import RulesModel
from netwarden.models.sort_filter import SortFilterModel

sys.path.insert(0, os.path.dirname(__file__))
from model_flood import FloodClient, run_for

KEYS = "host123"  # "h" keeps all 10,000 rules, "host1" 1,111, "host123" 11


def rule(number: int) -> dict:
    """Rule `number`, as ListRules sends it."""
    return {"id": number + 1, "action": "deny" if number % 3 else "allow",
            "exe": f"/usr/bin/program{number}", "destination": f"host{number}.example.org",
            "ports": "443", "protocol": "tcp", "uid": 1000, "lifetime": "forever",
            "priority": 0, "enabled": True, "hits": number % 17, "note": ""}  # fmt: skip


class RulesClient(FloodClient):
    """The stand-in helper, holding `count` rules."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.rules = [rule(n) for n in range(count)]

    def caller_uid(self) -> int:
        return 1000

    def call(self, method: str, signature: str, args: tuple, on_reply: Callable[..., None],
             on_error: Callable[[Any], None]) -> None:  # fmt: skip
        if method == "ListRules":
            QTimer.singleShot(0, lambda: on_reply([dict(r) for r in self.rules]))
            return
        super().call(method, signature, args, on_reply, on_error)


def before_issue_19(self: SortFilterModel, source_row: int, source_parent: Index) -> bool:
    """The filter as it was: every role's number looked up by name, per row and role."""
    needle = self._filter_text.strip().casefold()
    if not needle:
        return True
    index = self.sourceModel().index(source_row, 0, source_parent)
    for name in self._filter_roles:
        role = next((r for r, n in self.sourceModel().roleNames().items()
                     if bytes(n).decode() == name), -1)  # fmt: skip
        value = index.data(role)
        if value is not None and needle in str(value).casefold():
            return True
    return False


@contextmanager
def filter_of(implementation: Callable[..., bool] | None) -> Iterator[None]:
    """`SortFilterModel.filterAcceptsRow` replaced by `implementation` (None: as it is)."""
    if implementation is None:
        yield
        return
    kept = SortFilterModel.filterAcceptsRow
    SortFilterModel.filterAcceptsRow = implementation  # type: ignore[method-assign]
    try:
        yield
    finally:
        SortFilterModel.filterAcceptsRow = kept  # type: ignore[method-assign]


def find(window: Any, name: str) -> QObject:
    found = window.findChild(QObject, name)
    assert found is not None, name
    return found


def keystrokes(engine: QQmlApplicationEngine, count: int) -> list[tuple[str, int, float]]:
    """(text typed so far, rows shown, milliseconds until settled) per keystroke."""
    client = RulesClient(count)
    helper = HelperState(client, parent=engine)
    rules = RulesModel(client, engine)
    window = load_main_window(engine, helper, {"rules": rules})
    window.resize(1200, 800)
    window.show()
    run_for(10, until=lambda: rules.count == count and helper.state == "running")
    QMetaObjectInvoke(find(window, "rulesAction"))
    run_for(1)
    field, shown = find(window, "rulesFilter"), find(window, "rulesList")
    field.forceActiveFocus()
    frames = [0]
    window.frameSwapped.connect(lambda: frames.__setitem__(0, frames[0] + 1))
    results = []
    typed = ""
    for key in (*KEYS, "clear"):
        drawn = frames[0]
        began = time.perf_counter()
        if key == "clear":
            field.setProperty("text", "")
            typed = ""
        else:
            QTest.keyClick(window, Qt.Key(ord(key.upper())) if key.isalpha() else Qt.Key(ord(key)))
            typed += key
        while frames[0] == drawn:  # the change applied and drawn
            QApplication.processEvents()
        took = (time.perf_counter() - began) * 1000
        results.append((typed or "(cleared)", shown.property("count"), took))
        run_for(0.2)
    window.close()
    return results


def QMetaObjectInvoke(action: QObject) -> None:
    from PySide6.QtCore import QMetaObject

    QMetaObject.invokeMethod(action, "trigger")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=10_000)
    args = parser.parse_args()
    app = QApplication(sys.argv[:1])
    engine = QQmlApplicationEngine()
    now = keystrokes(engine, args.rules)
    with filter_of(before_issue_19):
        before = keystrokes(engine, args.rules)
    del app
    print(f"\nfiltering {args.rules:,} rules in the Rules page, a key at a time "
          "(milliseconds from the key until the list is drawn)")  # fmt: skip
    print("\n| filter | rows shown | now | before issue 19 | ratio |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for (typed, rows, ms), (_t, _rows, old) in zip(now, before, strict=True):
        print(f"| {typed} | {rows:,} | {ms:.0f} ms | {old:.0f} ms | {old / ms:.1f}x |")


if __name__ == "__main__":
    main()
