"""The Network Monitor's world map against a real helper in a netns, with real traffic and
a location database the test writes (served over HTTP in the peer namespace): a dot per
city or country sized by its traffic, this network apart, arcs from here, a host's
details on click, the diagram's period and the search box applied, and the Settings
entry."""

import gzip
import json

import pytest
from PySide6.QtCore import QObject, QPointF, Qt, Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtTest import QTest

from netwarden.client.helper_client import HelperCallError
from netwarden.models.locations import DBIP_CREDIT, credit, is_web_link
from netwarden.models.world_map import (
    WorldMap,
    load_outline,
    place_of,
    projected,
    world_layout,
    zone_point,
)
from netwarden_common.api import ACTION_MANAGE_OWN_RULES, ACTION_MONITOR
from netwarden_common.dbus_values import dictionary
from tests import test_app_pages as pages
from tests.fixtures import mmdb
from tests.fixtures.processes import wait_for
from tests.fixtures.qml import click, find_item, text_of
from tests.fixtures.traffic import bulk_server, start_fetch
from tests.fixtures.users import NOBODY
from tests.test_blocklists import HTTP_PORT, list_server

main_window = pages.main_window  # the fixture: the app's window on a page
PORT = pages.PORT
LOCAL_HOST, LOCAL_PEER = "192.168.77.1", "192.168.77.2"  # on this network
JAPAN_HOST, JAPAN_PEER = "198.51.100.1", "198.51.100.7"
NETWORKS = {"192.0.2.0/24": mmdb.city("DE", "Germany", "Berlin", 52.52, 13.405),
            "198.51.100.0/24": mmdb.country("JP", "Japan")}  # fmt: skip
BERLIN, JAPAN = "worldPlace-Berlin, Germany", "worldPlace-Japan"


def test_here_is_the_time_zones_place_and_db_ip_is_credited_as_its_licence_asks():
    table = "CH,DE,LI\t+4723+00832\tEurope/Zurich\tBüsingen\nJP\t+353916+1394441\tAsia/Tokyo\n"
    assert zone_point("Europe/Zurich", table) == pytest.approx((8 + 32 / 60, 47 + 23 / 60))
    tokyo = zone_point("Asia/Tokyo", table)
    assert tokyo == pytest.approx((139 + 44 / 60 + 41 / 3600, 35 + 39 / 60 + 16 / 3600))
    assert zone_point("UTC", table) is None, "no place: no arcs"
    assert projected(-180, 84) == (0, 0) and projected(180, -90) == (360, 144)
    dbip = "https://download.db-ip.com/free/dbip-city-lite-2026-12.mmdb.gz"
    assert credit({"url": dbip, "description": "x"}) == (
        '<a href="https://db-ip.com">IP Geolocation by DB-IP</a> (CC BY 4.0)')  # fmt: skip
    mirror = "https://mirror.example/geo.mmdb"
    assert credit({"url": mirror, "description": "GeoLite2 City"}) == "GeoLite2 City"
    assert credit({"url": mirror}) == "mirror.example"


def test_the_credit_is_the_loaded_files_and_nothing_of_the_database_is_markup():
    # A new source was set and its download failed: the file in use is still DB-IP's.
    state = {"source": "https://mirror.example/{year}.mmdb", "url": "https://download.db-ip."
             "com/free/dbip-country-lite-2026-12.mmdb.gz", "description": "DB-IP"}  # fmt: skip
    assert credit(state) == DBIP_CREDIT
    hostile = '<a href="file:///etc/shadow">Click</a> &amp; <img src=x>'
    escaped = "&lt;a href=&quot;file:///etc/shadow&quot;&gt;Click&lt;/a&gt; &amp;amp; &lt;img"
    assert credit({"url": "https://mirror.example/x.mmdb", "description": hostile}) == (
        f"{escaped} src=x&gt;")  # fmt: skip
    assert [is_web_link(link) for link in ("https://db-ip.com", "HTTP://a.example/",
            "file:///etc/shadow", "javascript:alert(1)", "settings", "")] == [
        True, True, False, False, False, False]  # fmt: skip


def test_small_countries_have_a_point_and_one_without_is_apart_under_its_name():
    _outline, centres, _width, _height = load_outline()
    small = ("SG", "HK", "MT", "BH", "MU", "MV", "AD", "MC", "GI", "LI", "VA", "BB")
    assert all(code in centres for code in small), [c for c in small if c not in centres]
    assert centres["SG"] == projected(103.8, 1.4)
    monaco = {"kind": "country", "country_code": "MC", "country": "Monaco"}
    assert place_of(monaco, centres)[1:] == ("country", "Monaco", centres["MC"])
    reunion = {"kind": "city", "country_code": "RE", "country": "Réunion"}  # part of France
    assert place_of(reunion, centres) == ("country:RE", "country", "Réunion", None)

    def to(address, size):
        return {"address": address, "host": address, "bytesIn": size, "bytesOut": 0,
                "count": 1, "verdict": "allow"}  # fmt: skip

    rows = [{"program": "curl", "exe": "/usr/bin/curl", "user": "alice",
             "destinations": [to("192.0.2.1", 10), to("192.0.2.2", 20), to("10.0.0.1", 5),
                              to("192.0.2.3", 1)]}]  # fmt: skip
    located = {"192.0.2.1": monaco, "192.0.2.2": reunion, "10.0.0.1": {"kind": "local"},
               "192.0.2.3": {"kind": "unknown"}}  # fmt: skip
    on_map, apart = world_layout(rows, located, centres)
    assert [p["name"] for p in on_map] == ["Monaco"]
    assert [(p["key"], p["name"], p["bytes"]) for p in apart] == [
        ("local", "This network", 5), ("unknown", "Not in the location database", 1),
        ("country:RE", "Réunion", 20)]  # fmt: skip
    assert world_layout(rows, located, centres, "CURL") == (on_map, apart), "the program's"
    on_map, apart = world_layout(rows, located, centres, " 192.0.2.1 ")
    assert ([p["name"] for p in on_map], apart) == (["Monaco"], []), "one host's place"


class FakeRows(QStandardItemModel):
    """The connections' rows, as the world map reads them."""

    def __init__(self, addresses):
        super().__init__()
        self._rows = [{"program": "curl", "exe": "/usr/bin/curl", "user": "alice", "destinations": [
            {"address": a, "host": a, "bytesIn": 1, "bytesOut": 0, "count": 1,
             "verdict": "allow"} for a in addresses]}]  # fmt: skip

    def rows(self):
        return self._rows


class FakeDatabase(QObject):
    changed = Signal()
    loaded, summary = True, "the first"


class FakeClient:
    """Holds each LocateAddresses call for the test to answer or fail."""

    def __init__(self):
        self.calls = []

    def call(self, method, signature, arguments, ok, failed):
        assert (method, signature) == ("LocateAddresses", "as")
        self.calls.append((list(arguments[0]), ok, failed))


def test_the_world_map_pairs_answers_by_position_and_asks_again_after_a_failure_or_a_change(
    qapp, qtbot
):
    client, database = FakeClient(), FakeDatabase()
    world = WorldMap(client, FakeRows(["2001:DB8::1"]), database)
    japan = {"address": "2001:db8::1", "kind": "country", "country_code": "JP",
             "country": "Japan"}  # fmt: skip
    world.active = True
    ((asked, _ok, failed),) = client.calls
    assert asked == ["2001:DB8::1"]
    failed(HelperCallError("org.freedesktop.DBus.Error.NoReply", "timed out"))
    world.rebuild()  # as the next change of the rows does
    assert len(client.calls) == 2 and world.apart.count == 0, "asked again, not unknown"

    database.summary = "the second"  # the database changed while the answer was on its way
    database.changed.emit()
    client.calls[1][1]([japan])  # the first database's answer: dropped, asked anew
    qtbot.waitUntil(lambda: len(client.calls) == 3, timeout=5_000)
    client.calls[2][1]([japan])  # written another way than asked: taken by position
    qtbot.waitUntil(lambda: world.places.count == 1, timeout=5_000)
    assert world.places.get(0)["name"] == "Japan"


def turn_on_locations(root, netns, served):
    served.body, served.etag = gzip.compress(mmdb.build(NETWORKS)), '"1"'
    source = f"http://{netns.peer_v4}:{HTTP_PORT}/dbip-city-lite-{{year}}-{{month}}.mmdb.gz"
    root.call("SetSettings", dictionary({"locations": True, "locations_source": source}))
    wait_for(lambda: root.call("GetLocationDatabase")["loaded"], 10, "the database")


def test_the_world_map_places_hosts_by_traffic_keeps_this_network_apart_and_opens_a_host(
    polkitd, root, netns, main_window, qtbot, monkeypatch
):
    monkeypatch.setenv("TZ", "Europe/Zurich")  # here: Zurich's coordinates in tzdata
    polkitd(grant=[ACTION_MONITOR, ACTION_MANAGE_OWN_RULES])
    for host, peer in ((LOCAL_HOST, LOCAL_PEER), (JAPAN_HOST, JAPAN_PEER)):
        netns.host.run("ip", "addr", "add", f"{host}/24", "dev", "nw0")
        netns.peer.run("ip", "addr", "add", f"{peer}/24", "dev", "nw1")
    sizes = {netns.peer_v4: 2_000_000, JAPAN_PEER: 200_000, LOCAL_PEER: 100_000}
    for address in sizes:
        root.call("AddRule", dictionary({"action": "allow", "destination": address,
                                         "ports": str(PORT), "uid": NOBODY}))  # fmt: skip
    window, models = main_window("monitor")
    content = window.contentItem()
    world = models["worldMap"]
    with (
        list_server(netns) as served,
        bulk_server(netns.peer, netns.peer_v4, PORT, sizes[netns.peer_v4]),
        bulk_server(netns.peer, JAPAN_PEER, PORT, sizes[JAPAN_PEER]),
        bulk_server(netns.peer, LOCAL_PEER, PORT, sizes[LOCAL_PEER]),
    ):
        fetches = [start_fetch(netns.host, a, PORT, size, uid=NOBODY) for a, size in sizes.items()]
        try:
            for fetch, size in zip(fetches, sizes.values(), strict=True):
                assert json.loads(fetch.stdout.readline())["received"] == size
            pages.trigger(window, "monitorWorldAction")
            qtbot.waitUntil(lambda: find_item(content, "worldMap") is not None, timeout=5_000)
            view = find_item(content, "worldMap")
            off = find_item(view, "worldDatabaseOff")
            qtbot.waitUntil(
                lambda: find_item(view, "worldApart-unknown") is not None, timeout=10_000
            )
            assert off.property("visible") and "Settings" in text_of(off), "turn it on first"
            assert world.places.count == 0, "no database: nowhere on the map"

            turn_on_locations(root, netns, served)
            qtbot.waitUntil(lambda: find_item(view, JAPAN) is not None, timeout=10_000)
            qtbot.waitUntil(lambda: find_item(view, BERLIN) is not None, timeout=10_000)
            berlin, japan = find_item(view, BERLIN), find_item(view, JAPAN)
            qtbot.waitUntil(lambda: berlin.property("bytes") >= 2_000_000, timeout=10_000)
            assert berlin.width() > japan.width(), "ten times the bytes: a larger dot"
            at = {n: i.mapToScene(QPointF(i.width() / 2, i.height() / 2)) for n, i in
                  (("berlin", berlin), ("japan", japan))}  # fmt: skip
            assert at["berlin"].x() < at["japan"].x() and at["berlin"].y() < at["japan"].y()
            assert find_item(view, "worldApart-unknown") is None
            local = find_item(view, "worldApart-local")
            assert text_of(local) == "This network: 1 host, 101 kB"
            assert LOCAL_PEER in local.property("hosts")
            assert world.arcs.count("M") == 2, "an arc from here to each place"
            assert find_item(view, "worldHere").property("visible")
            credit = find_item(view, "worldCredit")
            assert credit.property("visible") and "DB-IP" not in text_of(credit)
            assert text_of(credit) == "a test database", "the database's own description"
            assert not find_item(view, "worldDatabaseOff").property("visible")

            QTest.mouseMove(window, at["berlin"].toPoint())
            qtbot.waitUntil(lambda: berlin.property("hovered"), timeout=5_000)
            tip = berlin.property("tip")
            assert tip.startswith("Berlin, Germany\n2.0 MB in 1 connection"), tip
            assert tip.endswith(netns.peer_v4)
            pages.save_screenshot(window, "world-map")

            connections = models["connections"]
            connections.showPeriod(1.0, 2.0)  # a period long gone: nothing then
            qtbot.waitUntil(lambda: world.places.count == 0, timeout=10_000)
            connections.showLive()
            qtbot.waitUntil(lambda: find_item(view, BERLIN) is not None, timeout=10_000)

            click(window, find_item(content, "monitorFilter"))
            pages.type_text(window, JAPAN_PEER)  # the search box: only Japan's host is left
            qtbot.waitUntil(lambda: find_item(view, BERLIN) is None, timeout=10_000)
            assert find_item(view, JAPAN) is not None
            assert find_item(view, "worldApart-local") is None
            assert world.arcs.count("M") == 1
            QTest.keySequence(window, "Ctrl+A")
            QTest.keyClick(window, Qt.Key.Key_Delete)
            qtbot.waitUntil(lambda: find_item(view, BERLIN) is not None, timeout=10_000)
            assert find_item(view, "worldApart-local") is not None
            pages.type_text(window, JAPAN_PEER)
            qtbot.waitUntil(lambda: world.places.count == 1, timeout=10_000)
            old_page = find_item(content, "monitorPage")
            pages.trigger(window, "rulesAction")  # away and back: a new, empty search box
            pages.trigger(window, "monitorAction")
            qtbot.waitUntil(lambda: find_item(content, "monitorPage") not in (None, old_page),
                            timeout=5_000)  # fmt: skip
            assert world.filterText == "" and models["connectionMap"].filterText == ""
            pages.trigger(find_item(content, "monitorPage"), "monitorWorldAction")
            qtbot.waitUntil(lambda: find_item(content, "worldMap") is not None, timeout=5_000)
            view = find_item(content, "worldMap")
            qtbot.waitUntil(lambda: find_item(view, BERLIN) is not None, timeout=10_000)

            click(window, find_item(view, BERLIN))
            qtbot.waitUntil(lambda: find_item(content, "hostPage") is not None, timeout=5_000)
            assert find_item(content, "hostPage").property("host") == netns.peer_v4
        finally:
            for fetch in fetches:
                fetch.communicate("\n", timeout=10)


def test_settings_turn_the_location_database_on_with_its_source_and_credit(
    polkitd, root, netns, main_window, qtbot
):
    polkitd(grant=[ACTION_MONITOR])
    window, models = main_window("settings")
    content = window.contentItem()
    with list_server(netns) as served:
        turn_on_locations(root, netns, served)
        database = models["locationDatabase"]
        qtbot.waitUntil(lambda: database.loaded, timeout=10_000)
        qtbot.waitUntil(
            lambda: find_item(content, "locationsField").property("checked"), timeout=5_000
        )
        source = find_item(content, "locationsSourceField")
        assert text_of(source).endswith("/dbip-city-lite-{year}-{month}.mmdb.gz")
        state = find_item(content, "locationsState")
        assert text_of(state).startswith("Netwarden-Test-City of ")
        assert state.property("description") == "a test database"
        click(window, find_item(content, "updateLocationsButton"))
        problem = find_item(content, "settingsProblem")
        qtbot.waitUntil(lambda: problem.property("visible"), timeout=10_000)
        assert "Not authorized" in text_of(problem), "an update needs an administrator"
        assert database.loaded, "and the database stays"
