"""OpenSnitch rule files converted to Netwarden rules: the pure conversion on a set of
rule files written here from OpenSnitch's documented format (every operand, operator
type, action and duration; the expressions its UI writes), the allow rules held back
when a deny rule does not convert, then `netwardenctl import-opensnitch` against a real
helper, up to 10,000 rule files."""

import json
import os
import subprocess
import sys
import time

import pytest

from netwarden.cli.opensnitch import convert_documents, convert_folder, convert_rule
from netwarden.cli.opensnitch.regexps import RegexpError, alternatives
from netwarden_common.api import ACTION_MANAGE_RULES, ACTION_MONITOR
from netwarden_common.rule_files import load_rules
from tests.fixtures.api import ApiClient
from tests.fixtures.traffic import CHECKOUT

CREATED = "2024-03-01T10:00:00.123456789+01:00"


def rule(name, operator, action="allow", duration="always", **extra):
    """An OpenSnitch rule as its daemon writes it to disk."""
    return {
        "created": CREATED,
        "updated": CREATED,
        "name": name,
        "enabled": True,
        "precedence": False,
        "action": action,
        "duration": duration,
        "operator": operator,
        **extra,
    }


def op(operand, data, kind="simple", sensitive=False):
    return {"type": kind, "operand": operand, "sensitive": sensitive, "data": data, "list": None}


def listed(*operators):
    return {
        "type": "list",
        "operand": "list",
        "sensitive": False,
        "data": json.dumps(list(operators)),
        "list": list(operators),
    }


# What OpenSnitch's UI writes (ui/opensnitch/dialogs: prompt and rules editor).
UI_LAN = (
    r"^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|169\.254\.\d{1,3}\.\d{1,3}|192\.168\.\d{1,3}\.\d{1,3}"
    r"|172\.1[6-9]\.\d+\.\d+|172\.2[0-9]\.\d+\.\d+|172\.3[0-1]+\.\d{1,3}\.\d{1,3}"
    r"|10\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|f[cde].*::.*)$"
)
PYTHON = os.path.realpath("/usr/bin/python3")

# file name -> (rule, the Netwarden fields expected (a list: one rule each), or the
# reasons it is skipped)
CONVERTED = {
    "allow-curl.json": (
        rule("allow-curl", op("process.path", "/usr/bin/curl")),
        {"action": "allow", "exe": "/usr/bin/curl"},
    ),
    "glob-chars.json": (
        rule("glob-chars", op("process.path", "/opt/odd[1]/app*")),
        {"action": "allow", "exe": "/opt/odd[[]1]/app[*]"},
    ),
    "deny-host.json": (
        rule("deny-host", op("dest.host", "Tracker.Example.COM"), "deny"),
        {"action": "deny", "drop": True, "destination": "tracker.example.com"},
    ),
    "reject-ip.json": (
        rule("reject-ip", op("dest.ip", "192.0.2.10"), "reject"),
        {"action": "deny", "destination": "192.0.2.10"},
    ),
    "net.json": (
        rule("net", op("dest.network", "10.1.2.3/8", "network")),
        {"action": "allow", "destination": "10.0.0.0/8"},
    ),
    "lan.json": (
        rule("lan", op("dest.network", "LAN", "network")),
        {
            "action": "allow",
            "destination": "10.0.0.0/8, 127.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7",
        },
    ),
    "multicast.json": (
        rule("multicast", op("dest.network", "MULTICAST", "network"), "deny"),
        {"action": "deny", "drop": True, "destination": "224.0.0.0/4, ff00::/8"},
    ),
    "ui-lan.json": (
        rule("ui-lan", op("dest.ip", UI_LAN, "regexp")),
        {
            "action": "allow",
            "destination": "10.0.0.0/8, 127.0.0.0/8, 169.254.0.0/16, 172.16.0.0/12, "
            "192.168.0.0/16, ::1, fc00::/7, fe80::/10",
        },
    ),
    "ip-alternation.json": (
        rule("dns-servers", op("dest.ip", r"^(9\.9\.9\.9|149\.112\.112\.112)$", "regexp")),
        {"action": "allow", "destination": "9.9.9.9, 149.112.112.112"},
    ),
    "ip-prefix.json": (
        rule("office", op("dest.ip", r"192\.168\.1\..*", "regexp")),
        {"action": "allow", "destination": "192.168.1.0/24"},
    ),
    "user.json": (rule("user", op("user.id", "1000")), {"action": "allow", "uid": 1000}),
    "user-name.json": (rule("root", op("user.name", "root")), {"action": "allow", "uid": 0}),
    "true.json": (
        rule("everything", op("true", ""), "deny", precedence=True, description="block all"),
        {
            "action": "deny",
            "drop": True,
            "priority": 1,
            "note": "OpenSnitch: everything — block all",
        },
    ),
    "list.json": (
        rule(
            "firefox-https",
            listed(
                op("process.path", "/usr/lib/firefox/firefox"),
                op("dest.port", "443"),
                op("protocol", "TCP"),
                op("user.id", "1000"),
                op("dest.host", r"^(.*\.)?mozilla\.org$", "regexp"),
            ),
        ),
        {
            "action": "allow",
            "exe": "/usr/lib/firefox/firefox",
            "ports": "443",
            "protocol": "tcp",
            "uid": 1000,
            "destination": "*.mozilla.org",
        },
    ),
    "old-list.json": (
        rule(
            "telnet",
            {**listed(op("process.path", "/usr/bin/telnet"), op("dest.port", "23")), "list": []},
        ),
        {"action": "allow", "exe": "/usr/bin/telnet", "ports": "23"},
    ),
    "regexp-glob.json": (
        rule("opt-tools", op("process.path", r"^/opt/tools/.*$", "regexp")),
        {"action": "allow", "exe": "/opt/tools/*"},
    ),
    "any-program.json": (
        rule("ssh-anyone", listed(op("process.path", ".*", "regexp"), op("dest.port", "22"))),
        {"action": "allow", "ports": "22"},
    ),
    "paths.json": (
        rule("fetchers", op("process.path", r"^(/usr/bin/curl|/usr/bin/wget)$", "regexp")),
        [{"action": "allow", "exe": "/usr/bin/curl"}, {"action": "allow", "exe": "/usr/bin/wget"}],
    ),
    "appimage.json": (
        rule(
            "appimage",
            op("process.path", r"^/tmp/\.mount_Firefo[0-9A-Za-z]+\/.*firefox$", "regexp"),
        ),
        {"action": "allow", "exe": "/tmp/.mount_Firefo[0-9A-Za-z]*/*firefox"},
    ),
    "appimage-old.json": (
        rule(
            "appimage-old", op("process.path", r"^/tmp/\.mount_Tool[0-9A-Za-z]{6}/tool$", "regexp")
        ),
        {"action": "allow", "exe": "/tmp/.mount_Tool" + "[0-9A-Za-z]" * 6 + "/tool"},
    ),
    "snap.json": (
        rule(
            "snap",
            op("process.path", r"^\/snap\/firefox\/[0-9]+\/usr\/lib\/firefox\/firefox$", "regexp"),
        ),
        {"action": "allow", "exe": "/snap/firefox/[0-9]*/usr/lib/firefox/firefox"},
    ),
    "unanchored-path.json": (
        rule("curl-anywhere", op("process.path", "/bin/curl$", "regexp"), "deny"),
        [
            {"action": "deny", "drop": True, "exe": "/bin/curl"},
            {"action": "deny", "drop": True, "exe": "/*/bin/curl"},
        ],
    ),
    "regexp-literal.json": (
        rule("dns", listed(op("dest.ip", r"^9\.9\.9\.9$", "regexp"), op("protocol", "udp6"))),
        {"action": "allow", "destination": "9.9.9.9", "protocol": "udp"},
    ),
    "ports.json": (
        rule("web", op("dest.port", "^(53|80|443)$", "regexp")),
        {"action": "allow", "ports": "53,80,443"},
    ),
    "port-prefix.json": (
        rule("alt-http", op("dest.port", r"^80\d\d$", "regexp")),
        {"action": "allow", "ports": "8000-8099"},
    ),
    "port-range.json": (
        rule("syncthing", op("dest.port", "22000-22010", "range")),
        {"action": "allow", "ports": "22000-22010"},
    ),
    "protocols.json": (
        rule("dns-any", listed(op("protocol", "^(tcp|udp)$", "regexp"), op("dest.port", "53"))),
        [
            {"action": "allow", "protocol": "tcp", "ports": "53"},
            {"action": "allow", "protocol": "udp", "ports": "53"},
        ],
    ),
    "hosts.json": (
        rule(
            "ads", op("dest.host", r"^(ads\.example\.com|Track\.example\.net)$", "regexp"), "deny"
        ),
        {"action": "deny", "drop": True, "destination": "ads.example.com, track.example.net"},
    ),
    "ui-domain.json": (
        rule("example", op("dest.host", r"^(|.*\.)example\.org$", "regexp")),
        {"action": "allow", "destination": "*.example.org"},
    ),
    "ui-domain-old.json": (
        rule("example-old", op("dest.host", r"^(|.*\.)example\.net", "regexp")),
        {"action": "allow", "destination": "*.example.net"},
    ),
    "domains.json": (
        rule("domains", op("dest.host", r"^(.*\.)?(example\.org|example\.net)$", "regexp")),
        {"action": "allow", "destination": "*.example.net, *.example.org"},
    ),
    "below-deny.json": (
        rule("below", op("dest.host", r"^.*\.telemetry\.example$", "regexp"), "deny"),
        {"action": "deny", "drop": True, "destination": "*.telemetry.example"},
    ),
    "command.json": (
        rule("tool", op("process.command", "/usr/bin/python3 /opt/tool/run.py")),
        {"action": "allow", "exe": PYTHON, "script": "/opt/tool/run.py"},
    ),
    "disabled.json": (
        rule("off", op("dest.port", "25"), "deny", enabled=False),
        {"action": "deny", "drop": True, "ports": "25", "enabled": False},
    ),
}
SKIPPED = {
    "command-other.json": (
        rule("cmd", op("process.command", "/usr/bin/curl http://x")),
        [
            "operator (simple process.command): /usr/bin/curl is not an interpreter: Netwarden "
            "names a program by its path"
        ],
    ),
    "command-inline.json": (
        rule("inline", op("process.command", "/usr/bin/python3 -c print(1)")),
        ["operator (simple process.command): '/usr/bin/python3 -c print(1)' runs inline code"],
    ),
    "command-args.json": (
        rule("args", op("process.command", "/usr/bin/python3 /opt/tool/run.py --upload")),
        [
            f"operator (simple process.command): Netwarden matches {PYTHON} running "
            "/opt/tool/run.py whatever its other arguments (--upload): as an allow rule it would "
            "let more through"
        ],
    ),
    "parent.json": (
        rule("parent", op("process.parent.path", "/usr/bin/steam")),
        [
            "operator (simple process.parent.path): Netwarden rules have no parent-process "
            "condition (OpenSnitch matched a program whose parent, or any ancestor, is this path)"
        ],
    ),
    "user-unknown.json": (
        rule("who", op("user.name", "no-such-user-here")),
        ["operator (simple user.name): there is no user 'no-such-user-here' on this machine"],
    ),
    "uid-range.json": (
        rule("uids", op("user.id", "1000-1010", "range")),
        ["operator (range user.id): a range operator on user.id (only simple, regexp convert)"],
    ),
    "md5.json": (
        rule(
            "md5",
            listed(
                op("process.path", "/usr/bin/ssh"),
                op("process.hash.md5", "d41d8cd98f00b204e9800998ecf8427e"),
            ),
        ),
        [
            "operator.list[1] (simple process.hash.md5): Netwarden pins programs by "
            "sha256; an md5 hash cannot be turned into a sha256"
        ],
    ),
    "sha1.json": (
        rule("sha1", op("process.hash.sha1", "da39a3ee5e6b4b0d3255bfef95601890afd80709")),
        ["operator (simple process.hash.sha1): Netwarden pins programs by sha256"],
    ),
    "pid.json": (
        rule("pid", op("process.id", "4242")),
        ["operator (simple process.id): a process id changes on every run"],
    ),
    "env.json": (
        rule("env", op("process.env.LANG", "C")),
        ["operator (simple process.env.LANG): Netwarden rules do not match environment variables"],
    ),
    "source.json": (
        rule(
            "source",
            listed(
                op("source.ip", "192.0.2.1"),
                op("source.port", "5353"),
                op("source.network", "192.0.2.0/24", "network"),
            ),
        ),
        [
            "operator.list[0] (simple source.ip): Netwarden rules match the destination, "
            "not the source",
            "operator.list[1] (simple source.port): Netwarden rules do not match the source port",
            "operator.list[2] (network source.network): Netwarden rules match the destination",
        ],
    ),
    "iface.json": (
        rule("iface", listed(op("iface.out", "wlan0"), op("iface.in", "eth0"))),
        [
            "operator.list[0] (simple iface.out): Netwarden rules do not match network interfaces",
            "operator.list[1] (simple iface.in): Netwarden rules do not match network interfaces",
        ],
    ),
    "unreadable-list.json": (
        rule("allowlist", op("lists.domains", "/nonexistent/lists/ok", "lists")),
        [
            "operator (lists lists.domains): cannot read the list folder /nonexistent/lists/ok: "
            "No such file or directory"
        ],
    ),
    "md5-list.json": (
        rule("md5s", op("lists.hash.md5", "/etc/opensnitchd/md5s", "lists")),
        ["operator (lists lists.hash.md5): Netwarden pins programs by sha256"],
    ),
    "regexp-class.json": (
        rule("versioned", op("process.path", r"^/opt/app-[0-9]+/bin/app$", "regexp")),
        [
            "operator (regexp process.path): '^/opt/app-[0-9]+/bin/app$' repeats a character "
            "class ([0-9]+), which only those characters may fill and a glob's * lets any fill"
        ],
    ),
    "regexp-host.json": (
        rule("sub", op("dest.host", r"ads\.", "regexp")),
        ["operator (regexp dest.host): 'ads\\\\.' matches any name containing 'ads.'"],
    ),
    "below-allow.json": (
        rule("below", op("dest.host", r"^.*\.cdn\.example$", "regexp")),
        [
            "operator (regexp dest.host): '^.*\\\\.cdn\\\\.example$' matches the names under "
            "cdn.example, and *.cdn.example also cdn.example: as an allow rule it would let more "
            "through"
        ],
    ),
    "regexp-flags.json": (
        rule("flags", op("dest.host", r"(?i)^example\.org$", "regexp")),
        [
            "operator (regexp dest.host): the regular expression '(?i)^example\\\\.org$': it uses "
            "flags"
        ],
    ),
    "ipv6-pattern.json": (
        rule("v6", op("dest.ip", r"^2001:db8:.*$", "regexp")),
        ["operator (regexp dest.ip): '2001:db8:.*' is neither an address nor an IPv4 pattern"],
    ),
    "two-hosts.json": (
        rule("two", listed(op("dest.host", "a.example"), op("dest.ip", "192.0.2.3"))),
        [
            "operator.list[1] (simple dest.ip): a Netwarden rule has one "
            "destination; this rule also names one by dest.host (OpenSnitch required both)"
        ],
    ),
    "once.json": (
        rule("once", op("dest.port", "22"), duration="once"),
        ["duration once: a one-time decision"],
    ),
    "restart.json": (
        rule("restart", op("dest.port", "22"), duration="until restart"),
        ["duration 'until restart': it ended when OpenSnitch restarted"],
    ),
    "hour.json": (
        rule("hour", op("dest.port", "22"), duration="1h"),
        ["duration 1h: a temporary rule"],
    ),
    "bad-action.json": (
        rule("bad", op("dest.port", "22"), action="ask"),
        ["action 'ask': must be allow, deny or reject"],
    ),
    "icmp-port.json": (
        rule("icmp", listed(op("protocol", "icmp"), op("dest.port", "7"))),
        ["the converted rule is invalid: ports: icmp has no ports"],
    ),
    "bad-port.json": (
        rule("port", op("dest.port", "http")),
        ["operator (simple dest.port): 'http' is not a port"],
    ),
    "unknown.json": (
        rule("q", op("quota.sent.over", "1gb")),
        ["operator (simple quota.sent.over): unknown operand"],
    ),
}
EVERY_OPERAND = {
    "true", "process.path", "process.id", "process.command", "process.parent.path",
    "process.env.LANG", "process.hash.md5", "process.hash.sha1", "user.id", "user.name",
    "source.ip", "source.port", "source.network", "dest.ip", "dest.host", "dest.port",
    "dest.network", "protocol", "iface.in", "iface.out", "lists.domains", "lists.hash.md5",
    "list",
}  # fmt: skip
EVERY_TYPE = {"simple", "regexp", "network", "range", "list", "lists"}


def operators(operator):
    yield operator
    items = operator.get("list") or (
        json.loads(operator["data"]) if operator["type"] == "list" else []
    )
    for item in items:
        yield from operators(item)


def fields_of(converted):
    return {k: v for k, v in converted.rule.items() if k not in ("note", "created")}


@pytest.fixture
def opensnitch_folder(tmp_path):
    folder = tmp_path / "rules"
    folder.mkdir()
    for name, (document, _expected) in {**CONVERTED, **SKIPPED}.items():
        (folder / name).write_text(json.dumps(document, indent=2))
    (folder / "broken.json").write_text("{not json")
    (folder / "README.txt").write_text("not a rule file: ignored")
    return folder


def test_the_fixture_set_covers_every_operand_and_type():
    documents = [document for document, _ in (*CONVERTED.values(), *SKIPPED.values())]
    used = [o for document in documents for o in operators(document["operator"])]
    assert {o["operand"] for o in used} >= EVERY_OPERAND
    assert {o["type"] for o in used} >= EVERY_TYPE


def test_each_convertible_rule_becomes_the_expected_netwarden_rules(opensnitch_folder):
    conversion = convert_folder(opensnitch_folder)
    assert conversion.looser == [] and conversion.held_back == []
    converted = {}
    for item in conversion.converted:
        converted.setdefault(item.source, []).append(item)
    assert set(converted) == set(CONVERTED)
    for name, (document, expected) in CONVERTED.items():
        wanted = [{"enabled": True, **e} for e in (expected if isinstance(expected, list)
                                                   else [expected])]  # fmt: skip
        for each in wanted:
            each.pop("note", None)
        assert [fields_of(c) for c in converted[name]] == wanted, name
        note = {**(expected if isinstance(expected, dict) else {})}.get(
            "note", f"OpenSnitch: {document['name']}"
        )
        assert converted[name][0].rule["note"] == note
        assert converted[name][0].rule["created"] == pytest.approx(1709283600.123456)
    assert len(load_rules(conversion.rules_file())) == len(conversion.converted)


def test_each_other_rule_is_skipped_with_every_reason(opensnitch_folder):
    skipped = {item.source: item for item in convert_folder(opensnitch_folder).skipped}
    assert set(skipped) == {*SKIPPED, "broken.json"}
    for name, (document, reasons) in SKIPPED.items():
        assert skipped[name].name == document["name"]
        assert len(skipped[name].reasons) == len(reasons), (name, skipped[name].reasons)
        for got, wanted in zip(skipped[name].reasons, reasons, strict=True):
            assert got.startswith(wanted), (name, got)
    assert skipped["broken.json"].reasons[0].startswith("not a JSON file: ")


def notes(document):
    (first, *_) = convert_rule("rule.json", document)
    return first.warnings


def test_what_differs_from_opensnitch_is_said_in_a_note():
    assert notes(rule("dns", listed(op("protocol", "udp"), op("dest.port", "53")))) == (
        "protocol udp: OpenSnitch matches it on IPv4 only; Netwarden's udp covers IPv4 and IPv6",
    )
    assert notes(rule("old", op("dest.host", r"^(|.*\.)example\.net", "regexp"))) == (
        "'^(|.*\\\\.)example\\\\.net' has no '$': OpenSnitch also matched names that only "
        "begin with example.net (such as example.net.example.net)",
    )
    assert notes(rule("below", op("dest.host", r"^.*\.telemetry\.example$", "regexp"), "deny"))[
        0
    ].endswith("the deny rule blocks more than in OpenSnitch")
    assert "fc00::/7 and fe80::/10" in notes(rule("lan", op("dest.ip", UI_LAN, "regexp")))[0]
    assert notes(rule("tool", op("process.command", "python3 /opt/tool/run.py"))) == (
        f"python3 is {PYTHON} on this machine",
    )


def write_list(folder, name, lines):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join(lines) + "\n")
    return str(folder)


def test_lists_become_one_rule_with_a_destination_set(tmp_path):
    domains = write_list(tmp_path / "domains", "ads.txt", [
        "# a hosts file, as OpenSnitch reads lists.domains",
        "0.0.0.0 ads.example.com", "127.0.0.1 Track.example.net", "0.0.0.0 localhost",
        "0.0.0.0 *.doubleclick.example", "plain.example.org",
    ])  # fmt: skip
    (tmp_path / "domains" / ".hidden.txt").write_text("0.0.0.0 hidden.example\n")
    (tmp_path / "domains" / "README").write_text("0.0.0.0 readme.example\n")
    expressions = write_list(tmp_path / "regexps", "list.txt",
                             [r"^(|.*\.)example\.org$", r"^ads\.example\.net$"])  # fmt: skip
    ips = write_list(tmp_path / "ips", "ips.txt", ["192.0.2.1", "198.51.100.0/24", "junk"])
    nets = write_list(tmp_path / "nets", "nets.txt", ["203.0.113.0/25", "203.0.113.128/25"])
    cases = {
        ("lists.domains", domains, "deny"): "ads.example.com, track.example.net, "
        "*.doubleclick.example",
        ("lists.domains_regexp", expressions, "allow"): "ads.example.net, *.example.org",
        ("lists.ips", ips, "allow"): "192.0.2.1, 198.51.100.0/24",
        ("lists.nets", nets, "deny"): "203.0.113.0/24",
    }
    for (operand, folder, action), destination in cases.items():
        allowlist = listed(op("process.path", "/usr/bin/telegram-desktop"),
                           op(operand, folder, "lists"))  # fmt: skip
        (converted,) = convert_rule("list.json", rule("list", allowlist, action))
        assert converted.rule["destination"] == destination, operand
        assert converted.rule["exe"] == "/usr/bin/telegram-desktop"
    (domains_rule,) = convert_rule(
        "d.json", rule("d", op("lists.domains", domains, "lists"), "deny")
    )
    assert f"2 lines in {domains} are not '0.0.0.0 name' or '127.0.0.1 name' lines" in str(
        domains_rule.warnings
    )
    skipped = convert_rule("d.json", rule("d", op("lists.domains", domains, "lists")))
    assert "matches the names under doubleclick.example" in skipped.reasons[0]


def test_a_large_list_is_split_only_where_a_rule_cannot_hold_it(tmp_path):
    folder = write_list(tmp_path / "big", "hosts.txt",
                        [f"0.0.0.0 ads{n}.example.com" for n in range(25_000)])  # fmt: skip
    converted = convert_rule("big.json", rule("big", op("lists.domains", folder, "lists"), "deny"))
    assert [len(c.rule["destination"].split(", ")) for c in converted] == [10_000, 10_000, 5_000]
    assert "split into 3 rules" in converted[0].warnings[-1]


def telegram_rules(deny_operator, enabled=True):
    """A program allowed everywhere but denied some hosts, as in real rule sets."""
    return [
        ("allow-telegram.json", rule("allow-telegram",
                                     op("process.path", "/usr/bin/telegram-desktop"))),
        ("deny-telegram-google.json",
         rule("deny-telegram-google", listed(op("process.path", "/usr/bin/telegram-desktop"),
                                             deny_operator), "deny", enabled=enabled)),
        ("allow-firefox.json", rule("allow-firefox", op("process.path", "/usr/bin/firefox"))),
        ("allow-opt.json", rule("allow-opt", op("process.path", r"^/opt/.*$", "regexp"))),
        ("allow-any-dns.json", rule("allow-any-dns", op("dest.port", "53"))),
    ]  # fmt: skip


UNREADABLE = op("lists.domains", "/nonexistent/google", "lists")


def imported(conversion):
    return sorted({item.source for item in conversion.converted})


def test_a_deny_rule_that_does_not_convert_holds_back_its_programs_allow_rules():
    conversion = convert_documents(telegram_rules(UNREADABLE))
    assert imported(conversion) == ["allow-firefox.json", "allow-opt.json"]
    assert {item.source for item in conversion.held_back} == {
        "allow-telegram.json", "allow-any-dns.json"}  # fmt: skip
    (looser,) = conversion.looser
    assert looser.deny.source == "deny-telegram-google.json"
    assert looser.deny.denies == ("/usr/bin/telegram-desktop",)
    assert "cannot read the list folder /nonexistent/google" in looser.deny.reasons[0]

    anyway = convert_documents(telegram_rules(UNREADABLE), allow_looser=True)
    assert "allow-telegram.json" in imported(anyway) and anyway.held_back == []
    assert [item.deny.source for item in anyway.looser] == ["deny-telegram-google.json"]

    disabled = convert_documents(telegram_rules(UNREADABLE, enabled=False))
    assert disabled.looser == [] and "allow-telegram.json" in imported(disabled)


def test_a_deny_rule_for_every_program_that_does_not_convert_holds_back_every_allow_rule():
    documents = [*telegram_rules(op("dest.host", "google.com")),
                 ("deny-ads.json", rule("deny-ads", op("dest.host", r"^ads[0-9]+\.example$",
                                                       "regexp"), "deny"))]  # fmt: skip
    conversion = convert_documents(documents)
    assert imported(conversion) == ["deny-telegram-google.json"]
    assert conversion.looser[0].deny.denies == ()
    glob_deny = [("deny-opt.json", rule("deny-opt", listed(
        op("process.path", r"^/opt/tools/.*$", "regexp"), op("process.parent.path", "/bin/sh")),
        "deny")), *telegram_rules(op("dest.host", "google.com"))]  # fmt: skip
    assert "allow-opt.json" not in imported(convert_documents(glob_deny))
    assert "allow-firefox.json" in imported(convert_documents(glob_deny))


def ctl(*argv, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "netwarden.cli.main", *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=CHECKOUT,
    )


def test_import_opensnitch_dry_run_then_import_through_the_helper(
    system_bus, polkitd, helper, opensnitch_folder
):
    polkitd(grant=[ACTION_MONITOR, ACTION_MANAGE_RULES])
    root = ApiClient(system_bus, uid=0)
    count = len(convert_folder(opensnitch_folder).converted)
    dry = ctl("import-opensnitch", opensnitch_folder, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"converted {len(CONVERTED)} files into {count} rules:" in dry.stdout
    assert "skipped md5.json (md5):\n  - operator.list[1] (simple process.hash.md5)" in dry.stdout
    assert f"dry run: would add {count} rules" in dry.stdout
    assert list(root.call("ListRules")) == []

    report = json.loads(ctl("--json", "import-opensnitch", opensnitch_folder).stdout)
    assert report["result"] == {"added": count, "removed": 0, "dry_run": False}
    assert {s["file"] for s in report["skipped"]} == {*SKIPPED, "broken.json"}
    stored = root.call("ListRules")
    assert len(stored) == count
    (firefox,) = [r for r in stored if r["note"] == "OpenSnitch: firefox-https"]
    assert (firefox["exe"], firefox["destination"], firefox["ports"]) == (
        "/usr/lib/firefox/firefox",
        "*.mozilla.org",
        "443",
    )
    (web,) = [r for r in stored if r["note"] == "OpenSnitch: web"]
    assert web["ports"] == "53,80,443"
    missing = ctl("import-opensnitch", opensnitch_folder / "nope")
    assert (missing.returncode, missing.stdout) == (1, "")
    assert "nope: not a folder" in missing.stderr
    assert len(root.call("ListRules")) == count
    root.close()


def test_import_opensnitch_into_a_profile_makes_it_and_puts_every_rule_there(
    system_bus, polkitd, helper, opensnitch_folder
):
    polkitd(grant=[ACTION_MONITOR, ACTION_MANAGE_RULES])
    root = ApiClient(system_bus, uid=0)
    imported = ctl("import-opensnitch", opensnitch_folder, "--profile", "Work")
    assert imported.returncode == 0, imported.stderr
    stored = root.call("ListRules")
    assert stored and {rule["profile"] for rule in stored} == {"Work"}
    assert [p["name"] for p in root.call("ListProfiles")["profiles"]] == ["Work"]
    refused = ctl("import-opensnitch", opensnitch_folder, "--profile", " bad ")
    assert refused.returncode == 1 and "--profile: must be printable" in refused.stderr
    assert len(root.call("ListRules")) == len(stored)
    root.close()


def test_import_leads_with_the_deny_rules_that_did_not_convert(
    system_bus, polkitd, helper, tmp_path
):
    polkitd(grant=[ACTION_MONITOR, ACTION_MANAGE_RULES])
    folder = tmp_path / "rules"
    folder.mkdir()
    for name, document in telegram_rules(UNREADABLE):
        (folder / name).write_text(json.dumps(document))
    root = ApiClient(system_bus, uid=0)
    dry = ctl("import-opensnitch", folder, "--dry-run")
    lines = dry.stdout.splitlines()
    assert lines[0].startswith("NOT IMPORTED: 1 deny rules did not convert")
    assert lines[1] == ("  /usr/bin/telegram-desktop: deny rule deny-telegram-google "
                        "(deny-telegram-google.json)")  # fmt: skip
    assert "cannot read the list folder /nonexistent/google" in lines[2]
    assert lines[3] == "    left out: allow-any-dns.json, allow-telegram.json"
    assert "dry run: would add 2 rules" in dry.stdout

    assert ctl("import-opensnitch", folder).returncode == 0
    notes_ = {r["note"] for r in root.call("ListRules")}
    assert notes_ == {"OpenSnitch: allow-firefox", "OpenSnitch: allow-opt"}

    looser = ctl("import-opensnitch", folder, "--allow-looser")
    assert looser.stdout.startswith("LOOSER THAN OPENSNITCH: 1 deny rules did not convert")
    assert "    imported anyway: allow-any-dns.json, allow-telegram.json" in looser.stdout
    assert "OpenSnitch: allow-telegram" in {r["note"] for r in root.call("ListRules")}
    root.close()


def test_ten_thousand_rule_files_import_whole(system_bus, polkitd, helper, tmp_path):
    """The old ads-rules generator's shape (one deny rule per host) and per-program
    rules, 10,000 files, converted and imported in one call."""
    polkitd(grant=[ACTION_MONITOR, ACTION_MANAGE_RULES])
    folder = tmp_path / "rules"
    folder.mkdir()
    for n in range(6_500):
        (folder / f"deny-ads-{n:05}.json").write_text(
            json.dumps(rule(f"deny-ads-{n:05}", op("dest.host", f"ads{n}.tracker.example"), "deny"))
        )
    for n in range(3_500):
        (folder / f"allow-app-{n:05}.json").write_text(
            json.dumps(
                rule(
                    f"allow-app-{n:05}",
                    listed(
                        op("process.path", f"/opt/app{n}/bin/app"),
                        op("dest.port", "^(80|443)$", "regexp"),
                        op("dest.host", r"^(|.*\.)example\.org$", "regexp"),
                    ),
                )
            )
        )
    started = time.monotonic()
    result = ctl("--json", "import-opensnitch", folder, timeout=300)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["result"]["added"] == 10_000
    root = ApiClient(system_bus, uid=0)
    stored = root.call("ListRules")
    assert len(stored) == 10_000
    assert {r["ports"] for r in stored if r["action"] == "allow"} == {"80,443"}
    root.close()
    print(f"10,000 OpenSnitch rule files converted and imported in {elapsed:.1f} s")
    assert elapsed < 20


def test_a_regexp_standing_for_too_many_alternatives_is_refused_before_it_is_expanded():
    """`{8}` of ten letters stands for 10^8 strings: refused at once, not built."""
    with pytest.raises(RegexpError, match="more than 4096 alternatives"):
        alternatives("^(a|b|c|d|e|f|g|h|i|j){8}$")
    with pytest.raises(RegexpError, match="more than 4096 alternatives"):
        alternatives("^(a|b|c|d|e|f|g|h|i|j)(a|b|c|d|e|f|g|h|i|j)(a|b|c|d|e|f|g|h|i|j)"
                     "(a|b|c|d|e|f|g|h|i|j)$")  # fmt: skip
