"""Blocklists: parsing and matching (pure), sources and copies (files), and end to end:
a real helper in a netns, a DNS server and an HTTP server in the peer namespace, the real
dbus-daemon and polkitd."""

import json
import sqlite3
import stat
import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dbus
import pytest

from netwarden_common.api import ACTION_MANAGE_RULES, ACTION_MONITOR, ACTIONS
from netwarden_common.files import write_private
from netwarden_common.rules import Rule
from netwarden_helper.blocklists import locations as blocklist_locations
from netwarden_helper.blocklists import sources as blocklist_sources
from netwarden_helper.blocklists.locations import SourceError, checked_source
from netwarden_helper.blocklists.sources import download
from netwarden_helper.policy.domain_lists import DomainMatcher, normalize_domain, parse_list
from netwarden_helper.storage.store import _MIGRATIONS, SCHEMA_VERSION, Store
from tests.fixtures.api import ApiClient, error_name
from tests.fixtures.dns_server import dns_server
from tests.fixtures.helper import running_helper
from tests.fixtures.processes import wait_for
from tests.fixtures.traffic import recorder
from tests.fixtures.users import NOBODY

PORT = 8080
HTTP_PORT = 8081
THIRD_V4 = "192.0.2.3"  # a third address of the peer's

# Parsing and matching


def test_hosts_files_and_domain_lists_give_their_names():
    text = """# a hosts file
127.0.0.1 localhost
::1 localhost ip6-localhost
0.0.0.0 0.0.0.0
0.0.0.0 Ads.Example.COM tracker.example.net   # two on a line
127.0.0.1 pixel.example.org
:: v6.example.org
192.168.1.1 router.lan
0.0.0.0
||adblock-syntax.example^
not a valid name!
plain.example.info
trailing-dot.example.
BÜCHER.example
"""
    parsed = parse_list(text)
    assert parsed.domains == {
        "ads.example.com", "tracker.example.net", "pixel.example.org", "v6.example.org",
        "plain.example.info", "trailing-dot.example", "xn--bcher-kva.example",
    }  # fmt: skip
    # 3 local names, 0.0.0.0 as a name, a real address, a bare sink, adblock, a sentence
    assert parsed.skipped == 8


def test_names_are_normalized_like_dns_answers():
    assert normalize_domain("WWW.Example.ORG.") == "www.example.org"
    assert normalize_domain("bücher.example") == "xn--bcher-kva.example"
    assert normalize_domain("localhost") is None
    assert normalize_domain("-bad.example") is None
    assert normalize_domain("a" * 64 + ".example") is None


def test_a_listed_domain_blocks_itself_and_its_subdomains_only():
    matcher = DomainMatcher.merged({1: {"example.com"}, 2: {"ads.other.org", "com", "co.uk"}})
    assert matcher.listed_by(["example.com"]) == 1
    assert matcher.listed_by(["ads.example.com"]) == 1
    assert matcher.listed_by(["a.b.c.example.com"]) == 1
    assert matcher.listed_by(["badexample.com"]) is None  # not a suffix by label
    assert matcher.listed_by(["other.org"]) is None  # a parent of a listed name is not listed
    assert matcher.listed_by(["x.ads.other.org"]) == 2
    assert matcher.listed_by(["elsewhere.com", "www.example.co.uk"]) is None  # bare suffixes
    assert matcher.listed_by(["fine.net", "www.example.com"]) == 1  # any of the flow's names
    assert matcher.listed_by([]) is None
    assert DomainMatcher().listed_by(["example.com"]) is None


def test_a_name_on_two_lists_belongs_to_the_older():
    matcher = DomainMatcher.merged({7: {"a.example"}, 3: {"a.example"}})
    assert matcher.listed_by(["a.example"]) == 3 and len(matcher) == 1


# Sources and copies


def test_only_http_urls_and_files_in_the_blocklist_folders_are_accepted(tmp_path):
    allowed, elsewhere = tmp_path / "blocklists", tmp_path / "elsewhere"
    allowed.mkdir(), elsewhere.mkdir()
    (allowed / "ads.txt").write_text("ads.example\n")
    (elsewhere / "secret").write_text("root:x:0:0\n")
    (allowed / "escape").symlink_to(elsewhere / "secret")
    (allowed / "folder").mkdir()
    dirs = (allowed,)
    assert checked_source("https://lists.example/hosts", dirs) == "https://lists.example/hosts"
    assert checked_source(str(allowed / "ads.txt"), dirs) == str(allowed / "ads.txt")
    refused = {
        "file:///etc/shadow": "http:// or https://",
        "ftp://lists.example/hosts": "http:// or https://",
        "https://": "http:// or https://",
        "hosts.txt": "http:// or https://",
        "/etc/shadow": f"only from {allowed}/",
        str(elsewhere / "secret"): f"only from {allowed}/",
        f"{allowed}/../elsewhere/secret": f"only from {allowed}/",
        str(allowed / "escape"): f"only from {allowed}/",
        str(allowed / "missing.txt"): "No such file",
        str(allowed / "folder"): "not a regular file",
        "http://a.example/with space": "without spaces",
        "http://lists.example/é.txt": "must be ASCII",
        "http://[::1/hosts": "not a valid URL",
        "http://lists.example:99999/hosts": "not a valid URL",
        "": "http(s) URL",
    }
    for source, message in refused.items():
        with pytest.raises(SourceError) as error:
            checked_source(source, dirs)
        assert message in str(error.value), source


@contextmanager
def trickling_server(declared_length):
    """An HTTP server on loopback that sends its body one byte every 0.1 s, for ever."""
    stop = threading.Event()

    class Trickle(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(declared_length))
            self.end_headers()
            while not stop.wait(0.1):
                self.wfile.write(b"a")
                self.wfile.flush()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hosts"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


def test_a_download_is_bounded_in_time_and_size_whatever_the_server_does(monkeypatch):
    monkeypatch.setattr(blocklist_sources, "TIMEOUT_S", 1.0)
    with (  # without the deadline, the trickle would hold the download for ever
        trickling_server(declared_length=1000) as url,
        pytest.raises(SourceError, match="took longer than 1 s"),
    ):
        download(url, "", "", 0)
    with (
        trickling_server(declared_length=blocklist_locations.MAX_BYTES + 1) as url,
        pytest.raises(SourceError, match="larger than 64 MiB"),
    ):
        download(url, "", "", 0)


def test_copies_are_replaced_whole_and_private(tmp_path):
    copy = tmp_path / "1.list"
    write_private(copy, b"one.example\n")
    write_private(copy, b"two.example\n")
    assert copy.read_bytes() == b"two.example\n"
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1.list"]


def test_a_version_2_database_keeps_its_rules_and_gains_blocklists(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    db = sqlite3.connect(state / "netwarden.db")
    for version in (1, 2):
        db.executescript(_MIGRATIONS[version])
    db.execute("INSERT INTO rules (action, exe, destination, created, hits) "
               "VALUES ('deny', '/usr/bin/curl', '*.example.org', 1.5, 4)")  # fmt: skip
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()
    store = Store(state)
    (rule,) = store.rules()
    assert (rule.action, rule.exe, rule.destination, rule.hits) == (
        "deny", "/usr/bin/curl", "*.example.org", 4)  # fmt: skip
    assert store.blocklists() == []
    added = store.add_blocklist("https://lists.example/hosts", "hosts", True)
    store.close()
    reopened = Store(state)
    assert reopened.blocklists() == [added]
    assert reopened.rules() == [rule]
    assert SCHEMA_VERSION == 3
    assert reopened.add_rule(Rule("allow")).id == rule.id + 1


# End to end


@pytest.fixture
def blocklist_dir(tmp_path):
    folder = tmp_path / "blocklists"
    folder.mkdir()
    return folder


@contextmanager
def helper_process(system_bus, netns, tmp_path, blocklist_dir):
    with running_helper(system_bus, netns.host, tmp_path / "state",
                        f"--blocklists-dir={blocklist_dir}") as process:  # fmt: skip
        client = ApiClient(system_bus, uid=0)
        try:
            yield client
        finally:
            client.close()
        assert process.poll() is None, "the helper died"


def connect_to(netns, name):
    result = netns.host.run(
        sys.executable, "-m", "tests.fixtures.client", "tcp", name, str(PORT),
        f"--resolver={netns.peer_v4}", "--timeout=5", timeout=40,
    )  # fmt: skip
    return json.loads(result.stdout)["result"]


def servers_on_three_addresses(netns):
    """Recording servers on the peer's two addresses and a third one. A flow carries every
    name its address was resolved from, so names meant to be told apart need addresses
    of their own (and the DNS server's must not be one of a listed name)."""
    netns.peer.run("ip", "addr", "add", f"{THIRD_V4}/24", "dev", "nw1")
    return recorder(netns.peer, (netns.peer_v4, netns.peer_v6, THIRD_V4), PORT)


def the_blocklist(root):
    (blocklist,) = root.call("ListBlocklists")
    return dict(blocklist)


def test_200000_domains_load_in_under_2_s_and_block_a_listed_domain(
    system_bus, polkitd, netns, tmp_path, blocklist_dir
):
    lines = [f"0.0.0.0 host{i}.tracker{i % 997}.example" for i in range(199_999)]
    (blocklist_dir / "big.hosts").write_text("\n".join([*lines, "0.0.0.0 blocked.test"]))
    polkitd()
    records = {"fine.test": netns.peer_v4, "www.blocked.test": netns.peer_v6,
               "host123.tracker123.example": THIRD_V4}  # fmt: skip
    with (
        helper_process(system_bus, netns, tmp_path, blocklist_dir) as root,
        dns_server(netns.peer, netns.peer_v4, records),
        servers_on_three_addresses(netns) as servers,
    ):
        began = time.monotonic()
        added = root.call("AddBlocklist", {"source": str(blocklist_dir / "big.hosts"),
                                           "name": "big"})  # fmt: skip
        wait_for(lambda: the_blocklist(root)["domains"] == 200_000, 10, "the list to load")
        elapsed = time.monotonic() - began
        assert elapsed < 2.0, elapsed
        assert (added["name"], added["enabled"]) == ("big", True)
        assert connect_to(netns, "fine.test") == "connected"
        assert connect_to(netns, "www.blocked.test") == "refused"
        assert connect_to(netns, "host123.tracker123.example") == "refused"
        assert servers.tcp_accepts == 1
        assert root.call("GetStatus")["counters"]["blocklisted"] == 2

        root.call("AddRule", {"action": "allow", "destination": "www.blocked.test"})
        assert connect_to(netns, "www.blocked.test") == "connected", "the user's rule wins"
        root.call("RemoveBlocklist", added["id"])
        assert connect_to(netns, "host123.tracker123.example") == "connected"
        assert list(root.call("ListBlocklists")) == []


class ListServer:
    """An HTTP server for one blocklist that honours If-None-Match, recording each request
    as (If-None-Match sent, status answered)."""

    def __init__(self):
        self.body, self.etag, self.failing = b"", "", False
        self.requests = []


@contextmanager
def list_server(netns):
    served = ListServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            asked = self.headers.get("If-None-Match", "")
            status = 500 if served.failing else 304 if asked == served.etag else 200
            served.requests.append((asked, status))
            self.send_response(status)
            self.send_header("ETag", served.etag)
            self.send_header("Content-Length", str(len(served.body) if status == 200 else 0))
            self.end_headers()
            if status == 200:
                self.wfile.write(served.body)

        def log_message(self, *args):
            pass

    with netns.peer.entered():
        server = ThreadingHTTPServer((netns.peer_v4, HTTP_PORT), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_url_blocklist_is_downloaded_kept_on_304_and_on_failure_and_survives_a_restart(
    system_bus, polkitd, netns, tmp_path, blocklist_dir
):
    polkitd()
    url = f"http://{netns.peer_v4}:{HTTP_PORT}/hosts"
    records = {"ads.example.test": netns.peer_v6, "new.example.test": THIRD_V4}
    with (
        dns_server(netns.peer, netns.peer_v4, records),
        servers_on_three_addresses(netns),
    ):
        with (
            list_server(netns) as served,
            helper_process(system_bus, netns, tmp_path, blocklist_dir) as root,
        ):
            served.body, served.etag = b"0.0.0.0 ads.example.test\n", '"v1"'
            added = root.call("AddBlocklist", {"source": url})
            assert added["name"] == "hosts"
            wait_for(lambda: the_blocklist(root).get("updated_at"), 10, "the download")
            first = the_blocklist(root)
            assert (first["domains"], first["error"]) == (1, "")
            copy = tmp_path / "state" / "blocklists" / f"{added['id']}.list"
            assert copy.read_bytes() == served.body
            assert stat.S_IMODE(copy.stat().st_mode) == 0o600
            assert connect_to(netns, "ads.example.test") == "refused"

            (updated,) = root.call("UpdateBlocklists")
            assert served.requests == [("", 200), ('"v1"', 304)]
            assert (updated["domains"], updated["error"]) == (1, "")
            assert updated["updated_at"] == first["updated_at"] < updated["checked_at"]

            served.failing = True
            (failed,) = root.call("UpdateBlocklists")
            assert "HTTP 500" in failed["error"] and failed["domains"] == 1
            assert connect_to(netns, "ads.example.test") == "refused", "the old list stays"

            served.failing = False
            served.body, served.etag = b"new.example.test\n", '"v2"'
            (changed,) = root.call("UpdateBlocklists")
            assert (changed["domains"], changed["error"]) == (1, "")
            assert served.requests[-1] == ('"v1"', 200)
            assert connect_to(netns, "ads.example.test") == "connected"
            assert connect_to(netns, "new.example.test") == "refused"
        # The server is gone: the restarted helper blocks from its copy.
        with helper_process(system_bus, netns, tmp_path, blocklist_dir) as root:
            wait_for(lambda: connect_to(netns, "new.example.test") == "refused", 10,
                     "the copy to load")  # fmt: skip
            assert the_blocklist(root)["error"] == ""


def test_bad_subscriptions_are_refused_by_name_and_change_nothing(
    system_bus, polkitd, netns, tmp_path, blocklist_dir
):
    polkitd()
    (blocklist_dir / "ok.txt").write_text("ok.example\n")
    with helper_process(system_bus, netns, tmp_path, blocklist_dir) as root:
        root.call("AddBlocklist", {"source": str(blocklist_dir / "ok.txt"), "enabled": False})
        before = list(root.call("ListBlocklists"))
        for values, expected in [
            ({"source": "/etc/shadow"}, f"only from {blocklist_dir}/ or "
                                        "/usr/share/netwarden/blocklists/"),
            ({"source": "file:///etc/shadow"}, "http:// or https://"),
            ({"source": str(blocklist_dir / "ok.txt")}, "already subscribed"),
            ({"name": "no source"}, "source: missing"),
            ({"source": "https://a.example/x", "colour": "red"}, "colour: unknown field"),
            ({"source": "https://a.example/x", "enabled": "yes"}, "enabled: must be bool"),
            ({"source": "https://a.example/x", "name": "x" * 201}, "name: at most 200"),
        ]:  # fmt: skip
            with pytest.raises(dbus.DBusException) as error:
                root.call("AddBlocklist", values)
            assert error_name(error.value) == "InvalidArgument"
            assert expected in error.value.get_dbus_message(), values
        with pytest.raises(dbus.DBusException) as error:
            root.call("RemoveBlocklist", 4242)
        assert error_name(error.value) == "NotFound"
        assert list(root.call("ListBlocklists")) == before
        assert before[0]["domains"] == 0, "a disabled list is not loaded"


@pytest.mark.parametrize(
    ("method", "arguments", "action"),
    [
        ("ListBlocklists", (), ACTION_MONITOR),
        ("AddBlocklist", ({"source": "https://lists.example/hosts"},), ACTION_MANAGE_RULES),
        ("RemoveBlocklist", (1,), ACTION_MANAGE_RULES),
        ("UpdateBlocklists", (), ACTION_MANAGE_RULES),
    ],
)
def test_blocklist_methods_need_their_action(
    system_bus, polkitd, netns, tmp_path, blocklist_dir, method, arguments, action
):
    (blocklist_dir / "ok.txt").write_text("ok.example\n")
    polkitd(grant=sorted(ACTIONS - {action}), deny=[action])
    with helper_process(system_bus, netns, tmp_path, blocklist_dir) as root:
        root.call("AddBlocklist", {"source": str(blocklist_dir / "ok.txt")})
        nobody = ApiClient(system_bus, uid=NOBODY)
        before = list(root.call("ListBlocklists"))
        with pytest.raises(dbus.DBusException) as error:
            nobody.call(method, *arguments)
        assert error_name(error.value) == "NotAuthorized"
        assert list(root.call("ListBlocklists")) == before
        nobody.close()
