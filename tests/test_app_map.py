"""The Network Monitor's connection map and traffic diagram against a real helper in a
netns, with real traffic: who talks to whom, denied attempts, a host's details, and a
period picked on the diagram filtering the list."""

import json

from PySide6.QtCore import QObject, QPointF, Qt
from PySide6.QtTest import QTest

from netwarden_common.api import ACTION_MANAGE_OWN_RULES, ACTION_MONITOR
from netwarden_common.dbus_values import dictionary
from tests import test_app_pages as pages
from tests.fixtures.qml import click, find_all, find_item, text_of
from tests.fixtures.traffic import bulk_server, start_client, start_fetch
from tests.fixtures.users import NOBODY

main_window = pages.main_window  # the fixture: the app's window on a page
PORT, DENIED_PORT = pages.PORT, 8081
SIZE = pages.SIZE
PROGRAM = pages.PROGRAM


def allow_and_deny(root, address):
    """Rules for nobody: connections to `address` port PORT allowed, DENIED_PORT denied."""
    for action, port in (("allow", PORT), ("deny", DENIED_PORT)):
        root.call("AddRule", dictionary({"action": action, "destination": address,
                                         "ports": str(port), "uid": NOBODY}))  # fmt: skip


def links_to(content, host):
    return [i for i in find_all(content, "i => i.objectName === 'mapLink'")
            if i.property("host") == host]  # fmt: skip


def test_the_map_links_a_program_to_its_host_with_denied_attempts_dashed_and_opens_the_host(
    polkitd, root, netns, main_window, qtbot
):
    polkitd(grant=[ACTION_MONITOR, ACTION_MANAGE_OWN_RULES])
    host = netns.peer_v4
    allow_and_deny(root, host)
    window, models = main_window("monitor")
    content = window.contentItem()
    pages.trigger(window, "monitorMapAction")
    with bulk_server(netns.peer, host, PORT, SIZE):
        fetch = start_fetch(netns.host, host, PORT, SIZE, uid=NOBODY)
        try:
            assert json.loads(fetch.stdout.readline())["received"] == SIZE
            refused = start_client(netns.host, "tcp", host, DENIED_PORT, 5, uid=NOBODY)
            assert json.loads(refused.communicate(timeout=20)[0])["result"] == "refused"

            qtbot.waitUntil(lambda: len(links_to(content, host)) == 2, timeout=10_000)
            program = find_item(content, f"mapProgram-{PROGRAM}")
            target = find_item(content, f"mapHost-{host}")
            assert program.property("visible") and target.property("visible")
            assert program.mapToScene(QPointF(0, 0)).x() < target.mapToScene(QPointF(0, 0)).x()
            allowed, denied = sorted(links_to(content, host), key=lambda i: i.property("denied"))
            assert not allowed.property("denied") and denied.property("denied")
            qtbot.waitUntil(lambda: allowed.property("bytes") >= SIZE, timeout=10_000)
            assert allowed.property("thickness") > denied.property("thickness"), "wide: 2 MB moved"
            dashed = find_all(
                content,
                "i => i.objectName === 'mapLink' && Array.from(i.data)"
                ".some(p => p.objectName === 'linkPath' && p.strokeStyle === 2)",
            )
            assert [(i.property("host"), i.property("denied")) for i in dashed] == [(host, True)]
            colors = {link.findChild(QObject, "linkPath").property("strokeColor").name()
                      for link in links_to(content, host)}  # fmt: skip
            assert len(colors) == 2, "denied in another colour"
            assert find_all(target, "i => i.verdict === 'deny' && i.visible"), "a deny badge"
            pages.save_screenshot(window, "map")

            click(window, target)
            qtbot.waitUntil(lambda: find_item(content, "hostPage") is not None, timeout=5_000)
            details = find_item(content, "hostPage")
            qtbot.waitUntil(lambda: len(find_all(details, "i => i.objectName === 'hostRule'")) == 2,
                            timeout=5_000)  # fmt: skip
            talkers = find_all(details, "i => i.objectName === 'hostProgram'")
            badges = [b for t in talkers for b in find_all(t, "i => i.verdict !== undefined")]
            assert sorted(b.property("verdict") for b in badges) == ["allow", "deny"]
            flows = models["connectionMap"].hostFlows
            qtbot.waitUntil(lambda: flows.count >= 2, timeout=15_000)
            assert {flows.get(i)["verdict"] for i in range(flows.count)} == {"allow", "deny"}

            pages.trigger(window, "denyHostAction")
            qtbot.waitUntil(lambda: find_item(content, "ruleForm") is not None, timeout=5_000)
            form = find_item(content, "ruleForm")
            (editor,) = find_all(find_item(form, "destinationField"),
                                 "i => /^(QQuick)?TextField/.test(String(i))")  # fmt: skip
            assert text_of(editor) == host, "the form starts with the host"
            assert find_item(form, "actionField").property("currentValue") == "deny"
        finally:
            fetch.communicate("\n", timeout=10)


def drag(window, item, start, end):
    """Drag across `item` from `start` to `end` (shares of its width), at mid height."""
    y = item.height() / 2
    points = [item.mapToScene(QPointF(item.width() * share, y)).toPoint()
              for share in (start, (start + end) / 2, end)]  # fmt: skip
    QTest.mousePress(window, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, points[0])
    for point in points[1:]:
        QTest.mouseMove(window, point)
        QTest.qWait(30)
    QTest.mouseRelease(window, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                       points[-1])  # fmt: skip


def test_a_period_dragged_on_the_diagram_shows_its_connections_and_a_click_clears_it(
    polkitd, root, netns, main_window, qtbot
):
    polkitd(grant=[ACTION_MONITOR])
    host = netns.peer_v4
    allow_and_deny(root, host)
    with bulk_server(netns.peer, host, PORT, SIZE):
        start_fetch(netns.host, host, PORT, SIZE, uid=NOBODY).communicate("\n", timeout=20)
    qtbot.waitUntil(lambda: sum(p[2] for p in root.call("TrafficSeries", dictionary({})))
                    >= SIZE, timeout=15_000)  # fmt: skip

    window, models = main_window("monitor")
    content = window.contentItem()
    row_name = f"program-{PROGRAM}"
    qtbot.wait(pages.REFRESH_MS)
    assert find_item(content, row_name) is None, "closed: not live any more"
    timeline = models["timeline"]
    qtbot.waitUntil(lambda: timeline.unit == "MB", timeout=10_000)
    graph = find_item(content, "timelineGraph")
    QTest.qWait(300)

    drag(window, graph, 0.15, 0.5)  # the first half of the hour: before the download
    connections = models["connections"]
    qtbot.waitUntil(lambda: connections.periodSince > 0, timeout=5_000)
    assert connections.periodUntil < root.call("QueryHistory", dictionary({}))["flows"][0]["time"]
    assert find_item(content, "periodMessage").property("visible")
    QTest.qWait(2 * pages.REFRESH_MS)
    assert find_item(content, row_name) is None, "nothing then"

    drag(window, graph, 0.5, 0.99)  # up to now: the download
    qtbot.waitUntil(lambda: find_item(content, row_name) is not None, timeout=10_000)
    row = find_item(content, row_name)
    destinations = [text_of(i) for i in find_all(row, "i => i.objectName === 'destination'")]
    assert destinations == [f"{host}:{PORT}/tcp"]
    assert text_of(find_item(row, "programBytes")).startswith("↓ 2.")
    assert find_item(content, "pickedPeriod").property("visible")
    assert text_of(find_item(content, "periodMessage")).startswith("Connections from ")
    pages.save_screenshot(window, "diagram-range")

    click(window, graph)  # a click: live again
    qtbot.waitUntil(lambda: connections.periodSince == 0, timeout=5_000)
    qtbot.waitUntil(lambda: find_item(content, row_name) is None, timeout=10_000)
    assert not find_item(content, "pickedPeriod").property("visible")
