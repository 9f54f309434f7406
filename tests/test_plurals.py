"""Texts that count read right for one and for many, in the app and the CLI; one unit
style (kB, MB: powers of 1000) everywhere."""

import re
from pathlib import Path

from PySide6.QtCore import Q_ARG, Q_RETURN_ARG, QMetaObject
from PySide6.QtQml import QQmlComponent

from netwarden.cli.output import size

CHECKOUT = Path(__file__).resolve().parents[1]
QML = sorted((CHECKOUT / "qml").rglob("*.qml"))
PYTHON = sorted((CHECKOUT / "app").rglob("*.py"))


def test_no_text_says_s_in_brackets_and_every_count_has_its_singular():
    for path in [*QML, *PYTHON]:
        text = path.read_text()
        assert not re.search(r"\w\(s\)(?!:)", text.replace("http(s)", "")), path
        assert "KB" not in re.sub(r"[A-Z]KB|KB[A-Za-z]", "", text), path
    for path in QML:  # a count chooses between two written-out forms (Format.count)
        text = path.read_text()
        assert not re.search(r'qsTr\("[^"]*%n[^"]*", "", ', text), path
        calls = re.findall(r"Format\.count\(", text)
        assert len(re.findall(r'Format\.count\([^,]+, qsTr\("[^"]*"\), qsTr\("[^"]*"\)\)',
                              text)) == len(calls), path  # fmt: skip


def test_one_and_many_read_right_in_qml(qml_engine):
    component = QQmlComponent(qml_engine)
    component.setData(b"""import QtQuick
import Netwarden
QtObject {
    function written(n) {
        return Format.count(n, qsTr("%n connection written to %1"),
                            qsTr("%n connections written to %1")).arg("a.csv")
    }
}""", "")  # fmt: skip
    item = component.create()
    assert item is not None, component.errorString()

    def written(n: int) -> str:
        return QMetaObject.invokeMethod(item, "written", Q_RETURN_ARG("QVariant"),
                                        Q_ARG("QVariant", n))  # fmt: skip

    assert [written(n) for n in (0, 1, 2)] == [
        "0 connections written to a.csv", "1 connection written to a.csv",
        "2 connections written to a.csv"]  # fmt: skip
    assert size(1500) == "1.5 kB"
