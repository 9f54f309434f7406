"""The administrator's rules in rules.d: loading (pure), and end to end with a real helper
in a netns on the private bus with polkitd: files added, edited and removed apply at once,
rank above the user's rules, and cannot be changed through D-Bus."""

import json
import os
import shutil

import dbus
import pytest

from netwarden_helper.policy.rules_dir import ADMIN_IDS, admin_rules
from tests.fixtures.api import ApiClient, error_name
from tests.fixtures.binaries import NC, replace_binary, sha256
from tests.fixtures.processes import wait_for
from tests.fixtures.traffic import recorder, run_client

PORT = 8080


def rules_file(*rules):
    return json.dumps({"format": "netwarden-rules", "version": 1, "rules": list(rules)})


def test_each_file_loads_whole_or_not_at_all_in_name_order():
    files = [
        ("rules.d/10-corp.json", rules_file({"action": "deny", "ports": "25"},
                                            {"action": "allow", "priority": 5})),
        ("rules.d/15-broken.json", rules_file({"action": "deny"}, {"action": "maybe"})),
        ("rules.d/17-quit.json", rules_file({"action": "deny", "lifetime": "until_quit",
                                             "pid": 1, "pid_start": 1})),
        ("rules.d/18-not-json.json", "{"),
        ("rules.d/19-deep.json", "[" * 100_000),
        ("rules.d/20-lab.json", rules_file({"action": "deny", "destination": "*.example.org",
                                            "hits": 9})),
    ]  # fmt: skip
    admin, errors = admin_rules(files)
    assert [(r.action, r.priority) for r in admin.rules] == [
        ("allow", 5), ("deny", 0), ("deny", 0)]  # fmt: skip
    assert sorted(admin.sources.values()) == [
        "rules.d/10-corp.json", "rules.d/10-corp.json", "rules.d/20-lab.json"]  # fmt: skip
    assert all(rule.id >= ADMIN_IDS and rule.hits == 0 for rule in admin.rules)
    assert [error.split(":")[0] for error in errors] == [
        "rules.d/15-broken.json", "rules.d/17-quit.json", "rules.d/18-not-json.json",
        "rules.d/19-deep.json"]  # fmt: skip
    assert "rules[1].action" in errors[0]


def write_atomically(path, text):
    """As configuration management tools do: a temporary file renamed into place."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


@pytest.fixture
def root(system_bus, polkitd, helper):
    polkitd()
    client = ApiClient(system_bus, uid=0)
    yield client
    client.close()
    assert helper.poll() is None, "the helper died"


def admin_listed(root):
    return [dict(r) for r in root.call("ListRules") if r.get("source")]


def outcomes(netns):
    return [run_client(netns.host, "tcp", address, PORT)["result"]
            for address in (netns.peer_v4, netns.peer_v6)]  # fmt: skip


def test_a_dropped_in_file_applies_at_once_then_edited_then_removed(netns, root, rules_d):
    corp = rules_d / "10-corp.json"
    with recorder(netns.peer, (netns.peer_v4, netns.peer_v6), PORT):
        assert outcomes(netns) == ["connected", "connected"]

        write_atomically(corp, rules_file({"action": "deny", "destination": netns.peer_v4}))
        wait_for(lambda: admin_listed(root), 5, "the file to load")
        (listed,) = admin_listed(root)
        assert (listed["source"], listed["destination"]) == ("rules.d/10-corp.json",
                                                             netns.peer_v4)  # fmt: skip
        assert outcomes(netns) == ["refused", "connected"]

        root.call("AddRule", {"action": "allow", "destination": netns.peer_v4, "priority": 1000})
        assert outcomes(netns) == ["refused", "connected"], "the administrator's band ranks first"

        corp.write_text(rules_file({"action": "deny", "destination": netns.peer_v6}))  # in place
        wait_for(lambda: admin_listed(root)[0]["destination"] == netns.peer_v6, 5, "the edit")
        assert outcomes(netns) == ["connected", "refused"]

        (rules_d / "20-broken.json").write_text(
            '{"format": "netwarden-rules", "version": 1, '
            '"rules": [{"action": "deny"}, {"ports": 1}]}'
        )
        corp.unlink()
        wait_for(lambda: not admin_listed(root), 5, "the removal")
        assert outcomes(netns) == ["connected", "connected"], "the broken file is ignored whole"
        assert [r["destination"] for r in root.call("ListRules")] == [netns.peer_v4]


def test_the_administrators_rules_cannot_be_changed_through_dbus(netns, root, rules_d):
    write_atomically(rules_d / "10-corp.json", rules_file({"action": "deny", "ports": "25"}))
    wait_for(lambda: admin_listed(root), 5, "the file to load")
    user_rule = root.call("AddRule", {"action": "allow", "exe": "/usr/bin/curl"})
    before = [dict(r) for r in root.call("ListRules")]
    (admin_id,) = [r["id"] for r in before if r["source"]]
    exported = root.call("ExportRules")
    assert [r["exe"] for r in json.loads(exported)["rules"]] == ["/usr/bin/curl"]

    for method, arguments in [
        ("UpdateRule", (admin_id, {"action": "allow", "ports": "25"})),
        ("SetRuleEnabled", (admin_id, False)),
        ("DeleteRule", (admin_id,)),
    ]:
        with pytest.raises(dbus.DBusException) as error:
            root.call(method, *arguments)
        assert error_name(error.value) == "InvalidArgument"
        assert (f"rule {admin_id} is managed by the administrator in "
                f"{rules_d}/10-corp.json") in error.value.get_dbus_message()  # fmt: skip
    assert [dict(r) for r in root.call("ListRules")] == before

    result = root.call("ImportRules", exported, {"replace": True, "dry_run": True})
    assert result["removed"] == 1, "only the user's rules would be replaced"
    root.call("DeleteRule", user_rule["id"])
    assert [r["id"] for r in root.call("ListRules")] == [admin_id]


def test_an_alert_on_an_administrators_pinned_rule_is_trusted_only_by_its_file(
    netns, root, rules_d, tmp_path
):
    program = tmp_path / "bin" / "fetcher"
    program.parent.mkdir()
    shutil.copyfile(NC, program)
    write_atomically(rules_d / "10-corp.json", rules_file(
        {"action": "allow", "exe": str(program), "sha256": sha256(program)}))  # fmt: skip
    wait_for(lambda: admin_listed(root), 5, "the file to load")
    replace_binary(program, b"\0changed")
    alerts = []
    wait_for(lambda: alerts.extend(root.call("ListAlerts")) or alerts, 5, "the alert")
    with pytest.raises(dbus.DBusException) as refused:
        root.call("ResolveAlert", alerts[0]["id"], "trust")
    assert error_name(refused.value) == "InvalidArgument"
    assert "updating their sha256 in /etc/netwarden/rules.d" in refused.value.get_dbus_message()
    assert root.call("ListAlerts")[0]["state"] == "open"
    assert root.call("ResolveAlert", alerts[0]["id"], "block")["state"] == "blocked"
