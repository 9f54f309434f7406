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
from netwarden_common.rules import Rule, normalize_host
from netwarden_helper.blocklists import locations as blocklist_locations
from netwarden_helper.blocklists.formats import list_name, parse_list
from netwarden_helper.blocklists.locations import SourceError, checked_source
from netwarden_helper.blocklists.sources import download
from netwarden_helper.policy.answers import Answer, AnswerError, rule_for
from netwarden_helper.policy.domain_lists import DomainMatcher
from netwarden_helper.policy.engine import Flow
from netwarden_helper.policy.public_suffix import registrable_domain
from netwarden_helper.storage.store import _MIGRATIONS, SCHEMA_VERSION, Store
from tests.fixtures.api import ApiClient, error_name
from tests.fixtures.dns_server import dns_server
from tests.fixtures.helper import running_helper
from tests.fixtures.processes import wait_for
from tests.fixtures.traffic import recorder
from tests.fixtures.users import NOBODY
from tests.test_ctl import ctl

PORT = 8080
HTTP_PORT = 8081
THIRD_V4 = "192.0.2.3"  # a third address of the peer's

# Formats, parsing and matching

# One file per format, written from the format's public description: a line of each kind
# (names from the documentation domains), with what it must give.
FORMAT_FILES = {
    "hosts": (
        "# StevenBlack-style hosts file\n"
        "127.0.0.1 localhost\n"
        "::1 localhost ip6-localhost\n"
        "0.0.0.0 0.0.0.0\n"
        "0.0.0.0 Ads.Example.COM tracker.example.net   # two on a line\n"
        "127.0.0.1 pixel.example.org\n"
        ":: v6.example.org\n"
        "0:0:0:0:0:0:0:0 long-v6.example.org\n"
        "::1 loop-v6.example.org\n"
        "192.168.1.1 router.lan\n"
        "0.0.0.0\n"
        "0.0.0.0 not_a-valid!name\n"
    ),
    "domains": (
        "# one a line\nplain.example.info\ntrailing-dot.example.\nBÜCHER.example\nnot a name\n"
    ),
    "wildcard": "# wildcard\n*.ads.example.com\n*.tracker.example.net\n*.\n",
    "leading-dot": "# leading dot\n.ads.example.com\n.tracker.example.net\n..bad\n",
    "adblock": (
        "[Adblock Plus 2.0]\n"
        "! Title: a test list\n"
        "||ads.example.com^\n"
        "||tracker.example.net^\n"
        "||third-party.example.org^$third-party\n"
        "@@||allowed.example.org^\n"
        "example.org##.banner\n"
        "/banner/*/ad.\n"
        "||bad name.example^\n"
    ),
    "dnsmasq": (
        "# dnsmasq\n"
        "address=/ads.example.com/0.0.0.0\n"
        "address=/tracker.example.net/\n"
        "address=/a.example.org/b.example.org/#\n"
        "server=/c.example.org/\n"
        "local=/d.example.org/\n"
        "address=/router.example/192.168.1.1\n"
        "server=/corp.example/10.0.0.1\n"
        "cache-size=1000\n"
        "address=/bad name.example/0.0.0.0\n"
    ),
    "unbound": (
        "server:\n"
        "# unbound\n"
        'local-zone: "ads.example.com" always_nxdomain\n'
        "local-zone: tracker.example.net. static\n"
        'local-zone: "a.example.org" refuse\n'
        'local-data: "b.example.org A 0.0.0.0"\n'
        'local-zone: "corp.example" transparent\n'
        'local-data: "host.corp.example A 192.0.2.9"\n'
        'local-zone: "x.example" no_such_type\n'
    ),
    "cidr": (
        "; DROP-style list\n"
        "# another comment\n"
        "192.0.2.0/24 ; SBL0001\n"
        "198.51.100.7\n"
        "2001:db8:4::/48\n"
        "0.0.0.0/0\n"
        "not-an-address\n"
        "127.0.0.0/8\n"
        "10.0.0.0/8\n"
        "192.168.1.0/24\n"
        "224.0.0.0/24\n"
        "fe80::/10\n"
    ),
}
EXPECTED = {  # format: (blocked names, accepted, ignored by kind, rejected)
    "hosts": ({"ads.example.com", "tracker.example.net", "pixel.example.org", "v6.example.org",
               "long-v6.example.org", "loop-v6.example.org"},
              5, {"comment": 1, "local": 3, "not_blocking": 1}, 2),
    "domains": ({"plain.example.info", "trailing-dot.example", "xn--bcher-kva.example"},
                3, {"comment": 1}, 1),
    "wildcard": ({"ads.example.com", "tracker.example.net"}, 2, {"comment": 1}, 1),
    "leading-dot": ({"ads.example.com", "tracker.example.net"}, 2, {"comment": 1}, 1),
    "adblock": ({"ads.example.com", "tracker.example.net"}, 2,
                {"comment": 2, "adblock_rule": 4}, 1),
    "dnsmasq": ({"ads.example.com", "tracker.example.net", "a.example.org", "b.example.org",
                 "c.example.org", "d.example.org"}, 5,
                {"comment": 1, "not_blocking": 2, "directive": 1}, 1),
    "unbound": ({"ads.example.com", "tracker.example.net", "a.example.org", "b.example.org"},
                4, {"directive": 2, "comment": 1, "not_blocking": 1}, 1),
    "cidr": (set(), 3, {"comment": 2, "local_network": 5}, 2),
}  # fmt: skip
UNLISTED = ["allowed.example.org", "third-party.example.org", "router.lan", "router.example",
            "corp.example", "host.corp.example", "localhost", "example.com"]  # fmt: skip


@pytest.mark.parametrize("file_format", sorted(FORMAT_FILES))
def test_each_format_is_detected_and_every_line_counted_once(file_format):
    text = FORMAT_FILES[file_format]
    parsed = parse_list(text.encode())
    names, accepted, ignored, rejected = EXPECTED[file_format]
    assert parsed.format == file_format
    assert (parsed.accepted, parsed.ignored, parsed.rejected) == (accepted, ignored, rejected)
    assert accepted + sum(ignored.values()) + rejected == len(text.splitlines())
    matcher = DomainMatcher.merged({1: parsed.entries})
    assert len(matcher) == len(names)
    for name in names:
        assert matcher.listed_by([name]) == 1, name
        assert matcher.listed_by(["sub." + name]) == 1, name
    for name in UNLISTED:
        assert matcher.listed_by([name]) is None, name


def test_a_cidr_list_blocks_the_addresses_in_its_networks():
    matcher = DomainMatcher.merged({4: parse_list(FORMAT_FILES["cidr"].encode()).entries})
    for address in ("192.0.2.0", "192.0.2.255", "198.51.100.7", "2001:db8:4::1",
                    "2001:db8:4:ffff::1"):  # fmt: skip
        assert matcher.listed_by([], address) == 4, address
    for address in ("192.0.3.0", "198.51.100.8", "2001:db8:5::1", "203.0.113.1", "::1",
                    "127.0.0.1", "10.1.2.3", "192.168.1.1", "224.0.0.251", "fe80::1"):  # fmt: skip
        assert matcher.listed_by(["some.example"], address) is None, address


def test_a_file_is_read_in_the_format_most_of_its_lines_have():
    mostly_adblock = "||a.example^\n||b.example^\nc.example\n"
    parsed = parse_list(mostly_adblock.encode())
    assert (parsed.format, parsed.accepted, parsed.ignored) == ("adblock", 2, {"adblock_rule": 1})
    mixed_names = "0.0.0.0 a.example\n0.0.0.0 b.example\n*.c.example\n.d.example\ne.example\n"
    parsed = parse_list(mixed_names.encode())
    assert (parsed.format, parsed.accepted, parsed.rejected) == ("hosts", 5, 0)
    assert parse_list(b"# only comments\n\n").format == "domains"
    with_bom = parse_list(b"\xef\xbb\xbf0.0.0.0 a.example\r\n0.0.0.0 b.example\r\n")
    assert (with_bom.format, with_bom.accepted, with_bom.rejected) == ("hosts", 2, 0)


def test_names_are_normalized_like_dns_answers():
    assert list_name("WWW.Example.ORG.") == "www.example.org"
    assert list_name("straße.example") == "xn--strae-oqa.example"  # IDNA2008, not "strasse"
    assert list_name("bücher.example") == "xn--bcher-kva.example"
    assert list_name("ads-.example.com") == "ads-.example.com"  # as found in real lists
    assert list_name("a-b-.c-.example") == "a-b-.c-.example"
    assert list_name("_dmarc.example.com") == "_dmarc.example.com"
    assert list_name("-bad.example") is None
    assert list_name("a" * 64 + ".example") is None
    assert list_name("192.0.2.1") is None
    assert list_name("exa mple.com") is None


def test_rules_and_dns_names_fold_international_names_with_idna2008():
    assert normalize_host("Straße.Example.") == "xn--strae-oqa.example"
    assert normalize_host("BÜCHER.example") == "xn--bcher-kva.example"
    assert normalize_host("ads-.example") == "ads-.example"


def test_a_listed_domain_blocks_itself_and_everything_under_it_whatever_its_suffix():
    lists = {1: "example.com\nwa.me\n1rx.io\nadj.st\n", 2: "ads.other.org\nzip\n"}
    matcher = DomainMatcher.merged({i: parse_list(t.encode()).entries for i, t in lists.items()})
    assert matcher.listed_by(["example.com"]) == 1
    assert matcher.listed_by(["a.b.c.example.com"]) == 1
    for short in ("x.wa.me", "x.1rx.io", "x.adj.st", "a.b.wa.me"):  # were let through
        assert matcher.listed_by([short]) == 1, short
    assert matcher.listed_by(["badexample.com"]) is None  # not a suffix by label
    assert matcher.listed_by(["other.org"]) is None  # a parent of a listed name is not listed
    assert matcher.listed_by(["x.ads.other.org"]) == 2
    assert matcher.listed_by(["anything.zip"]) == 2  # a listed top-level domain means it
    assert matcher.listed_by(["fine.net", "www.example.com"]) == 1  # any of the flow's names
    assert matcher.listed_by([]) is None
    assert DomainMatcher().listed_by(["example.com"], "192.0.2.1") is None


def test_a_name_on_two_lists_belongs_to_the_older():
    parsed = {i: parse_list(b"a.example\nb.example\n").entries for i in (7, 3, 5)}
    matcher = DomainMatcher.merged(parsed)
    assert matcher.listed_by(["a.example"]) == 3 and len(matcher) == 2


def test_this_domain_is_the_registrable_domain_by_the_public_suffix_list():
    assert registrable_domain("x.wa.me") == "wa.me"
    assert registrable_domain("a.b.example.co.uk") == "example.co.uk"
    assert registrable_domain("site.github.io") == "site.github.io"
    assert registrable_domain("a.b.c.kawasaki.jp") == "b.c.kawasaki.jp"  # *.kawasaki.jp
    assert registrable_domain("a.host.unknown-tld") == "host.unknown-tld"
    assert registrable_domain("co.uk") is None and registrable_domain("com") is None
    flow = Flow(exe="/usr/bin/curl", dst="192.0.2.2", protocol="tcp", dport=443, uid=1000,
                sha256="0" * 64, hosts=("cdn.x.wa.me",))  # fmt: skip
    rule = rule_for(Answer("deny", scope="domain", lifetime="forever"), flow, 1, 1, 0.0)
    assert rule.destination == "*.wa.me"
    suffix = Flow(exe="/usr/bin/curl", dst="192.0.2.2", protocol="tcp", hosts=("github.io",))
    with pytest.raises(AnswerError, match=r"github\.io is a public suffix"):
        rule_for(Answer("allow", scope="domain", lifetime="forever"), suffix, 1, 1, 0.0)


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


def test_a_download_is_bounded_in_time_and_size_whatever_the_server_does():
    with (  # without the deadline, the trickle would hold the download for ever
        trickling_server(declared_length=1000) as url,
        pytest.raises(SourceError, match="took longer than 1 s"),
    ):
        download(url, "", "", 0, deadline_s=1.0)
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
    migrated = sqlite3.connect(state / "netwarden.db")
    assert migrated.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    migrated.close()
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


def test_every_format_loads_into_the_real_helper_counted_and_blocks_subdomains_and_networks(
    system_bus, polkitd, netns, tmp_path, blocklist_dir
):
    polkitd()
    files = {name: text for name, text in FORMAT_FILES.items() if name != "cidr"}
    files["short-names"] = "wa.me\n1rx.io\n"  # two labels, a two-letter top-level domain
    files["cidr"] = f"; one address\n{THIRD_V4}/32\n2001:db8:4::/48\n"
    files["cosmetic"] = "! only rules a firewall cannot use\nexample.org##.ad\n@@||ok.example^\n"
    for name, text in files.items():
        (blocklist_dir / f"{name}.txt").write_text(text)
    records = {"fine.test": netns.peer_v4, "cdn.x.wa.me": netns.peer_v6,
               "elsewhere.test": THIRD_V4}  # fmt: skip
    with (
        helper_process(system_bus, netns, tmp_path, blocklist_dir) as root,
        dns_server(netns.peer, netns.peer_v4, records),
        servers_on_three_addresses(netns),
    ):
        for name in files:
            root.call("AddBlocklist", {"source": str(blocklist_dir / f"{name}.txt")})
        wait_for(lambda: all(b.get("checked_at") for b in root.call("ListBlocklists")), 10,
                 "every list to be read")  # fmt: skip
        read = {b["name"]: dict(b) for b in root.call("ListBlocklists")}
        for name, (names, accepted, ignored, rejected) in EXPECTED.items():
            if name == "cidr":
                continue
            got = read[f"{name}.txt"]
            assert (got["format"], got["domains"], got["accepted"], dict(got["ignored"]),
                    got["rejected"], got["error"]) == (
                name, len(names), accepted, ignored, rejected, ""), name  # fmt: skip
            assert got["skipped"] == rejected + sum(ignored.values()) - ignored.get("comment", 0)
        assert (read["cidr.txt"]["format"], read["cidr.txt"]["networks"]) == ("cidr", 2)
        refused = read["cosmetic.txt"]
        assert refused["error"] == ("no host names or networks in it (read as adblock: "
                                    "0 accepted, 0 rejected, ignored: 1 comment, "
                                    "2 adblock_rule)")  # fmt: skip
        assert connect_to(netns, "fine.test") == "connected"
        assert connect_to(netns, "cdn.x.wa.me") == "refused", "under a two-label listed name"
        assert connect_to(netns, "elsewhere.test") == "refused", "its address is listed"
        status = root.call("GetStatus")["counters"]
        assert status["blocklisted"] == 2


class ListServer:
    """An HTTP server for one blocklist that honours If-None-Match, recording each request
    as (If-None-Match sent, status answered); paths in `missing` are not found."""

    def __init__(self):
        self.body, self.etag, self.failing = b"", "", False
        self.requests, self.missing = [], set()


@contextmanager
def list_server(netns):
    served = ListServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            asked = self.headers.get("If-None-Match", "")
            status = 500 if served.failing else 304 if asked == served.etag else 200
            status = 404 if self.path in served.missing else status
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


def test_each_list_counts_what_it_blocked_across_restarts_and_one_turned_off_blocks_nothing(
    system_bus, polkitd, netns, tmp_path, blocklist_dir
):
    polkitd()
    (blocklist_dir / "ads.hosts").write_text("0.0.0.0 ads.example.test\n")
    url = f"http://{netns.peer_v4}:{HTTP_PORT}/trackers"
    records = {"ads.example.test": netns.peer_v6, "tracker.test": THIRD_V4}

    def lists(root):
        return {b["name"]: dict(b) for b in root.call("ListBlocklists")}

    with (
        dns_server(netns.peer, netns.peer_v4, records),
        servers_on_three_addresses(netns),
        list_server(netns) as served,
    ):
        served.body, served.etag = b"tracker.test\n", '"v1"'
        with helper_process(system_bus, netns, tmp_path, blocklist_dir) as root:
            ads = root.call("AddBlocklist", {"source": str(blocklist_dir / "ads.hosts")})["id"]
            trackers = root.call("AddBlocklist", {"source": url})["id"]
            wait_for(lambda: all(b.get("updated_at") for b in root.call("ListBlocklists")), 10,
                     "both lists to load")  # fmt: skip
            assert [connect_to(netns, "ads.example.test") for _ in range(2)] == ["refused"] * 2
            assert connect_to(netns, "tracker.test") == "refused"
            wait_for(lambda: lists(root)["ads.hosts"]["hits"] == 2, 10, "the hits stored")
            counted = lists(root)
            assert counted["trackers"]["hits"] == 1
            assert counted["ads.hosts"]["last_hit"] >= counted["ads.hosts"]["updated_at"]
            table = ctl("blocklists", uid=0).stdout.splitlines()
            column = table[0].split().index("BLOCKED")
            assert [line.split()[column] for line in table[1:]] == ["2", "1"]

            off = ctl("blocklists", "disable", ads, trackers, uid=0)
            assert off.stdout.splitlines() == [
                f"blocklist {ads} (ads.hosts) is off",
                f"blocklist {trackers} (trackers) is off",
            ]
            assert connect_to(netns, "ads.example.test") == "connected", "off blocks nothing"
            assert connect_to(netns, "tracker.test") == "connected"
            downloads = len(served.requests)
            root.call("UpdateBlocklists")
            assert len(served.requests) == downloads, "a list turned off is not downloaded"
            assert [(b["enabled"], b["hits"]) for b in lists(root).values()] == [
                (False, 2), (False, 1)]  # fmt: skip
        with helper_process(system_bus, netns, tmp_path, blocklist_dir) as root:
            assert [(b["enabled"], b["hits"]) for b in lists(root).values()] == [
                (False, 2), (False, 1)], "kept across a restart"  # fmt: skip
            assert connect_to(netns, "ads.example.test") == "connected"
            with pytest.raises(dbus.DBusException) as missing:
                root.call("SetBlocklistEnabled", 999, True)
            assert (error_name(missing.value), missing.value.get_dbus_message()) == (
                "NotFound", "there is no blocklist 999")  # fmt: skip
            on = root.call("SetBlocklistEnabled", ads, True)
            assert (on["enabled"], on["hits"], on["domains"]) == (True, 2, 1)
            assert connect_to(netns, "ads.example.test") == "refused"
            wait_for(lambda: lists(root)["ads.hosts"]["hits"] == 3, 10, "the third hit")
            assert len(served.requests) == downloads, "still not downloaded: still off"


def test_a_list_turned_off_is_never_due_and_the_hourly_check_keeps_the_matcher(helper_thread):
    """Else each hour rebuilds the matcher (up to a million names) and re-decides every
    held flow, for a list that blocks nothing."""
    helper = helper_thread(prompter=False)
    off = helper.call(lambda h: h.blocklists.add({"source": "http://192.0.2.1/hosts",
                                                  "enabled": False}))  # fmt: skip
    helper.call(lambda h: h.blocklists.update()).result(10)  # the jobs so far are done
    in_use = helper.call(lambda h: h.rule_book.blocklist)
    for _hour in range(3):
        helper.call(lambda h: h.blocklists.update_stale())  # what the hourly timer calls
    (kept,) = helper.call(lambda h: h.blocklists.update()).result(10)  # after those
    assert helper.call(lambda h: h.rule_book.blocklist) is in_use
    assert (kept.id, kept.enabled, kept.checked_at) == (off.id, False, None)


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
        wait_for(lambda: the_blocklist(root).get("checked_at"), 10, "the list to load")
        nobody = ApiClient(system_bus, uid=NOBODY)
        before = list(root.call("ListBlocklists"))
        with pytest.raises(dbus.DBusException) as error:
            nobody.call(method, *arguments)
        assert error_name(error.value) == "NotAuthorized"
        assert list(root.call("ListBlocklists")) == before
        nobody.close()
