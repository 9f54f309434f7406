"""The Rules table keeps its columns while the rule form is open."""

from itertools import pairwise

from PySide6.QtCore import QPointF

from netwarden_common.api import ACTION_MANAGE_OWN_RULES, ACTION_MONITOR
from tests import test_app_pages as pages
from tests.fixtures.qml import find_all, find_item

main_window = pages.main_window  # the fixture: the app's window on a page


def headings(content):
    """The Rules table's column headings shown, left to right."""
    found = find_all(content, "i => i.objectName.startsWith('sort-') && i.visible")
    return sorted(found, key=lambda i: i.mapToScene(QPointF(0, 0)).x())


def spans(headings):
    """Where each heading is: (left, right, its text fits)."""
    return [(i.mapToScene(QPointF(0, 0)).x(), i.mapToScene(QPointF(i.width(), 0)).x(),
             i.width() >= i.implicitWidth() - 1) for i in headings]  # fmt: skip


def test_opening_the_rule_form_leaves_the_rules_table_readable(polkitd, root, main_window, qtbot):
    polkitd(grant=[ACTION_MONITOR, ACTION_MANAGE_OWN_RULES])
    window, _models = main_window("rules")
    content = window.contentItem()
    table = find_item(content, "rulesList")
    shown, width = headings(content), table.width()
    before = spans(shown)
    pages.trigger(window, "addRuleAction")
    qtbot.waitUntil(lambda: find_item(content, "ruleForm") is not None, timeout=5_000)
    form = find_item(content, "ruleForm")
    qtbot.waitUntil(lambda: form.property("visible") and form.width() > 0, timeout=5_000)
    qtbot.wait(500)  # any column animation done
    assert form.width() >= window.width() * 0.6, "the form has room of its own"
    assert table.width() >= width, "not squeezed"
    after = spans(shown)
    assert len(after) == len(before) > 0
    for (_left, right, fits), (left, _right, _fits) in pairwise(after):
        assert fits and right <= left + 1, after
