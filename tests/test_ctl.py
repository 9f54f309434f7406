"""`netwardenctl` against a real helper on the private bus, with a real polkitd.

The command runs as its own process, as user nobody (polkitd authorizes root for
everything), so its exit codes, output and the helper's state are what is tested.
History, connections and traffic are tested with real flows in a netns, alerts with a
pinned copy of nc altered on disk; times given on the command line are tested pure.
"""

import csv
import json
import os
import queue
import shlex
import shutil
import signal
import subprocess
import sys
import threading
from datetime import datetime

import jsonschema
import pytest

from netwarden.cli.history import parse_when
from netwarden_common.api import (
    ACTION_ANSWER_PROMPT,
    ACTION_MANAGE_OWN_RULES,
    ACTION_MANAGE_RULES,
    ACTION_MONITOR,
    ACTION_MONITOR_ALL,
    ACTION_SETTINGS,
    ACTIONS,
)
from netwarden_common.dbus_values import dictionary
from netwarden_common.rules import RULE_FIELDS
from tests.fixtures.api import own_rule, state
from tests.fixtures.binaries import NC, replace_binary, sha256
from tests.fixtures.processes import wait_for
from tests.fixtures.scratch import shared_dir
from tests.fixtures.traffic import CHECKOUT, bulk_server, recorder, run_client, start_fetch
from tests.fixtures.users import NOBODY

SCHEMA = json.loads((CHECKOUT / "docs/rules-schema.json").read_text())
CTL = [sys.executable, "-m", "netwarden.cli.main"]
PORT = 8080


def as_user(uid, argv):
    if uid == 0:
        return argv
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *argv]


def ctl(*argv, uid=NOBODY, stdin=None):
    """Run netwardenctl as `uid`; the completed process (returncode, stdout, stderr)."""
    return subprocess.run(
        as_user(uid, [*CTL, *map(str, argv)]),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=CHECKOUT,
    )


def ctl_json(*argv, uid=NOBODY):
    done = ctl("--json", *argv, uid=uid)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


class Running:
    """A long-running netwardenctl (monitor); its stdout lines arrive in a queue."""

    def __init__(self, *argv, uid=NOBODY):
        self.process = subprocess.Popen(
            as_user(uid, [*CTL, *argv]),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=CHECKOUT,
        )
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.put(line)

    def events(self, *wanted, timeout=15):
        """The next JSON event of each name in `wanted`, in whatever order they come."""
        found = {}
        while set(found) != set(wanted):
            event = json.loads(self.lines.get(timeout=timeout))
            if event["event"] in wanted:
                found.setdefault(event["event"], event)
        return found

    def next_event(self, wanted, timeout=15):
        """The next JSON event named `wanted` (earlier other events are passed over)."""
        while True:
            event = json.loads(self.lines.get(timeout=timeout))
            if event["event"] == wanted:
                return event

    def interrupt(self):
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=10)

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


@pytest.fixture
def scratch():
    """A folder user nobody may write in."""
    with shared_dir("ctl") as folder:
        os.chown(folder, NOBODY, NOBODY)
        yield folder


@pytest.fixture
def running():
    started = []

    def start(*argv, uid=NOBODY):
        started.append(Running(*argv, uid=uid))
        return started[-1]

    yield start
    for process in started:
        process.stop()


def write_inputs(folder):
    """The files the import commands read: a rules file and an OpenSnitch folder."""
    rules = {
        "format": "netwarden-rules",
        "version": 1,
        "rules": [{"action": "deny", "ports": "25", "protocol": "tcp"}],
    }
    (folder / "rules.json").write_text(json.dumps(rules))
    snitch = folder / "opensnitch"
    snitch.mkdir()
    (snitch / "deny-smtp.json").write_text(
        json.dumps(
            {
                "name": "deny-smtp",
                "enabled": True,
                "action": "reject",
                "duration": "always",
                "operator": {"type": "simple", "operand": "dest.port", "data": "25"},
            }
        )
    )
    for path in (folder / "rules.json", snitch, *snitch.iterdir()):
        os.chown(path, NOBODY, NOBODY)


MONITOR, OWN, MANAGE = ACTION_MONITOR, ACTION_MANAGE_OWN_RULES, ACTION_MANAGE_RULES
# (command line, {on}/{off}: ids of nobody's enabled/disabled rules, {dir}: a folder; the
# actions it needs; the action whose refusal stops it; whether it changes the helper's
# state; what its output shows)
CASES = [
    ("status", [MONITOR], MONITOR, False, "backend: "),
    ("rules list", [MONITOR], MONITOR, False, "/usr/bin/curl"),
    ("rules add --action deny --exe /usr/bin/wget --uid me --destination *.example.org",
     [OWN], OWN, True, "*.example.org"),
    ("rules edit {on} --note edited", [MONITOR, OWN], OWN, True, "edited"),
    ("rules rm {on}", [OWN], OWN, True, "deleted rule"),
    ("rules enable {off}", [OWN], OWN, True, "enabled rule"),
    ("rules disable {on}", [OWN], OWN, True, "disabled rule"),
    ("export {dir}/out.json", [MONITOR], MONITOR, False, "exported 2 rules"),
    ("import {dir}/rules.json", [MANAGE], MANAGE, True, "added 1 rules, removed 0"),
    ("import-opensnitch {dir}/opensnitch", [MANAGE], MANAGE, True, "added 1 rules"),
    ("prompt list", [ACTION_ANSWER_PROMPT], ACTION_ANSWER_PROMPT, False, "no pending prompts"),
    ("settings get", [MONITOR], MONITOR, False, "prompt_timeout = 60"),
    ("settings set prompt_timeout=30 default_action=deny", [MONITOR, ACTION_SETTINGS],
     ACTION_SETTINGS, True, "default_action = deny"),
    ("history --since 1h --verdict deny", [MONITOR], MONITOR, False, "no flows"),
    ("history export {dir}/flows.csv --since 1h", [MONITOR], MONITOR, False, "exported 0 flows"),
    ("traffic --since 2d --top 3", [MONITOR], MONITOR, False, "no traffic"),
    ("traffic series --bucket 3600", [MONITOR], MONITOR, False, "no traffic"),
    ("connections", [MONITOR], MONITOR, False, "no open connections"),
    ("alerts --open", [MONITOR], MONITOR, False, "no open alerts"),
    ("blocklists", [MONITOR], MONITOR, False, "http://192.0.2.2:9/old.txt"),
    ("blocklists add http://192.0.2.2:9/ads.txt --name ads", [MANAGE], MANAGE, True,
     "(ads); it loads"),
    ("blocklists show {list}", [MONITOR], MONITOR, False, "lines rejected:"),
    ("blocklists rm {list}", [MANAGE], MANAGE, True, "removed blocklist"),
]  # fmt: skip
IDS = [" ".join(case[0].split()[:2]) for case in CASES]


def scene(root, folder, command):
    """Nobody's rules, a blocklist and the input files; the command line with their ids
    and paths."""
    write_inputs(folder)
    on = root.call("AddRule", own_rule())["id"]
    off = root.call("AddRule", own_rule(destination="192.0.2.9", enabled=False))["id"]
    listed = root.call("AddBlocklist", {"source": "http://192.0.2.2:9/old.txt"})["id"]
    return command.format(on=on, off=off, list=listed, dir=folder).split()


@pytest.mark.parametrize(("command", "grant", "key", "changes", "shows"), CASES, ids=IDS)
def test_each_subcommand_works_when_polkit_grants_it(
    polkitd, root, scratch, command, grant, key, changes, shows
):
    polkitd(grant=grant)
    arguments = scene(root, scratch, command)
    before = state(root)
    done = ctl(*arguments)
    assert (done.returncode, done.stderr) == (0, "")
    assert shows in done.stdout
    assert (state(root) != before) == changes


@pytest.mark.parametrize(("command", "grant", "key", "changes", "shows"), CASES, ids=IDS)
def test_each_subcommand_is_refused_with_exit_3_and_changes_nothing(
    polkitd, root, scratch, command, grant, key, changes, shows
):
    polkitd(grant=sorted(ACTIONS - {key}), deny=[key])
    arguments = scene(root, scratch, command)
    before = state(root)
    done = ctl(*arguments)
    assert done.returncode == 3, done
    assert done.stdout == ""
    assert done.stderr.startswith("netwardenctl: not authorized: ")
    assert done.stderr.count("\n") == 1
    assert state(root) == before
    assert sorted(path.name for path in scratch.iterdir()) == ["opensnitch", "rules.json"]


def test_version_is_the_one_the_app_and_the_running_helper_share(polkitd, root):
    from netwarden import __version__

    polkitd(grant=[ACTION_MONITOR])
    done = ctl("--version")
    assert (done.returncode, done.stdout, done.stderr) == (0, f"netwardenctl {__version__}\n", "")
    assert ctl_json("status")["version"] == __version__


def test_every_subcommand_has_help():
    commands = ["", "rules", "rules add", "rules edit", "rules rm", "rules enable", "export",
                "import", "import-opensnitch", "monitor", "prompt answer", "settings set",
                "completion", "history", "history export", "traffic", "traffic series",
                "connections", "alerts", "alerts trust", "alerts block", "blocklists",
                "blocklists show", "blocklists add", "blocklists rm",
                "blocklists update"]  # fmt: skip
    for command in commands:
        done = ctl(*command.split(), "--help", uid=0)
        assert done.returncode == 0, command
        assert done.stdout.startswith(f"usage: netwardenctl {command}".rstrip())
        assert "exit codes: 0 done" in done.stdout


def test_blocklists_update_shows_a_list_that_failed_and_exits_1(polkitd, root):
    polkitd()  # root: everything
    root.call("AddBlocklist", {"source": "http://192.0.2.2:9/ads.txt"})  # no route to it
    done = ctl("blocklists", "update", uid=0)
    assert done.returncode == 1, done
    header, row = done.stdout.splitlines()
    assert header.split() == ["ID", "ON", "NAME", "FORMAT", "NAMES", "NETWORKS", "ACCEPTED",
                              "IGNORED", "REJECTED", "BLOCKED", "UPDATED", "SOURCE",
                              "PROBLEM"]  # fmt: skip
    assert row.split()[1:12] == ["yes", "ads.txt", "-", "0", "0", "0", "0", "0", "0", "never",
                                 "http://192.0.2.2:9/ads.txt"]  # fmt: skip
    assert row.split()[12] != "-", "the failure is shown"


def test_blocklists_show_tells_the_format_and_how_each_line_was_counted(
    polkitd, root, blocklists_dir
):
    polkitd()  # root: everything
    (blocklists_dir / "ads.txt").write_text(
        "[Adblock Plus 2.0]\n! a comment\n||ads.example^\n||t.example^$third-party\n"
        "example.org##.ad\n||bad name^\n"
    )
    listed = root.call("AddBlocklist", {"source": str(blocklists_dir / "ads.txt")})["id"]
    wait_for(lambda: root.call("ListBlocklists")[0].get("format"), 10, "the list to load")
    done = ctl("blocklists", "show", listed, uid=0)
    assert (done.returncode, done.stderr) == (0, "")
    shown = {key.strip(): value.strip() for key, _, value in
             (line.partition(":") for line in done.stdout.splitlines())}  # fmt: skip
    assert {key: shown[key] for key in ("format", "names", "lines accepted", "lines ignored",
                                        "comment", "adblock_rule", "lines rejected")} == {
        "format": "adblock", "names": "1", "lines accepted": "1", "lines ignored": "4",
        "comment": "2", "adblock_rule": "2", "lines rejected": "1"}  # fmt: skip
    row = ctl("blocklists", uid=0).stdout.splitlines()[1].split()
    assert row[1:9] == ["yes", "ads.txt", "adblock", "1", "0", "1", "4", "1"]
    missing = ctl("blocklists", "show", 4242, uid=0)
    assert (missing.returncode, missing.stderr) == (5, "netwardenctl: there is no blocklist 4242\n")


def test_blocklists_update_is_refused_with_exit_3(polkitd, root):
    polkitd(grant=sorted(ACTIONS - {MANAGE}), deny=[MANAGE])
    done = ctl("blocklists", "update")
    assert done.returncode == 3, done
    assert done.stderr.startswith("netwardenctl: not authorized: ")


def test_ids_that_cannot_be_ids_are_usage_errors_not_tracebacks(system_bus):
    for argv in (("rules", "rm", "-5"), ("rules", "rm", "999999999999999999999"),
                 ("rules", "enable", "0"), ("alerts", "trust", "x"), ("prompt", "answer",
                 "-1", "--allow")):  # fmt: skip
        done = ctl(*argv)
        assert done.returncode == 2, (argv, done.stderr)
        assert "is not an id (a whole number from 1)" in done.stderr
        assert "Traceback" not in done.stderr


def test_exit_codes_name_what_went_wrong(system_bus, polkitd, root):
    polkitd(grant=[ACTION_MONITOR, ACTION_MANAGE_OWN_RULES])
    missing = ctl("rules", "rm", "424242")
    assert (missing.returncode, missing.stderr) == (
        5,
        "netwardenctl: not found: there is no rule 424242\n",
    )
    invalid = ctl("rules", "add", "--action", "allow", "--uid", "me", "--ports", "99999")
    assert invalid.returncode == 1
    assert invalid.stderr == "netwardenctl: error: ports: ports run from 1 to 65535, low to high\n"
    usage = ctl("rules", "add", "--ports", "443")
    assert usage.returncode == 2 and "--action" in usage.stderr
    unknown = ctl("settings", "set", "colour=red")
    assert unknown.returncode == 1 and "unknown setting 'colour'" in unknown.stderr
    assert list(root.call("ListRules")) == []


def test_a_helper_that_is_not_running_is_exit_4(system_bus):
    done = ctl("status")
    assert done.returncode == 4
    assert done.stderr.startswith("netwardenctl: the Netwarden helper is not running")


def test_rules_add_edit_and_list_show_every_field(system_bus, polkitd, root):
    polkitd()  # root: everything
    add = (
        "rules add --action deny --exe /usr/bin/wget --uid 65534 --destination 10.0.0.0/8 "
        "--ports 8000-8080 --protocol tcp --priority 5 --drop --until +2h --note 'no wget'"
    )
    added = ctl_json(*shlex.split(add), uid=0)
    assert (added["destination"], added["ports"], added["lifetime"], added["uid"]) == (
        "10.0.0.0/8", "8000-8080", "until", 65534)  # fmt: skip
    edit = f"rules edit {added['id']} --action allow --forever --uid any --protocol any --ports"
    changed = ctl_json(*edit.split(), "", uid=0)
    (listed,) = root.call("ListRules")
    assert (listed["action"], listed["lifetime"], listed["note"]) == ("allow", "forever", "no wget")
    assert "uid" not in listed and listed["ports"] == "" and bool(listed["drop"])
    assert changed["id"] == added["id"] == listed["id"]
    table = ctl("rules", "list", uid=0).stdout.splitlines()
    header = (
        "ID ON ACTION PROGRAM USER DESTINATION PORTS PROTO LIFETIME PRIO HITS PROFILE NOTE FROM"
    )
    assert table[0].split() == shlex.split(header)
    assert table[1].split()[:7] == [str(added["id"]), "yes", "allow", "(drop)", "/usr/bin/wget",
                                    "any", "10.0.0.0/8"]  # fmt: skip


def test_a_rule_for_forwarded_traffic_names_its_source_and_no_program(polkitd, root):
    polkitd()
    add = "rules add --action deny --forwarded-from 'docker0 172.17.0.2' --ports 25"
    added = ctl_json(*shlex.split(add), uid=0)
    assert (added["forwarded_from"], added["exe"], "uid" in added) == (
        "docker0 172.17.0.2", "", False)  # fmt: skip
    table = ctl("rules", "list", uid=0).stdout.splitlines()
    assert table[1].split()[3] == "forwarded:docker0"
    refused = ctl(*shlex.split("rules add --action deny --forwarded-from docker0 --exe /bin/nc"),
                  uid=0)  # fmt: skip
    assert refused.returncode != 0 and "forwarded traffic has no program" in refused.stderr
    assert len(root.call("ListRules")) == 1


def test_a_rule_with_a_set_is_listed_compactly_and_shown_in_full(system_bus, polkitd, root):
    polkitd()  # root: everything
    hosts = [f"h{i}.example.org" for i in range(50)]
    add = ["rules", "add", "--action", "deny", "--destination", ",".join(hosts),
           "--ports", "53, 443,8000-8080"]  # fmt: skip
    added = ctl_json(*add, uid=0)
    assert (added["destination"], added["ports"]) == (", ".join(hosts), "53,443,8000-8080")
    (row,) = ctl("rules", "list", uid=0).stdout.splitlines()[1:]
    assert "h0.example.org, h1.example.org and 48 more  53, 443, 8000-8080" in row
    shown = ctl("rules", "show", str(added["id"]), uid=0).stdout.splitlines()
    assert shown[shown.index("destination (50):") + 1 :][:50] == [f"  {h}" for h in hosts]
    assert shown[-4:] == ["ports (3):", "  53", "  443", "  8000-8080"]
    assert ctl_json("rules", "show", str(added["id"]), uid=0) == added
    assert ctl("rules", "show", "424242", uid=0).returncode == 5


ROUND_TRIP = [
    f"--action allow --exe /usr/bin/curl --sha256 {'ab' * 32} --uid 1000 --destination "
    "*.debian.org --ports 443 --protocol tcp --note apt",
    "--action deny --unit cups.service --priority -3 --drop --disabled",
    "--action allow --flatpak org.mozilla.firefox --destination 2001:db8::/32 --until "
    "2030-01-01T00:00",
    "--action deny --exe /opt/*/bin/* --protocol icmp",
    "--action allow --exe /usr/bin/python3 --script /opt/sync.py",
]


def test_ten_thousand_rules_go_out_and_back_in(polkitd, root, scratch):
    """A rules file over the bus's 1 MiB string bound for other arguments (about 2 MiB)."""
    polkitd(grant=[ACTION_MONITOR, ACTION_MANAGE_RULES])
    rules = [{"action": "deny", "destination": f"tracker{i}.ads.example", "priority": 1,
              "note": f"from the ads list, entry {i}"}
             for i in range(10_000)]  # fmt: skip
    big = json.dumps({"format": "netwarden-rules", "version": 1, "rules": rules})
    assert len(big) > 1 << 20
    loaded = ctl("--json", "import", "-", stdin=big)
    assert json.loads(loaded.stdout) == {"added": 10_000, "removed": 0, "dry_run": False}
    exported = scratch / "rules.json"
    assert ctl("export", exported).returncode == 0
    again = ctl("--json", "import", exported, "--replace")
    assert json.loads(again.stdout) == {"added": 10_000, "removed": 10_000, "dry_run": False}
    assert json.loads(ctl("export").stdout) == json.loads(exported.read_text())


def test_export_wipe_import_gives_identical_rules_and_the_file_fits_the_schema(
    polkitd, root, scratch
):
    polkitd(grant=[ACTION_MONITOR, ACTION_MANAGE_RULES])
    for fields in ROUND_TRIP:
        assert ctl("rules", "add", *fields.split()).returncode == 0
    exported = scratch / "rules.json"
    assert ctl("export", exported).returncode == 0
    document = json.loads(exported.read_text())
    jsonschema.validate(document, SCHEMA)
    assert len(document["rules"]) == len(ROUND_TRIP)
    rules_before = [{k: v for k, v in r.items() if k != "id"} for r in root.call("ListRules")]

    empty = json.dumps({"format": "netwarden-rules", "version": 1, "rules": []})
    dry = ctl("import", "-", "--replace", "--dry-run", stdin=empty)
    assert dry.stdout == "dry run: would add 0 rules and remove 5\n"
    assert len(root.call("ListRules")) == 5
    wiped = ctl("--json", "import", "-", "--replace", stdin=empty)
    assert json.loads(wiped.stdout) == {"added": 0, "removed": 5, "dry_run": False}
    assert list(root.call("ListRules")) == []

    preview = ctl("import", exported, "--dry-run")
    assert "dry run: would add 5 rules and remove 0" in preview.stdout
    assert "cups.service" in preview.stdout and list(root.call("ListRules")) == []
    assert ctl("import", exported).stdout == "added 5 rules, removed 0\n"
    assert [{k: v for k, v in r.items() if k != "id"} for r in root.call("ListRules")] == (
        rules_before
    )
    assert json.loads(ctl("export").stdout) == document


def test_the_schema_describes_every_rule_field_the_helper_keeps():
    assert set(SCHEMA["$defs"]["rule"]["properties"]) == set(RULE_FIELDS) - {"id"}


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda d: d.pop("format"), "format"),
        (lambda d: d.update(version=2), "version"),
        (lambda d: d["rules"][0].update(action="maybe"), "action"),
        (lambda d: d["rules"][0].update(ports=443), "ports as a number"),
        (lambda d: d["rules"][0].update(colour="red"), "unknown field"),
        (lambda d: d["rules"][0].update(id=3), "id is not kept"),
        (lambda d: d["rules"][0].update(lifetime="until"), "until without expires_at"),
        (lambda d: d["rules"][0].update(uid=True), "uid as a boolean"),
        (lambda d: d["rules"][0].update(sha256="ABC"), "sha256"),
    ],
)
def test_the_schema_rejects_a_malformed_file_and_so_does_the_helper(polkitd, root, change, why):
    polkitd()
    root.call("AddRule", {"action": "allow", "exe": "/usr/bin/curl", "ports": "443"})
    document = json.loads(root.call("ExportRules"))
    jsonschema.validate(document, SCHEMA)
    change(document)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, SCHEMA)
    refused = ctl("import", "-", "--replace", stdin=json.dumps(document), uid=0)
    assert refused.returncode == 1, why
    assert len(root.call("ListRules")) == 1


def test_settings_get_and_set_use_the_helpers_types(polkitd, root):
    polkitd(grant=[ACTION_MONITOR, ACTION_SETTINGS])
    assert ctl("settings", "get", "fail_closed").stdout == "false\n"
    assert ctl("settings", "get", "fail_closed", "--json").stdout == '{"fail_closed": false}\n'
    done = ctl("--json", "settings", "set", "fail_closed=yes", "history_days=7")
    assert done.returncode == 0, done.stderr
    assert (json.loads(done.stdout)["fail_closed"], json.loads(done.stdout)["history_days"]) == (
        True,
        7,
    )
    assert (root.call("GetSettings")["fail_closed"], root.call("GetSettings")["history_days"]) == (
        True,
        7,
    )
    wrong = ctl("settings", "set", "prompt_timeout=soon")
    assert (wrong.returncode, wrong.stderr) == (
        1,
        "netwardenctl: prompt_timeout: give a whole number, not 'soon'\n",
    )
    out_of_range = ctl("settings", "set", "prompt_timeout=1")
    assert out_of_range.returncode == 1 and "between 5 and 3600" in out_of_range.stderr
    assert root.call("GetSettings")["prompt_timeout"] == 60


def test_monitor_prints_rule_and_settings_changes_and_ends_on_ctrl_c(polkitd, root, running):
    polkitd(grant=[ACTION_MONITOR])
    monitor = running("--json", "monitor", "--no-prompts")
    assert monitor.next_event("monitoring")["prompts"] is False
    root.call("AddRule", own_rule())
    monitor.next_event("rules_changed")
    root.call("SetSettings", {"prompt_timeout": 42})
    assert monitor.next_event("settings_changed")["settings"]["prompt_timeout"] == 42
    assert monitor.interrupt() == 0
    human = running("monitor", "--no-prompts")
    started = human.lines.get(timeout=15)
    assert "monitoring rules, hits, settings and profiles (Ctrl+C to stop)" in started
    root.call("AddRule", own_rule(destination="192.0.2.7"))
    assert human.lines.get(timeout=15).rstrip().endswith(" rules changed")
    assert human.interrupt() == 0


def test_monitor_prints_profile_changes_hit_counts_and_traffic(
    polkitd, root, running, netns, blocklists_dir
):
    polkitd(grant=[ACTION_MONITOR, ACTION_MONITOR_ALL])
    monitor = running("--json", "monitor", "--no-prompts", "--connections", "--all-users")
    monitor.next_event("monitoring")
    root.call("AddProfile", {"name": "Work"})
    edited = monitor.next_event("profiles_changed")["state"]
    assert (edited["reason"], edited["active"], [p["name"] for p in edited["profiles"]]) == (
        "edited", "", ["Work"])  # fmt: skip
    root.call("SetActiveProfile", "Work")
    used = monitor.next_event("profiles_changed")["state"]
    assert (used["reason"], used["active"]) == ("user", "Work")

    (blocklists_dir / "peer.txt").write_text(f"{netns.peer_v4}/32\n")
    listed = root.call("AddBlocklist", {"source": str(blocklists_dir / "peer.txt")})
    wait_for(lambda: "updated_at" in root.call("ListBlocklists")[0], 10, "the list to load")
    assert run_client(netns.host, "tcp", netns.peer_v4, PORT)["result"] == "refused"
    (blocked,) = monitor.next_event("blocklist_hits")["counts"]
    assert (blocked["id"], blocked["hits"]) == (listed["id"], 1)

    rule = root.call("AddRule", {"action": "allow", "destination": netns.peer_v4})
    with bulk_server(netns.peer, netns.peer_v4, PORT, SIZE):
        fetch = start_fetch(netns.host, netns.peer_v4, PORT, SIZE)
        try:
            assert f'"received": {SIZE}' in fetch.stdout.readline()
            seen = monitor.events("traffic", "rule_hits")
        finally:
            fetch.communicate("done\n", timeout=10)
    assert sum(p["bytes_in"] for p in seen["traffic"]["sample"]["programs"]) > 0
    (hit,) = seen["rule_hits"]["counts"]
    assert (hit["id"], hit["hits"]) == (rule["id"], 1)
    source = f"http://{netns.peer_v4}:9/locations.mmdb"  # nothing listens there
    root.call("SetSettings", {"locations": True, "locations_source": source})
    failed = monitor.next_event("location_database_changed")["state"]
    assert (failed["enabled"], failed["loaded"], failed["source"]) == (True, False, source)
    assert failed["error"]
    assert monitor.interrupt() == 0

    human = running("monitor", "--no-prompts")
    human.lines.get(timeout=15)  # "monitoring ..."
    root.call("SetActiveProfile", "")
    lines = [human.lines.get(timeout=15).rstrip() for _ in range(2)]  # rules in force changed too
    assert any(line.endswith(" profiles changed (user): active none; profiles Work; network none")
               for line in lines), lines  # fmt: skip
    assert human.interrupt() == 0


@pytest.mark.parametrize("argv", [["monitor"], ["monitor", "--no-prompts"]])
def test_monitor_is_refused_with_exit_3(polkitd, root, running, argv):
    key = ACTION_MONITOR if "--no-prompts" in argv else ACTION_ANSWER_PROMPT
    polkitd(grant=sorted(ACTIONS - {key}), deny=[key])
    monitor = running(*argv)
    assert monitor.process.wait(timeout=15) == 3
    assert monitor.process.stderr.read().startswith("netwardenctl: not authorized: ")


def held_connection(netns, uid=NOBODY):
    """A client (as `uid`) connecting to the peer: held while a prompt waits."""
    return netns.host.popen(
        "setpriv",
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        sys.executable,
        "-m",
        "tests.fixtures.client",
        "tcp",
        netns.peer_v4,
        str(PORT),
        "--timeout=20",
        stdout=subprocess.PIPE,
        text=True,
        cwd=CHECKOUT,
    )


def test_headless_prompts_monitor_list_and_answer(system_bus, polkitd, root, netns, running):
    polkitd(grant=[ACTION_MONITOR, ACTION_ANSWER_PROMPT])
    agent = running("--json", "monitor")
    assert agent.next_event("monitoring")["prompts"] is True
    with recorder(netns.peer, (netns.peer_v4,), PORT) as servers:
        client = held_connection(netns)
        raised = agent.next_event("prompt_raised")["prompt"]
        assert (raised["destination"], raised["port"], raised["user"]) == (
            netns.peer_v4,
            PORT,
            "nobody",
        )
        (listed,) = ctl_json("prompt", "list")
        assert listed["id"] == raised["id"]
        table = ctl("prompt", "list").stdout
        assert netns.peer_v4 in table and "tests.fixtures" not in table
        assert servers.tcp_accepts == 0
        done = ctl(
            "prompt", "answer", raised["id"], "--allow", "--lifetime", "forever", "--scope", "port"
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"allowed prompt {raised['id']}: added rule ")
        assert json.loads(client.communicate(timeout=15)[0])["result"] == "connected"
        closed = agent.next_event("prompt_closed")
        assert (closed["id"], closed["outcome"]) == (raised["id"], "answered")
        agent.next_event("rules_changed")
    (rule,) = root.call("ListRules")
    assert (rule["ports"], rule["uid"], rule["action"]) == (str(PORT), NOBODY, "allow")
    again = ctl("prompt", "answer", raised["id"], "--deny")
    assert again.returncode == 5 and "no pending prompt" in again.stderr
    assert agent.interrupt() == 0


@pytest.mark.parametrize("argv", [["prompt", "list"], ["prompt", "answer", "ID", "--allow"]])
def test_prompt_commands_are_refused_with_exit_3_and_the_flow_stays_held(
    system_bus, polkitd, root, netns, running, argv
):
    polkitd(grant=sorted(ACTIONS - {ACTION_ANSWER_PROMPT}), deny=[ACTION_ANSWER_PROMPT])
    admin_agent = running("--json", "monitor", "--all-users", uid=0)
    admin_agent.next_event("monitoring")
    with recorder(netns.peer, (netns.peer_v4,), PORT) as servers:
        client = held_connection(netns)
        prompt_id = admin_agent.next_event("prompt_raised")["prompt"]["id"]
        done = ctl(*[str(prompt_id) if a == "ID" else a for a in argv])
        assert done.returncode == 3, done
        assert done.stderr.startswith("netwardenctl: not authorized: ")
        assert servers.tcp_accepts == 0
        assert ctl("prompt", "answer", prompt_id, "--deny", uid=0).returncode == 0
        assert json.loads(client.communicate(timeout=15)[0])["result"] == "refused"
    assert list(root.call("ListRules")) == []


def test_bash_completion_is_generated_from_the_parser(tmp_path):
    script = ctl("completion", "bash", uid=0)
    assert script.returncode == 0
    (tmp_path / "netwardenctl.bash").write_text(script.stdout)
    (tmp_path / "rules-folder").mkdir()
    probe = (
        f"source {tmp_path}/netwardenctl.bash; cd {tmp_path}\n"
        'complete_words() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _netwardenctl; '
        'echo "${COMPREPLY[*]}"; }\n'
        "complete_words netwardenctl ru\n"
        "complete_words netwardenctl rules ''\n"
        "complete_words netwardenctl --json prompt answer 3 --scope d\n"
        "complete_words netwardenctl rules add --desti\n"
        "complete_words netwardenctl import-opensnitch rul\n"
    )
    lines = subprocess.run(
        ["bash", "-c", probe], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert lines == [
        "rules",
        "--help --json list show add edit rm enable disable",
        "domain",
        "--destination",
        "rules-folder",
    ]


# History, traffic, connections and alerts

SIZE = 3_000_000
NOW = 1_800_000_000.0


# Times on the command line (pure)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", NOW - 90),
        ("30m", NOW - 1800),
        ("1h", NOW - 3600),
        ("2d", NOW - 2 * 86400),
        ("1w", NOW - 7 * 86400),
        ("0m", NOW),
        ("1767225600", 1767225600.0),
        ("1767225600.5", 1767225600.5),
        ("2026-01-01T00:00:00+00:00", 1767225600.0),
        ("2026-01-01T01:30+01:30", 1767225600.0),
        ("2026-01-01", datetime(2026, 1, 1).timestamp()),
        ("2026-01-01T12:00", datetime(2026, 1, 1, 12).timestamp()),
        (" 5m ", NOW - 300),
    ],
)
def test_a_time_is_unix_seconds_an_iso_date_or_how_long_ago(text, expected):
    assert parse_when(text, NOW) == expected


@pytest.mark.parametrize(
    "text", ["", "yesterday", "-5m", "+5m", "5 m", "5y", "1h30m", "2026-13-01"]
)
def test_anything_else_is_refused_with_what_is_accepted(text):
    with pytest.raises(ValueError, match="is not a time: give Unix seconds, an ISO date"):
        parse_when(text, NOW)


def test_a_bad_time_is_a_usage_error_before_anything_is_asked():
    done = ctl("history", "--since", "yesterday", uid=0)
    assert done.returncode == 2 and done.stdout == ""
    assert "argument --since: 'yesterday' is not a time" in done.stderr
    assert ctl("history", "export", "out.csv", "--until", "soon", uid=0).returncode == 2


# History, connections and traffic, with real flows


def test_history_lists_filters_and_exports_a_flow_that_monitor_saw(
    netns, polkitd, root, scratch, running
):
    polkitd(grant=[ACTION_MONITOR, ACTION_MONITOR_ALL])  # an administrator: root's flows too
    monitor = running("--json", "monitor", "--no-prompts", "--connections", "--all-users")
    assert monitor.next_event("monitoring")["connections"] is True
    with recorder(netns.peer, (netns.peer_v4,), PORT):
        assert run_client(netns.host, "tcp", netns.peer_v4, PORT)["result"] == "connected"
    seen = monitor.next_event("connection")["flow"]
    assert (seen["destination"], seen["port"], seen["verdict"]) == (netns.peer_v4, PORT, "allow")

    def listed(*filters):
        return [f for f in ctl_json("history", "--all-users", "--since", "5m", *filters)["flows"]
                if f["port"] == PORT]  # fmt: skip

    wait_for(lambda: listed(), 10, "the flow in the history")
    (flow,) = listed()
    assert (flow["id"], flow["destination"], flow["protocol"]) == (seen["id"], netns.peer_v4, "tcp")
    assert (flow["verdict"], flow["decided_by"], flow["uid"]) == ("allow", "default", 0)
    assert listed("--verdict", "deny") == []
    assert listed("--host", netns.peer_v4, "--program", flow["exe"]) == [flow]
    assert listed("--host", "192.0.2.1") == []
    assert ctl_json("history", "--since", "5m", "--limit", "1", "--page", "9")["flows"] == []
    assert listed() and not [f for f in ctl_json("history", "--since", "5m")["flows"]
                             if f["port"] == PORT], "nobody's own: not root's"  # fmt: skip

    table = ctl("history", "--all-users", "--since", "5m").stdout.splitlines()
    assert table[0].split() == ["TIME", "PROGRAM", "USER", "DESTINATION", "VERDICT", "DECIDED",
                                "BY", "IN", "OUT"]  # fmt: skip
    row = next(line for line in table if f"{netns.peer_v4}:{PORT}/tcp" in line)
    assert " root " in row and " allow " in row and " default " in row

    exported = scratch / "flows.csv"
    done = ctl("history", "export", exported, "--since", "5m", "--verdict", "allow",
               "--all-users")  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")
    count = int(done.stdout.split()[1])
    assert done.stdout == f"exported {count} flows to {exported}\n" and count >= 1
    rows = list(csv.DictReader(exported.open()))
    assert len(rows) == count and os.stat(exported).st_uid == NOBODY
    mine = [r for r in rows if r["port"] == str(PORT)]
    assert [(r["id"], r["destination"], r["verdict"]) for r in mine] == [
        (str(flow["id"]), netns.peer_v4, "allow")]  # fmt: skip
    assert sorted(p.name for p in scratch.iterdir()) == ["flows.csv"], "no partial file left"
    as_json = ctl_json("history", "--all-users", "export", scratch / "flows.json", "--since",
                       "5m")  # fmt: skip
    assert (as_json["format"], as_json["flows"]) == ("json", count)
    assert monitor.interrupt() == 0


def test_connections_show_a_download_with_its_bytes_then_traffic_counts_it(netns, polkitd, root):
    polkitd(grant=[ACTION_MONITOR, ACTION_MONITOR_ALL])  # an administrator: root's download
    exe = os.path.realpath(sys.executable)

    def downloads(*whose):
        return [c for c in ctl_json("connections", *whose) if c["port"] == PORT]

    with bulk_server(netns.peer, netns.peer_v4, PORT, SIZE):
        fetch = start_fetch(netns.host, netns.peer_v4, PORT, SIZE)
        try:
            assert '"received": 3000000' in fetch.stdout.readline()
            wait_for(lambda: any(c["bytes_in"] > 0 for c in downloads("--all-users")), 10,
                     "the download in the live connections with its bytes")  # fmt: skip
            (live,) = downloads("--all-users")
            assert downloads() == [], "nobody's own connections: not root's"
            assert (live["exe"], live["destination"], live["uid"]) == (exe, netns.peer_v4, 0)
            table = ctl("connections", "--all-users").stdout.splitlines()
            assert table[0].split() == ["SINCE", "PROGRAM", "USER", "DESTINATION", "IN", "OUT"]
            assert any(f"{netns.peer_v4}:{PORT}/tcp" in line and " MB" in line
                       for line in table)  # fmt: skip
        finally:
            fetch.communicate("\n", timeout=10)

    def top():
        return ctl_json("traffic", "--since", "10m", "--top", "5", "--all-users")

    wait_for(lambda: any(p["bytes_in"] >= SIZE for p in top()["programs"]), 10,
             "the download's bytes in the top programs")  # fmt: skip
    (program,) = [p for p in top()["programs"] if p["exe"] == exe]
    assert program["uid"] == 0
    assert top()["hosts"][0]["host"] == netns.peer_v4
    assert "MB" in ctl("traffic", "--since", "10m", "--all-users").stdout
    assert ctl_json("traffic", "--since", "10m")["programs"] == [], "not nobody's"
    series = ctl_json("traffic", "series", "--since", "10m", "--program", exe, "--all-users")
    assert SIZE <= sum(point["bytes_in"] for point in series) <= SIZE * 1.05
    assert all(point["start"] % 60 == 0 for point in series)
    assert ctl_json("traffic", "series", "--program", "/nonexistent") == []
    too_many = ctl("traffic", "series", "--since", "30d")
    assert too_many.returncode == 1 and "bucket: must be a multiple of 60" in too_many.stderr


# Hash-change alerts


def pinned_program(root, folder):
    """A copy of nc in a folder of its own and a rule of nobody's pinning it; (path, rule)."""
    (folder / "bin").mkdir()
    program = str(folder / "bin" / "fetcher")
    shutil.copyfile(NC, program)
    os.chmod(program, 0o755)
    rule = root.call("AddRule", dictionary(own_rule(exe=program, sha256=sha256(program))))
    return program, rule


def open_alert(root, program, version=2):
    """Alter the pinned program on disk and wait for the helper's alert."""
    replace_binary(program, f"\0version {version}".encode())

    def raised():
        return [a for a in root.call("ListAlerts") if a["exe"] == program and a["state"] == "open"]

    wait_for(raised, 10, "the hash-change alert")
    return raised()[0]


def pin_of(root, rule_id):
    return next(r for r in root.call("ListRules") if r["id"] == rule_id).get("sha256")


def test_alerts_list_trust_and_block_a_changed_binary(polkitd, root, running, tmp_path):
    polkitd(grant=[ACTION_MONITOR, ACTION_MANAGE_OWN_RULES])
    monitor = running("--json", "monitor", "--no-prompts", "--connections")
    monitor.next_event("monitoring")
    program, rule = pinned_program(root, tmp_path)
    alert = open_alert(root, program)
    assert monitor.next_event("alert_raised")["alert"]["id"] == alert["id"]

    (listed,) = ctl_json("alerts", "--open")
    assert (listed["id"], listed["state"], listed["rules"]) == (alert["id"], "open", [rule["id"]])
    table = ctl("alerts").stdout.splitlines()
    assert table[0].split()[:6] == ["ID", "KIND", "STATE", "PROGRAM", "CHANGED", "PACKAGE"]
    assert table[1].split()[:4] == [str(alert["id"]), "changed", "open", program]

    done = ctl("alerts", "trust", alert["id"])
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith(f"trusted alert {alert['id']}: rules {rule['id']} now pin ")
    assert pin_of(root, rule["id"]) == sha256(program) == alert["new_sha256"]
    resolved = monitor.next_event("alert_resolved")["alert"]
    assert (resolved["id"], resolved["state"]) == (alert["id"], "trusted")
    again = ctl("alerts", "trust", alert["id"])
    assert (again.returncode, again.stdout) == (1, "")
    assert again.stderr == (
        f"netwardenctl: error: alert {alert['id']} was resolved already (trusted)\n"
    )
    assert ctl("alerts", "--open").stdout == "no open alerts\n"
    missing = ctl("alerts", "block", 424242)
    assert missing.returncode == 5 and "no alert 424242" in missing.stderr

    second = open_alert(root, program, version=3)
    blocked = ctl_json("alerts", "block", second["id"])
    assert blocked["state"] == "blocked"
    assert any(r["action"] == "deny" and r.get("sha256") == sha256(program)
               for r in root.call("ListRules"))  # fmt: skip
    assert pin_of(root, rule["id"]) == alert["new_sha256"], "the old rule keeps its pin"
    assert monitor.interrupt() == 0


@pytest.mark.parametrize("resolution", ["trust", "block"])
def test_resolving_an_alert_is_refused_with_exit_3_and_changes_nothing(
    polkitd, root, tmp_path, resolution
):
    polkitd(grant=sorted(ACTIONS - {ACTION_MANAGE_OWN_RULES}), deny=[ACTION_MANAGE_OWN_RULES])
    program, _rule = pinned_program(root, tmp_path)
    alert = open_alert(root, program)
    rules = root.call("ExportRules")
    done = ctl("alerts", resolution, alert["id"])
    assert (done.returncode, done.stdout) == (3, "")
    assert done.stderr.startswith("netwardenctl: not authorized: ")
    assert root.call("ExportRules") == rules
    assert [a["state"] for a in root.call("ListAlerts")] == ["open"]
