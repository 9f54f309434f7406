"""Hash pinning and hash-change alerts: a pinned program's binary replaced on disk.

Real helper process, real inotify, real dpkg and rpm (packages built and installed inside
the test rootfs; rpm's into a database of the test's own), real netfilter in a netns, real
dbus-daemon and polkitd.
"""

import hashlib
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import time

import dbus
import dbus.mainloop.glib
import pytest

from netwarden_common.api import ACTION_MANAGE_RULES, ACTIONS, INTERFACE
from netwarden_common.dbus_values import dictionary
from netwarden_common.rules import Rule
from netwarden_helper.pinning import packages, rpm
from netwarden_helper.pinning.alerts import Alert, FileFacts, affected_rules, block_rule
from netwarden_helper.policy.answers import Answer
from netwarden_helper.storage.store import _MIGRATIONS, Store
from tests.fixtures.api import ApiClient, error_name, pump_until
from tests.fixtures.binaries import NC, replace_binary, sha256
from tests.fixtures.traffic import recorder
from tests.fixtures.users import NOBODY

PORT = 8080
PACKAGE = "netwarden-test-nc"


# Pure parts


def test_only_rules_pinning_that_program_to_another_binary_are_affected():
    rules = [Rule("allow", exe="/usr/bin/a", sha256="1" * 64, id=1),
             Rule("allow", exe="/usr/bin/a", sha256="2" * 64, id=2),
             Rule("allow", exe="/usr/bin/a", id=3),
             Rule("allow", exe="/usr/bin/b", sha256="1" * 64, id=4)]  # fmt: skip
    assert [r.id for r in affected_rules(rules, "/usr/bin/a", "2" * 64)] == [1]


def test_blocking_denies_the_new_binary_for_the_users_of_the_old_rules():
    facts = FileFacts(0, 0, 1, 0, "", False)
    alert = Alert(5, 0, "/usr/bin/a", "1" * 64, "2" * 64, facts, (1,))
    mine = [Rule("allow", exe="/usr/bin/a", sha256="1" * 64, uid=1000, priority=3)]
    rule = block_rule(alert, mine)
    assert (rule.action, rule.sha256, rule.uid, rule.priority) == ("deny", "2" * 64, 1000, 3)
    mixed = [*mine, Rule("allow", exe="/usr/bin/a", sha256="1" * 64, uid=1001)]
    assert block_rule(alert, mixed).uid is None


def test_dpkg_records_tell_owner_and_whether_the_file_is_unchanged(tmp_path):
    info, program = tmp_path / "info", tmp_path / "usr" / "bin" / "tool"
    info.mkdir()
    program.parent.mkdir(parents=True)
    program.write_bytes(b"version 1")
    (info / "tool:amd64.list").write_text(f"/usr\n/usr/bin\n{program}\n")
    md5 = hashlib.md5(b"version 1").hexdigest()
    (info / "tool:amd64.md5sums").write_text(f"{md5}  {str(program).lstrip('/')}\n")
    assert packages.verify(str(program), info) == packages.Verification("tool:amd64", True)
    program.write_bytes(b"altered")
    assert packages.verify(str(program), info) == packages.Verification("tool:amd64", False)
    assert packages.verify(str(tmp_path / "other"), info) == packages.Verification("", False)


def test_a_package_managers_lock_held_by_another_process_is_seen(tmp_path):
    lock = tmp_path / "lock"
    lock.touch()
    assert not packages.locked(lock)
    holder = subprocess.Popen(  # dpkg locks with fcntl(), as lockf() does
        ["python3", "-c", "import fcntl,sys,time; f=open(sys.argv[1],'w'); "
         "fcntl.lockf(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(30)",
         str(lock)], stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert packages.locked(lock)
    finally:
        holder.kill()
        holder.wait()
    assert not packages.locked(lock)


def test_waiting_for_the_package_managers_asks_rpm_for_its_lock_once(monkeypatch):
    asked = []
    monkeypatch.setattr(rpm, "_rpm", lambda *args: asked.append(args) or "/var/lib/rpm/.lock\n")
    rpm.lock_path.cache_clear()
    try:
        assert not any(packages.busy() for _ in range(5))  # five polls
    finally:
        rpm.lock_path.cache_clear()  # the real rpm's for the next caller
    assert asked == [("--eval", "%{_rpmlock_path}")]


def test_a_version_1_database_gains_alerts_and_keeps_its_rules(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    with sqlite3.connect(state / "netwarden.db") as db:
        db.executescript(_MIGRATIONS[1])
        db.execute("INSERT INTO rules (action, exe, created) VALUES ('allow', '/usr/bin/a', 1)")
        db.execute("PRAGMA user_version = 1")
    store = Store(state)
    assert [r.exe for r in store.rules()] == ["/usr/bin/a"]
    assert store.alerts() == []
    store.close()


# With the real helper


class Watcher:
    """Root's app: a prompt agent for root's programs that also hears alerts."""

    def __init__(self, bus):
        self.client = ApiClient(bus, uid=0, mainloop=dbus.mainloop.glib.DBusGMainLoop())
        self.raised, self.resolved, self.prompts = [], [], []
        connection = self.client.connection
        connection.add_signal_receiver(self.raised.append, "AlertRaised", INTERFACE)
        connection.add_signal_receiver(self.resolved.append, "AlertResolved", INTERFACE)
        connection.add_signal_receiver(self.prompts.append, "PromptRaised", INTERFACE)
        self.client.call("RegisterPromptAgent", dictionary({}))

    def rule(self, rule_id):
        return next(r for r in self.client.call("ListRules") if r["id"] == rule_id)


@pytest.fixture
def watcher(system_bus, polkitd, helper):
    polkitd()
    watching = Watcher(system_bus)
    yield watching
    watching.client.close()


def connect(netns, program, wait=True):
    """Run `program` (a copy of nc) to the peer; with wait, its exit status (0: connected)."""
    process = netns.host.popen(program, "-z", "-w", "8", netns.peer_v4, str(PORT))
    return process.wait(20) if wait else process


def test_a_replaced_binary_is_alerted_held_and_passes_once_trusted_or_stays_blocked(
    netns, watcher, tmp_path
):
    program = str(tmp_path / "bin" / "fetcher")
    os.makedirs(os.path.dirname(program))
    shutil.copyfile(NC, program)
    os.chmod(program, 0o755)
    original = sha256(program)
    rule = watcher.client.call("AddRule", dictionary(
        {"action": "allow", "exe": program, "sha256": original, "uid": 0}))  # fmt: skip
    with recorder(netns.peer, (netns.peer_v4,), PORT) as server:
        assert connect(netns, program) == 0

        changed = time.monotonic()
        replace_binary(program, b"\0version 2")
        pump_until(lambda: watcher.raised, timeout=5)
        assert time.monotonic() - changed < 2, "alerted on the file change, not a connection"
        alert = watcher.raised[0]
        assert (alert["exe"], alert["old_sha256"], alert["new_sha256"]) == (
            program, original, sha256(program))  # fmt: skip
        assert (alert["state"], alert["verified"], alert["package"]) == ("open", False, "")
        assert list(alert["rules"]) == [rule["id"]] and alert["size"] == os.path.getsize(program)

        accepted = server.tcp_accepts
        held = connect(netns, program, wait=False)
        pump_until(lambda: watcher.prompts)
        assert watcher.prompts[0]["reason"] == "pin_mismatch"
        assert server.tcp_accepts == accepted, "the changed binary got nothing meanwhile"
        trusted = watcher.client.call("ResolveAlert", alert["id"], "trust")
        assert trusted["state"] == "trusted"
        assert held.wait(10) == 0, "the held connection went through once trusted"
        assert watcher.rule(rule["id"])["sha256"] == sha256(program)

        replace_binary(program, b"\0version 3")
        pump_until(lambda: len(watcher.raised) == 2, timeout=5)
        blocked = watcher.client.call("ResolveAlert", watcher.raised[1]["id"], "block")
        assert blocked["state"] == "blocked"
        started = time.monotonic()
        assert connect(netns, program) != 0
        assert time.monotonic() - started < 2, "refused at once, not held"
        assert any(r["action"] == "deny" and r["sha256"] == sha256(program)
                   for r in watcher.client.call("ListRules"))  # fmt: skip
        with pytest.raises(dbus.DBusException) as again:
            watcher.client.call("ResolveAlert", alert["id"], "block")
        assert "resolved already" in again.value.get_dbus_message()


def test_trusting_after_an_import_renumbered_the_rules_repins_them_by_what_they_name(
    netns, watcher, tmp_path
):
    """`rules import --replace` gives the same rules new ids: the alert's stored ids no
    longer name them. Trusting finds them by program and old hash instead."""
    program = str(tmp_path / "fetcher")
    shutil.copyfile(NC, program)
    os.chmod(program, 0o755)
    original = sha256(program)
    watcher.client.call("AddRule", dictionary(
        {"action": "allow", "exe": program, "sha256": original, "uid": 0}))  # fmt: skip
    exported = watcher.client.call("ExportRules")
    replace_binary(program, b"\0version 2")
    pump_until(lambda: watcher.raised, timeout=5)
    alert = watcher.raised[0]
    watcher.client.call("ImportRules", exported, dictionary({"replace": True}))  # new ids
    (renumbered,) = watcher.client.call("ListRules")
    assert renumbered["id"] not in alert["rules"]
    watcher.client.call("ResolveAlert", alert["id"], "trust")
    assert watcher.rule(renumbered["id"])["sha256"] == sha256(program)
    with recorder(netns.peer, (netns.peer_v4,), PORT):
        assert connect(netns, program) == 0


def test_trusting_when_no_rule_pins_the_old_binary_any_more_is_refused_plainly(watcher, tmp_path):
    program = str(tmp_path / "fetcher")
    shutil.copyfile(NC, program)
    os.chmod(program, 0o755)
    rule = watcher.client.call("AddRule", dictionary(
        {"action": "allow", "exe": program, "sha256": sha256(program), "uid": 0}))  # fmt: skip
    replace_binary(program, b"\0version 2")
    pump_until(lambda: watcher.raised, timeout=5)
    watcher.client.call("DeleteRule", rule["id"])
    with pytest.raises(dbus.DBusException) as refused:
        watcher.client.call("ResolveAlert", watcher.raised[0]["id"], "trust")
    assert "no rule pins" in refused.value.get_dbus_message()
    assert watcher.client.call("ListAlerts")[0]["state"] == "open"


def build_package(folder, version, extra):
    """A .deb of PACKAGE installing a copy of nc (plus `extra` bytes) as /usr/bin."""
    root = folder / f"v{version}"
    binary = root / "usr" / "bin" / "netwarden-test-nc"
    binary.parent.mkdir(parents=True)
    shutil.copyfile(NC, binary)
    with open(binary, "ab") as file:
        file.write(extra)
    binary.chmod(0o755)
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN" / "control").write_text(
        f"Package: {PACKAGE}\nVersion: {version}\nArchitecture: all\n"
        "Maintainer: Netwarden tests <dev@netwarden.invalid>\n"
        "Description: a program for the pinning tests\n"
    )
    md5 = hashlib.md5(binary.read_bytes()).hexdigest()
    (root / "DEBIAN" / "md5sums").write_text(f"{md5}  usr/bin/netwarden-test-nc\n")
    deb = folder / f"{PACKAGE}_{version}.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(deb)],
                   check=True, capture_output=True)  # fmt: skip
    return str(deb)


@pytest.fixture
def test_package(tmp_path):
    yield lambda version, extra: build_package(tmp_path, version, extra)
    subprocess.run(["dpkg", "--purge", PACKAGE], capture_output=True)


def updated_is_trusted_and_tampered_is_not(watcher, netns, program, upgrade, package):
    """Pin `program`, `upgrade()` its package to a version whose package manager record
    names `package`: re-pinned with no prompt; then alter the file by hand: an open alert,
    the pin kept."""
    rule = watcher.client.call("AddRule", dictionary(
        {"action": "allow", "exe": program, "sha256": sha256(program), "uid": 0}))  # fmt: skip

    upgrade()
    pump_until(lambda: watcher.raised, timeout=10)
    update = watcher.raised[0]
    assert (update["state"], update["verified"], update["package"]) == (
        "auto_trusted", True, package)  # fmt: skip
    assert watcher.rule(rule["id"])["sha256"] == sha256(program)
    with recorder(netns.peer, (netns.peer_v4,), PORT):
        assert connect(netns, program) == 0
    assert watcher.prompts == [], "an upgrade the package manager vouches for asks nothing"

    with open(program, "ab") as file:  # the same file, altered by hand
        file.write(b"\0tampered")
    pump_until(lambda: len(watcher.raised) == 2, timeout=5)
    tampered = watcher.raised[1]
    assert (tampered["state"], tampered["verified"], tampered["package"]) == (
        "open", False, package)  # fmt: skip
    assert watcher.rule(rule["id"])["sha256"] == update["new_sha256"], "still the v2 pin"


def test_a_verified_package_update_is_trusted_and_a_hand_edit_is_not(netns, watcher, test_package):
    program = "/usr/bin/netwarden-test-nc"
    subprocess.run(["dpkg", "-i", test_package(1, b"\0v1")], check=True, capture_output=True)

    def upgrade():
        subprocess.run(["dpkg", "-i", test_package(2, b"\0v2")], check=True, capture_output=True)

    updated_is_trusted_and_tampered_is_not(watcher, netns, program, upgrade, PACKAGE)


RPM_PROGRAM = "/usr/bin/netwarden-test-rpm-nc"
RPM_SPEC = """Name: netwarden-test-rpm-nc
Version: %{version_number}
Release: 1
Summary: a program for the pinning tests
License: MIT
AutoReqProv: no
%global debug_package %{nil}
%global __os_install_post %{nil}
%description
A copy of nc.
%install
install -D -m 0755 %{binary} %{buildroot}/usr/bin/netwarden-test-rpm-nc
%files
/usr/bin/netwarden-test-rpm-nc
"""


@pytest.fixture
def rpm_system(tmp_path, monkeypatch):
    """An rpm database of the test's own, made the one rpm uses (~/.rpmmacros, HOME as
    the helper started after this fixture inherits it), and `build(version, extra)`: a
    real rpm package (rpmbuild) installing a copy of nc plus `extra` as RPM_PROGRAM."""
    home, database = tmp_path / "home", tmp_path / "rpmdb"
    home.mkdir()
    (home / ".rpmmacros").write_text(f"%_dbpath {database}\n")
    monkeypatch.setenv("HOME", str(home))
    subprocess.run(["rpm", "--initdb"], check=True)
    (tmp_path / "package.spec").write_text(RPM_SPEC)

    def build(version, extra):
        binary = tmp_path / f"nc-{version}"
        shutil.copyfile(NC, binary)
        with open(binary, "ab") as file:
            file.write(extra)
        defines = {"_topdir": tmp_path / "rpmbuild", "version_number": version, "binary": binary}
        options = [a for name, value in defines.items() for a in ("--define", f"{name} {value}")]
        subprocess.run(["rpmbuild", "-bb", *options, str(tmp_path / "package.spec")], check=True,
                       capture_output=True)  # fmt: skip
        (built,) = (tmp_path / "rpmbuild" / "RPMS").glob(f"*/*-{version}-1.*.rpm")
        return str(built)

    yield build
    subprocess.run(["rpm", "--erase", "--nodeps", "netwarden-test-rpm-nc"], capture_output=True)


def test_rpms_database_tells_owner_and_whether_the_file_is_unchanged(rpm_system, tmp_path):
    subprocess.run(["rpm", "--install", rpm_system(1, b"\0v1")], check=True)
    package = f"netwarden-test-rpm-nc-1-1.{platform.machine()}"
    assert packages.verify(RPM_PROGRAM) == packages.Verification(package, True)
    with open(RPM_PROGRAM, "ab") as file:
        file.write(b"altered")
    assert packages.verify(RPM_PROGRAM) == packages.Verification(package, False)
    assert packages.verify(str(tmp_path / "other")) == packages.Verification("", False)


def test_an_rpm_update_is_trusted_and_a_hand_edit_is_not(rpm_system, netns, watcher):
    subprocess.run(["rpm", "--install", rpm_system(1, b"\0v1")], check=True)

    def upgrade():
        subprocess.run(["rpm", "--upgrade", rpm_system(2, b"\0v2")], check=True)

    package = f"netwarden-test-rpm-nc-2-1.{platform.machine()}"
    updated_is_trusted_and_tampered_is_not(watcher, netns, RPM_PROGRAM, upgrade, package)


def test_resolving_someone_elses_alert_needs_an_administrator(
    system_bus, polkitd, helper, netns, tmp_path
):
    polkitd(grant=sorted(ACTIONS - {ACTION_MANAGE_RULES}), deny=[ACTION_MANAGE_RULES])
    program = str(tmp_path / "bin" / "fetcher")
    os.makedirs(os.path.dirname(program))
    shutil.copyfile(NC, program)
    root = ApiClient(system_bus, uid=0)
    root.call("AddRule", dictionary({"action": "allow", "exe": program, "sha256": sha256(program),
                                     "uid": 0}))  # fmt: skip
    replace_binary(program, b"\0changed")
    nobody = ApiClient(system_bus, uid=NOBODY)
    alerts = []
    pump_until(lambda: alerts.extend(nobody.call("ListAlerts")) or alerts, timeout=5)
    with pytest.raises(dbus.DBusException) as refused:
        nobody.call("ResolveAlert", alerts[0]["id"], "trust")
    assert error_name(refused.value) == "NotAuthorized"
    assert nobody.call("ListAlerts")[0]["state"] == "open"
    with pytest.raises(dbus.DBusException) as missing:
        nobody.call("ResolveAlert", 999, "trust")
    assert error_name(missing.value) == "NotFound"
    with pytest.raises(dbus.DBusException) as wrong:
        root.call("ResolveAlert", alerts[0]["id"], "ignore")
    assert error_name(wrong.value) == "InvalidArgument"
    root.close()
    nobody.close()


SCRIPT = """
import socket, sys
socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10).close()
"""


def test_a_binary_that_no_pin_matches_is_recorded_as_such_not_as_the_default(
    netns, helper_thread, tmp_path
):
    program = tmp_path / "nc"
    shutil.copy(NC, program)
    helper = helper_thread(prompter=False)  # nobody to ask: decided at once
    helper.call(lambda h: h.rule_book.add_rule(Rule(action="allow", exe=str(program),
                                                    sha256="0" * 64)))  # fmt: skip
    decided = []
    helper.call(lambda h: h.verdicts.decided.connect(
        lambda flow, five_tuple, action, decided_by, rule_id: decided.append((action, decided_by))
    ))  # fmt: skip
    with recorder(netns.peer, (netns.peer_v4,), PORT) as servers:
        assert connect(netns, program) != 0
    assert decided and set(decided) == {("deny", "pin_mismatch")}
    assert servers.tcp_accepts == 0


def test_two_scripts_of_one_python_are_told_apart_in_prompts_and_rules(
    helper_thread, netns, tmp_path
):
    helper = helper_thread()
    first, second = tmp_path / "sync.py", tmp_path / "upload.py"
    first.write_text(SCRIPT)
    second.write_text(SCRIPT + "# another program\n")

    def run(script):
        return netns.host.popen(sys.executable, script.name, netns.peer_v4, str(PORT),
                                cwd=tmp_path)  # fmt: skip

    with recorder(netns.peer, (netns.peer_v4,), PORT):
        running = run(first)
        prompt = helper.wait_for_prompt()
        assert (prompt.flow.script, prompt.flow.script_sha256) == (
            str(first), hashlib.sha256(first.read_bytes()).hexdigest())  # fmt: skip
        rule = helper.call(
            lambda h: h.held_flows.answer(prompt.id, Answer("allow", "any", "forever"))
        )
        assert (rule.exe, rule.script) == (prompt.flow.exe, str(first))
        assert running.wait(10) == 0

        other = run(second)
        assert helper.wait_for_prompt(2).flow.script == str(second), "not allowed by sync.py's"
        helper.call(lambda h: h.held_flows.answer(helper.prompter.raised[1].id, Answer("deny")))
        assert other.wait(10) != 0
        assert run(first).wait(10) == 0
    assert len(helper.prompter.raised) == 2, "sync.py's rule answered its second run"
