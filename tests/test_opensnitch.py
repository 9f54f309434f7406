"""OpenSnitch rule files converted to Netwarden rules: the pure conversion on a set of
rule files written here (every operand, operator type, action and duration), then
`netwardenctl import-opensnitch` against a real helper."""

import json
import subprocess
import sys

import pytest

from netwarden.cli.opensnitch import convert_folder, convert_rule
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


# file name -> (rule, the Netwarden fields expected, or the reasons it is skipped)
CONVERTED = {
    "allow-curl.json": (
        rule("allow-curl", op("process.path", "/usr/bin/curl")),
        {"action": "allow", "exe": "/usr/bin/curl"},
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
    "user.json": (rule("user", op("user.id", "1000")), {"action": "allow", "uid": 1000}),
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
    "regexp-glob.json": (
        rule("opt-tools", op("process.path", r"^/opt/tools/.*$", "regexp")),
        {"action": "allow", "exe": "/opt/tools/*"},
    ),
    "regexp-literal.json": (
        rule("dns", listed(op("dest.ip", r"^9\.9\.9\.9$", "regexp"), op("protocol", "udp6"))),
        {"action": "allow", "destination": "9.9.9.9", "protocol": "udp"},
    ),
    "disabled.json": (
        rule("off", op("dest.port", "25"), "deny", enabled=False),
        {"action": "deny", "drop": True, "ports": "25", "enabled": False},
    ),
}
SKIPPED = {
    "command.json": (
        rule("cmd", op("process.command", "curl http://x", "regexp")),
        ["operator (regexp process.command): Netwarden rules do not match command lines"],
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
            "operator.list[0] (simple source.ip): Netwarden rules do not match the source address",
            "operator.list[1] (simple source.port): Netwarden rules do not match the source port",
            "operator.list[2] (network source.network): Netwarden rules do not match "
            "the source address",
        ],
    ),
    "iface.json": (
        rule("iface", listed(op("iface.out", "wlan0"), op("iface.in", "eth0"))),
        [
            "operator.list[0] (simple iface.out): Netwarden rules do not match network interfaces",
            "operator.list[1] (simple iface.in): Netwarden rules do not match network interfaces",
        ],
    ),
    "blocklist.json": (
        rule("ads", op("lists.domains", "/etc/opensnitchd/lists/ads", "lists"), "deny"),
        ["operator (lists lists.domains): list files (blocklists) are not imported"],
    ),
    "regexp-port.json": (
        rule("web", op("dest.port", "^(80|443)$", "regexp")),
        ["operator (regexp dest.port): the regular expression '^(80|443)$' uses '('"],
    ),
    "regexp-host.json": (
        rule("sub", op("dest.host", r"ads\.", "regexp"), "deny"),
        [
            "operator (regexp dest.host): the regular expression 'ads\\\\.' says "
            "more than an exact value or a *.domain"
        ],
    ),
    "two-hosts.json": (
        rule("two", listed(op("dest.host", "a.example"), op("dest.ip", "192.0.2.3"))),
        [
            "operator.list[1] (simple dest.ip): a Netwarden rule has one "
            "destination; this rule also names one by dest.host"
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
    "true",
    "process.path",
    "process.id",
    "process.command",
    "process.env.LANG",
    "process.hash.md5",
    "process.hash.sha1",
    "user.id",
    "source.ip",
    "source.port",
    "source.network",
    "dest.ip",
    "dest.host",
    "dest.port",
    "dest.network",
    "protocol",
    "iface.in",
    "iface.out",
    "lists.domains",
    "list",
}


def operands(operator):
    yield operator["operand"]
    for item in operator.get("list") or []:
        yield from operands(item)


@pytest.fixture
def opensnitch_folder(tmp_path):
    folder = tmp_path / "rules"
    folder.mkdir()
    for name, (document, _expected) in {**CONVERTED, **SKIPPED}.items():
        (folder / name).write_text(json.dumps(document, indent=2))
    (folder / "broken.json").write_text("{not json")
    (folder / "README.txt").write_text("not a rule file: ignored")
    return folder


def test_the_fixture_set_covers_every_operand():
    used = {
        o
        for document, _ in (*CONVERTED.values(), *SKIPPED.values())
        for o in operands(document["operator"])
    }
    assert used >= EVERY_OPERAND


def test_each_convertible_rule_becomes_the_expected_netwarden_rule(opensnitch_folder):
    conversion = convert_folder(opensnitch_folder)
    converted = {item.source: item for item in conversion.converted}
    assert set(converted) == set(CONVERTED)
    for name, (document, expected) in CONVERTED.items():
        fields = {k: v for k, v in converted[name].rule.items() if k not in ("note", "created")}
        wanted = {"enabled": True, **expected}
        wanted.pop("note", None)
        assert fields == wanted, name
        note = expected.get("note", f"OpenSnitch: {document['name']}")
        assert converted[name].rule["note"] == note
        assert converted[name].rule["created"] == pytest.approx(1709283600.123456)
    assert load_rules(conversion.rules_file()), "the helper's own loader accepts the file"


def test_each_other_rule_is_skipped_with_every_reason(opensnitch_folder):
    skipped = {item.source: item for item in convert_folder(opensnitch_folder).skipped}
    assert set(skipped) == {*SKIPPED, "broken.json"}
    for name, (document, reasons) in SKIPPED.items():
        assert skipped[name].name == document["name"]
        assert len(skipped[name].reasons) == len(reasons), (name, skipped[name].reasons)
        for got, wanted in zip(skipped[name].reasons, reasons, strict=True):
            assert got.startswith(wanted), (name, got)
    assert skipped["broken.json"].reasons[0].startswith("not a JSON file: ")


def test_ipv4_only_protocols_are_converted_with_a_note():
    converted = convert_rule(
        "dns.json", rule("dns", listed(op("protocol", "udp"), op("dest.port", "53")))
    )
    assert converted.rule["protocol"] == "udp"
    assert converted.warnings == (
        "protocol udp: OpenSnitch matches it on IPv4 only; Netwarden's udp covers IPv4 and IPv6",
    )


def test_a_list_read_from_its_data_string_when_the_list_is_missing():
    operator = listed(op("process.path", "/usr/bin/telnet"), op("dest.port", "23"))
    operator["list"] = None
    converted = convert_rule("telnet.json", rule("telnet", operator))
    assert (converted.rule["exe"], converted.rule["ports"]) == ("/usr/bin/telnet", "23")


def ctl(*argv):
    return subprocess.run(
        [sys.executable, "-m", "netwarden.cli.main", *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=CHECKOUT,
    )


def test_import_opensnitch_dry_run_then_import_through_the_helper(
    system_bus, polkitd, helper, opensnitch_folder
):
    polkitd(grant=[ACTION_MONITOR, ACTION_MANAGE_RULES])
    root = ApiClient(system_bus, uid=0)
    dry = ctl("import-opensnitch", opensnitch_folder, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"converted {len(CONVERTED)} rules:" in dry.stdout
    assert "skipped md5.json (md5):\n  - operator.list[1] (simple process.hash.md5)" in dry.stdout
    assert f"dry run: would add {len(CONVERTED)} rules and remove 0" in dry.stdout
    assert list(root.call("ListRules")) == []

    report = json.loads(ctl("--json", "import-opensnitch", opensnitch_folder).stdout)
    assert report["result"] == {"added": len(CONVERTED), "removed": 0, "dry_run": False}
    assert {s["file"] for s in report["skipped"]} == {*SKIPPED, "broken.json"}
    stored = {r["note"].removeprefix("OpenSnitch: ") for r in root.call("ListRules")}
    assert "firefox-https" in stored and len(stored) == len(CONVERTED)
    (firefox,) = [r for r in root.call("ListRules") if r["note"] == "OpenSnitch: firefox-https"]
    assert (firefox["exe"], firefox["destination"], firefox["ports"]) == (
        "/usr/lib/firefox/firefox",
        "*.mozilla.org",
        "443",
    )
    root.close()
