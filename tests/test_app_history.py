"""The History page's graph and lists read right at every range, against a real helper
whose history already holds a week of traffic."""

import re
import time
from datetime import datetime

import pytest
from PySide6.QtCore import QObject, QPointF
from PySide6.QtGraphs import QLineSeries
from PySide6.QtTest import QTest

from netwarden_common.api import ACTION_MONITOR
from netwarden_helper.records.flows import BytesSample, FlowRecord, Program
from netwarden_helper.records.history_db import HistoryDb
from tests import test_app_pages as pages
from tests.fixtures.qml import click, find_all, find_item, text_of
from tests.fixtures.users import NOBODY

main_window = pages.main_window  # the fixture: the app's window on a page

FIREFOX = Program("/usr/bin/firefox", "", "", "", NOBODY)
CURL = Program("/usr/bin/curl", "", "", "", NOBODY)
DAYS = 6  # of the last week with traffic, one download a day
MB = 1_000_000


@pytest.fixture
def week_of_traffic(tmp_path):
    """The helper's history before it starts: firefox downloads (n + 1) × 10 MB n days
    ago, curl 5 MB a day; the times of the downloads."""
    state = tmp_path / "state"
    state.mkdir()
    db = HistoryDb(state)
    now, times = time.time(), []
    for n in range(DAYS):
        at = now - n * 86400 - 1800
        times.append(at)
        flows = [FlowRecord(2 * n + 1, at, FIREFOX, "192.0.2.2", "cdn.example", 443, "tcp",
                            "allow", "rule"),
                 FlowRecord(2 * n + 2, at, CURL, "192.0.2.3", "api.example", 443, "tcp",
                            "allow", "rule")]  # fmt: skip
        samples = [BytesSample(2 * n + 1, FIREFOX, "cdn.example", at, MB // 10, (n + 1) * 10 * MB),
                   BytesSample(2 * n + 2, CURL, "api.example", at, MB // 100, 5 * MB)]  # fmt: skip
        db.write(flows, samples)
    db.close()
    return times


def tick_labels(graph):
    """The time axis's labels, left to right, and their centres' x."""
    labels = find_all(graph, "i => i.visible && typeof i.text === 'string' && i.opacity > 0"
                             " && /^[A-Z][a-z][a-z] (\\d+|\\d\\d:\\d\\d)$|^\\d\\d:\\d\\d$|"
                             "^\\d+ [A-Z]/.test(i.text)")  # fmt: skip
    labels.sort(key=lambda i: i.mapToScene(QPointF(0, 0)).x())
    return [(text_of(i), i.mapToScene(QPointF(i.width() / 2, 0)).x()) for i in labels]


def test_the_week_spreads_its_traffic_over_days_labelled_once_each(
    week_of_traffic, polkitd, root, main_window, qtbot
):
    polkitd(grant=[ACTION_MONITOR])
    window, models = main_window("history")
    content = window.contentItem()
    history = models["history"]
    graph = find_item(content, "trafficGraph")
    received = graph.findChild(QLineSeries, "receivedSeries")
    click(window, find_item(content, "range-week"))
    qtbot.waitUntil(lambda: received.count() >= 7 * 24, timeout=10_000)
    QTest.qWait(300)

    labels = tick_labels(graph)
    texts = [text for text, _x in labels]
    assert len(texts) >= 7 and len(set(texts)) == len(texts), texts  # no "25 Nov, 25 Nov"
    today = datetime.now()
    assert f"{today:%a} {today.day}" in texts  # a day each: "Tue 2"

    # each download at its own day: the points are spread over the week, not at its end
    busy_days = {datetime.fromtimestamp(received.at(i).x() / 1000).date()
                 for i in range(received.count()) if received.at(i).y() > 0}  # fmt: skip
    assert busy_days == {datetime.fromtimestamp(t).date() for t in week_of_traffic}
    # the value axis ends on a round number above the busiest hour (65 MB: 70)
    assert history.unit == "MB" and history.scaleMax in (70, 80)

    legend = pages.shown_top_down(content, "legendLabel")
    assert sorted(legend) == ["Received", "Sent"]

    # the bars compare: curl (30 MB) is under half of firefox (210 MB)
    bars = {text_of(find_item(row, "topName")): find_item(row, "barFill").width()
            for row in find_all(find_item(content, "topPrograms"),
                                "i => i.objectName.startsWith('top-')")}  # fmt: skip
    firefox, curl = (bars[f"{name} (nobody)"] for name in ("firefox", "curl"))
    assert firefox > 100 and 0.1 * firefox < curl < 0.2 * firefox

    # the busiest hour's value shows where the pointer rests on it
    (_first, x0), (_last, x1) = labels[0], labels[-1]
    since, until = history.property("since"), history.property("until")
    peak = max(range(received.count()), key=lambda i: received.at(i).y())
    x = x0 + (received.at(peak).x() - since) / (until - since) * (x1 - x0)
    zero = find_all(graph, "i => i.visible && i.text === '0'")[0]
    y = zero.mapToScene(QPointF(0, zero.height() / 2)).y() - 5
    for dx in (-2, 0, 2):
        QTest.mouseMove(window, QPointF(x + dx, y).toPoint())
        QTest.qWait(50)
    page = find_item(content, "historyPage")

    def tip():
        return page.findChild(QObject, "graphTip")

    qtbot.waitUntil(lambda: tip().property("visible"), timeout=5_000)
    assert re.fullmatch(r"\w{3} \d+ \w{3}, \d\d:00: received 65 MB, sent 110 kB",
                        text_of(tip())), text_of(tip())  # fmt: skip
    pages.save_screenshot(window, "history-week")


@pytest.mark.parametrize("chosen, pattern, steps", [
    ("hour", r"\d\d:[0-5]0", range(6, 8)),  # every 10 minutes
    ("day", r"[A-Z][a-z]{2} (00|03|06|09|12|15|18|21):00", range(8, 10)),  # every 3 hours
    ("month", r"\d+ [A-Z][a-z]+", range(6, 9)),  # every 5 days
])  # fmt: skip
def test_each_range_labels_its_axis_at_round_times_once_each(
    chosen, pattern, steps, week_of_traffic, polkitd, root, main_window, qtbot
):
    polkitd(grant=[ACTION_MONITOR])
    window, models = main_window("history")
    content = window.contentItem()
    graph = find_item(content, "trafficGraph")
    click(window, find_item(content, f"range-{chosen}"))
    qtbot.waitUntil(lambda: models["history"].range == chosen, timeout=5_000)

    def texts():
        return [text for text, _x in tick_labels(graph)]

    qtbot.waitUntil(lambda: all(re.fullmatch(pattern, text) for text in texts()), timeout=10_000)
    shown = texts()
    assert len(shown) - 1 in steps and len(set(shown)) == len(shown), shown
