"""Where in the world: the location database (a small MMDB the test writes itself, served
over HTTP in the peer namespace) downloaded, checked and kept by the real helper, and
LocateAddresses over the real dbus-daemon and polkitd; the pure parts apart."""

import datetime
import gzip
import io
import json
import stat
import subprocess
import sys

import dbus
import pytest

from netwarden_common.api import ACTION_MONITOR, ACTION_SETTINGS, ACTIONS
from netwarden_common.errors import BadValue
from netwarden_helper.geo import database, places
from netwarden_helper.geo.database import DatabaseError
from tests.fixtures import mmdb
from tests.fixtures.api import ApiClient, error_name
from tests.fixtures.processes import wait_for
from tests.fixtures.users import NOBODY
from tests.test_blocklists import HTTP_PORT, list_server
from tests.test_blocklists import helper_process as blocklists_helper

BERLIN = mmdb.city("DE", "Germany", "Berlin", 52.52, 13.405)
NETWORKS = {"192.0.2.0/24": BERLIN, "2001:db8::/32": mmdb.country("JP", "Japan"),
            "198.51.100.0/24": mmdb.country("BR", "Brazil")}  # fmt: skip
ADDRESSES = ["192.0.2.7", "2001:db8::5", "198.51.100.1", "203.0.113.9", "192.168.1.10",
             "127.0.0.1", "fe80::1", "10.0.0.2", "::ffff:192.0.2.9", "fd00::1"]  # fmt: skip


def brief(found):
    return [(p["kind"], p.get("country_code", ""), p.get("city", "")) for p in found]


EXPECTED = [("city", "DE", "Berlin"), ("country", "JP", ""), ("country", "BR", ""),
            ("unknown", "", ""), *[("local", "", "")] * 4, ("city", "DE", "Berlin"),
            ("local", "", "")]  # fmt: skip


# Pure


def test_local_addresses_are_this_network_and_others_are_looked_up():
    parsed = places.parsed_addresses(ADDRESSES)
    assert [places.is_local(a) for a in parsed] == [False, False, False, False, True, True,
                                                     True, True, False, True]  # fmt: skip
    assert places.is_local(places.parsed_addresses(["100.64.0.1"])[0]), "carrier-grade NAT"


def test_addresses_carrying_ipv4_are_looked_up_as_it_and_reserved_ranges_are_this_network():
    asked = []
    found = places.located(
        ["64:ff9b::c000:207", "2002:c000:207::1", "64:ff9b::a00:1", "2002:c0a8:101::1",
         "192.0.0.9", "198.18.0.1", "198.19.255.254", "240.0.0.1", "255.255.255.255"],
        lambda address: asked.append(str(address)) or BERLIN,
    )  # fmt: skip
    assert asked == ["192.0.2.7", "192.0.2.7"], "NAT64 and 6to4 unwrapped, then looked up"
    assert [p["kind"] for p in found] == ["city", "city", *["local"] * 7]
    assert found[0]["address"] == "64:ff9b::c000:207", "answered for the address asked"
    assert not places.is_local(places.parsed_addresses(["198.20.0.1"])[0])


def test_a_damaged_record_is_not_found_rather_than_failing_the_call():
    maxminddb = pytest.importorskip("maxminddb")

    class Damaged:
        def get(self, address):
            raise maxminddb.InvalidDatabaseError("the record points outside the file")

    assert database.record(Damaged(), "192.0.2.7") is None


def test_without_maxminddb_the_helper_starts_and_the_database_says_what_is_missing(tmp_path):
    (tmp_path / "db.mmdb").write_bytes(mmdb.build(NETWORKS))
    script = (
        "import sys; sys.modules['maxminddb'] = None\n"  # as if not installed
        "import netwarden_helper.main, netwarden_helper.composition\n"
        "from netwarden_helper.geo.database import DatabaseError, check\n"
        "try:\n    check(__import__('pathlib').Path(sys.argv[1]))\n"
        "except DatabaseError as error:\n    print(error)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "db.mmdb")],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "python3-maxminddb is not installed"


@pytest.mark.parametrize("bad", ["example.org", "192.0.2.300", "fe80::1%eth0", "", 7, "1.2.3"])
def test_anything_but_an_address_is_refused_by_name(bad):
    with pytest.raises(BadValue, match="is not an IP address"):
        places.parsed_addresses(["192.0.2.1", bad])


def test_a_record_is_shaped_into_a_city_a_country_or_nothing():
    address = places.parsed_addresses(["192.0.2.7"])[0]
    assert places.place(address, BERLIN) == {
        "address": "192.0.2.7", "kind": "city", "country_code": "DE", "country": "Germany",
        "city": "Berlin", "latitude": 52.52, "longitude": 13.405}  # fmt: skip
    assert places.place(address, {"registered_country": {"iso_code": "fr"}})["country"] == "FR"
    assert places.place(address, {"location": {"latitude": 91, "longitude": 0}})["kind"] == (
        "unknown"), "coordinates out of range are dropped"  # fmt: skip
    assert places.place(address, None) == {"address": "192.0.2.7", "kind": "unknown"}


def test_a_monthly_source_names_this_month_then_the_last():
    source = "https://x.example/db-{year}-{month}.mmdb.gz"
    at = datetime.datetime(2027, 1, 3, tzinfo=datetime.UTC)
    assert database.candidates(source, at) == ["https://x.example/db-2027-01.mmdb.gz",
                                               "https://x.example/db-2026-12.mmdb.gz"]  # fmt: skip
    assert database.candidates("https://x.example/a.mmdb", at) == ["https://x.example/a.mmdb"]


class Pieces(io.BytesIO):
    """A file that notes the largest piece written to it."""

    largest = 0

    def write(self, piece) -> int:
        self.largest = max(self.largest, len(piece))
        return super().write(piece)


def unpacked(download: bytes) -> bytes:
    out = Pieces()
    database.unpack(io.BytesIO(download), out)
    assert out.largest <= database.CHUNK, "a piece at a time, never the whole file"
    return out.getvalue()


def test_gzip_is_unpacked_and_a_truncated_or_garbage_file_refused(tmp_path, monkeypatch):
    data = mmdb.build(NETWORKS)
    assert unpacked(gzip.compress(data)) == data
    assert unpacked(data) == data, "a file not compressed is taken as it is"
    with pytest.raises(DatabaseError, match="truncated gzip"):
        unpacked(gzip.compress(data)[:-40])
    with pytest.raises(DatabaseError, match="broken gzip"):
        unpacked(gzip.compress(data)[:200] + b"\xff" * 64)
    monkeypatch.setattr(database, "CHUNK", 100)  # a bomb: refused as it unpacks, piece by piece
    assert unpacked(gzip.compress(bytes(50_000))) == bytes(50_000), "100 bytes at a time"
    monkeypatch.setattr(database, "MAX_DATABASE", 1 << 20)
    with pytest.raises(DatabaseError, match="larger than 1 MiB unpacked"):
        unpacked(gzip.compress(bytes(8 << 20)))
    for name, bad in (("garbage", b"<html>not found</html>" * 50), ("truncated", data[:-30]),
                      ("asn", mmdb.build(NETWORKS, database_type="GeoLite2-ASN"))):  # fmt: skip
        path = tmp_path / name
        path.write_bytes(bad)
        with pytest.raises(DatabaseError):
            database.check(path)
    (tmp_path / "ok").write_bytes(data)
    reader, about = database.opened(tmp_path / "ok")
    reader.close()
    assert (about.database_type, about.ip_version) == ("Netwarden-Test-City", 6)


# End to end


def helper_process(system_bus, netns, tmp_path):
    """The real helper in `netns` (as the blocklist tests run it), a root client to it."""
    return blocklists_helper(system_bus, netns, tmp_path, tmp_path)


def month_paths():
    now = datetime.datetime.now(datetime.UTC)
    return [
        url.removeprefix("x") for url in database.candidates("x/db-{year}-{month}.mmdb.gz", now)
    ]


def test_the_helper_downloads_the_database_refuses_garbage_keeps_the_last_and_locates(
    system_bus, polkitd, netns, tmp_path
):
    polkitd()
    this_month, last_month = month_paths()
    source = f"http://{netns.peer_v4}:{HTTP_PORT}/db-{{year}}-{{month}}.mmdb.gz"
    with list_server(netns) as served, helper_process(system_bus, netns, tmp_path) as root:
        off = dict(root.call("GetLocationDatabase"))
        assert (off["enabled"], off["loaded"]) == (False, False), "off until turned on"
        assert brief(root.call("LocateAddresses", ADDRESSES[:1])) == [("unknown", "", "")]
        assert not served.requests, "nothing downloaded while off"

        original = mmdb.build(NETWORKS)
        served.body, served.etag = gzip.compress(original), '"v1"'
        served.missing = {this_month}  # early in the month: only last month's is out
        root.call("SetSettings", {"locations": True, "locations_source": source})
        wait_for(lambda: root.call("GetLocationDatabase")["loaded"], 10, "the database")
        state = dict(root.call("GetLocationDatabase"))
        assert state["url"].endswith(last_month) and state["error"] == ""
        assert state["database_type"] == "Netwarden-Test-City"
        stored = tmp_path / "state" / "locations" / "locations.mmdb"
        assert stored.read_bytes() == original
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600
        assert brief(root.call("LocateAddresses", ADDRESSES)) == EXPECTED
        berlin = dict(root.call("LocateAddresses", ["192.0.2.7"])[0])
        assert (berlin["latitude"], berlin["longitude"], berlin["country"]) == (
            52.52, 13.405, "Germany")  # fmt: skip

        served.missing = set()
        for bad, reason in ((b"<html>busy</html>", "not a MaxMind DB"),
                            (gzip.compress(original)[:-64], "truncated gzip"),
                            (original[:-40], "not a MaxMind DB")):  # fmt: skip
            served.body, served.etag = bad, '"bad"'
            refused = dict(root.call("UpdateLocationDatabase"))
            assert reason in refused["error"] and refused["loaded"], refused["error"]
            assert refused["updated_at"] == state["updated_at"] < refused["checked_at"]
            assert brief(root.call("LocateAddresses", ADDRESSES)) == EXPECTED, "the last stays"
            assert stored.read_bytes() == original

        moved = {**NETWORKS, "198.51.100.0/24": mmdb.country("NZ", "New Zealand")}
        served.body, served.etag = mmdb.build(moved), '"v2"'  # not compressed: taken too
        assert dict(root.call("UpdateLocationDatabase"))["error"] == ""
        assert brief(root.call("LocateAddresses", ["198.51.100.1"])) == [("country", "NZ", "")]
        assert dict(root.call("UpdateLocationDatabase"))["url"].endswith(this_month)
        assert served.requests[-1] == ('"v2"', 304), "unchanged: not downloaded again"

        root.call("SetSettings", {"locations": False})
        assert brief(root.call("LocateAddresses", ["198.51.100.1"])) == [("unknown", "", "")]
        root.call("SetSettings", {"locations": True})
        wait_for(lambda: root.call("GetLocationDatabase")["loaded"], 10, "the database again")
    # The server is gone and a check is due (as at boot, before the network): the
    # restarted helper's download fails, and it answers from its copy all the same.
    status_file = tmp_path / "state" / "locations" / "status.json"
    status_file.write_text(json.dumps({**json.loads(status_file.read_text()), "checked_at": 0.0}))
    with helper_process(system_bus, netns, tmp_path) as root:
        wait_for(lambda: root.call("GetLocationDatabase")["loaded"], 10, "the copy")
        after = dict(root.call("GetLocationDatabase"))
        assert after["error"].startswith("download failed") and after["checked_at"] > 0
        assert brief(root.call("LocateAddresses", ["198.51.100.1"])) == [("country", "NZ", "")]


def test_a_queued_update_starts_from_what_the_update_before_it_left(netns, helper_thread):
    """Two updates asked at once: the second sends the validator the first downloaded
    (not the one of the moment both were asked), so it is not downloaded twice."""
    source = f"http://{netns.peer_v4}:{HTTP_PORT}/db.mmdb"
    with list_server(netns) as served:
        served.body, served.etag = mmdb.build(NETWORKS), '"v1"'
        helper = helper_thread(prompter=False, locations=True, locations_source=source)
        wait_for(lambda: helper.call(lambda h: h.locations.state()["loaded"]), 10, "v1")
        served.body, served.etag = mmdb.build({"192.0.2.0/24": BERLIN}), '"v2"'
        first, second = helper.call(lambda h: (h.locations.update(), h.locations.update()))
        first.result(10)
        assert second.result(10)["error"] == ""
        assert served.requests == [("", 200), ('"v1"', 200), ('"v2"', 304)]


def test_bad_addresses_and_sources_are_refused_and_change_nothing(
    system_bus, polkitd, netns, tmp_path
):
    polkitd()
    with helper_process(system_bus, netns, tmp_path) as root:
        for addresses, expected in (
            (["192.0.2.1", "example.org"], "'example.org' is not an IP address"),
            (["::1"] * 1025, "1025 items are too many"),
        ):
            with pytest.raises(dbus.DBusException) as error:
                root.call("LocateAddresses", addresses)
            assert error_name(error.value) == "InvalidArgument"
            assert expected in error.value.get_dbus_message()
        with pytest.raises(dbus.DBusException) as error:
            root.call("LocateAddresses", "192.0.2.1", signature="s")
        assert error_name(error.value) == "InvalidArgument"
        before = dict(root.call("GetSettings"))
        for values in ({"locations_source": "file:///etc/shadow"},
                       {"locations_source": "/var/lib/netwarden/x.mmdb"},
                       {"locations": True, "locations_source": "https://a b/"},
                       {"locations": "yes"}):  # fmt: skip
            with pytest.raises(dbus.DBusException) as error:
                root.call("SetSettings", values)
            assert error_name(error.value) == "InvalidArgument"
            assert error.value.get_dbus_message().startswith("locations")
        assert dict(root.call("GetSettings")) == before
        with pytest.raises(dbus.DBusException) as error:
            root.call("UpdateLocationDatabase")
        assert error_name(error.value) == "InvalidArgument"
        assert "is off" in error.value.get_dbus_message()


@pytest.mark.parametrize(
    ("method", "arguments", "action"),
    [
        ("LocateAddresses", (["192.0.2.1"],), ACTION_MONITOR),
        ("GetLocationDatabase", (), ACTION_MONITOR),
        ("UpdateLocationDatabase", (), ACTION_SETTINGS),
    ],
)
def test_location_methods_need_their_action(
    system_bus, polkitd, netns, tmp_path, method, arguments, action
):
    polkitd(grant=sorted(ACTIONS - {action}), deny=[action])
    with helper_process(system_bus, netns, tmp_path):
        nobody = ApiClient(system_bus, uid=NOBODY)
        with pytest.raises(dbus.DBusException) as error:
            nobody.call(method, *arguments)
        assert error_name(error.value) == "NotAuthorized"
        nobody.close()
