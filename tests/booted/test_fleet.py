"""What a fleet's administrator runs: policy deployed into /etc/netwarden/rules.d/ the way
configuration management writes files (a file written aside then renamed into place; a
whole folder swapped for a new one), applied without a restart; and every decision
forwarded by `systemd-journal-upload` to a `systemd-journal-remote` receiver with its
NETWARDEN_* fields (docs/fleet.md).

The receiver runs on the peer (192.0.2.2, the test's side of the link), the machine a
fleet's log collector would be: the entries cross the network, through the helper's own
rules, and no second container is booted for it. The tests run in file order: the
decisions the rules.d tests cause are the ones the journal test follows."""

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.booted.conftest import PORT, UNIT, ctl, helper_pid
from tests.fixtures.booted import Machine
from tests.fixtures.netns import PEER_V4, Sandbox

RECEIVER_PORT = 19532  # systemd-journal-remote's port for HTTP
UPLOAD = "/usr/lib/systemd/systemd-journal-upload"
UPLOAD_CONF = f"[Upload]\nURL=http://{PEER_V4}:{RECEIVER_PORT}\n"
ETC = "/etc/netwarden"
NC = "/usr/bin/nc.openbsd"
IDENTIFIER = "netwarden-helper"


def rules_file(*rules: dict) -> str:
    return json.dumps({"format": "netwarden-rules", "version": 1, "rules": list(rules)})


# In every version of the folder: the uploader may reach the collector.
UPLOADER = rules_file({"action": "allow", "exe": UPLOAD, "destination": PEER_V4,
                       "ports": str(RECEIVER_PORT), "protocol": "tcp"})  # fmt: skip


def nc_rule(action: str) -> str:
    return rules_file({"action": action, "exe": NC, "destination": PEER_V4,
                       "ports": str(PORT), "protocol": "tcp", "note": action})  # fmt: skip


@pytest.fixture(scope="module")
def receiver(network: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """systemd-journal-remote on the peer, over HTTP, into one journal file."""
    output = tmp_path_factory.mktemp("remote") / "fleet.journal"
    process = network.peer.popen(
        "/usr/lib/systemd/systemd-journal-remote", f"--listen-http={RECEIVER_PORT}",
        f"--output={output}", "--split-mode=none",
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    yield output
    process.terminate()
    process.wait(10)


@pytest.fixture
def uploading(machine: Machine, receiver: Path) -> Path:
    """The machine's journal forwarded to the receiver, as an administrator sets it up
    (after the tests above: its first connection is decided by their rules.d file)."""
    machine.write("/etc/systemd/journal-upload.conf.d/50-fleet.conf", UPLOAD_CONF)
    machine.run("systemctl", "enable", "--now", "systemd-journal-upload.service")
    return receiver


def admin_notes(machine: Machine) -> list[tuple[str, str]]:
    rules = json.loads(ctl(machine, "--json", "rules", "list"))
    return sorted((rule["source"], rule["note"]) for rule in rules
                  if rule.get("source", "").startswith("rules.d/"))  # fmt: skip


def applied(machine: Machine, expected: list[tuple[str, str]], timeout: float = 5) -> None:
    """Until the helper's administrator rules are `expected` (source, note; sorted)."""
    deadline = time.monotonic() + timeout
    while (notes := admin_notes(machine)) != expected:
        assert time.monotonic() < deadline, f"not applied: {notes}"
        time.sleep(0.1)


def connects(machine: Machine) -> bool:
    return machine.run("nc", "-z", "-w", "3", PEER_V4, str(PORT), check=False).returncode == 0


def test_a_file_written_aside_and_renamed_into_place_applies_without_a_restart(machine, peer):
    pid = helper_pid(machine)
    machine.run("install", "-d", "-m", "0755", f"{ETC}/rules.d")
    machine.write(f"{ETC}/rules.d/00-journal-upload.json", UPLOADER)
    applied(machine, [("rules.d/00-journal-upload.json", "")])
    # Ansible's atomic_move: a hidden temporary file in the same folder, written (here in
    # two parts, the first not yet valid JSON), then renamed over the target.
    partial = f"{ETC}/rules.d/.ansible_tmpk2x0710-fleet.json"
    text = nc_rule("deny")
    # docs/fleet.md's Ansible `validate:` command, on a bad and a good rendering
    machine.write("/root/bad.json", text.replace('"deny"', '"drop"', 1))
    machine.write("/root/good.json", text)
    validate = ("netwardenctl", "import", "--dry-run")
    assert machine.run(*validate, "/root/bad.json", check=False).returncode == 1
    assert machine.run(*validate, "/root/good.json", check=False).returncode == 0
    machine.write(partial, text[:20])
    time.sleep(1)  # past the watch's settling time: a half-written file is not read
    assert admin_notes(machine) == [("rules.d/00-journal-upload.json", "")]
    machine.write(partial, text)
    machine.run("mv", "-T", partial, f"{ETC}/rules.d/10-fleet.json")
    applied(machine, [("rules.d/00-journal-upload.json", ""), ("rules.d/10-fleet.json", "deny")])
    accepted = peer.tcp_accepts
    assert not connects(machine) and peer.tcp_accepts == accepted
    assert helper_pid(machine) == pid, "applied without a restart"


def test_a_whole_folder_replaced_by_a_new_one_applies_without_a_restart(machine, peer):
    pid = helper_pid(machine)
    assert ("rules.d/10-fleet.json", "deny") in admin_notes(machine)  # the test above

    def new_folder(name: str, action: str) -> None:
        machine.write(f"{ETC}/{name}/00-journal-upload.json", UPLOADER)
        machine.write(f"{ETC}/{name}/10-fleet.json", nc_rule(action))

    expected = [("rules.d/00-journal-upload.json", "")]
    # A real folder renamed over the old one, atomically (renameat2 RENAME_EXCHANGE).
    new_folder("rules.d.new", "allow")
    machine.run("mv", "-T", "--exchange", f"{ETC}/rules.d.new", f"{ETC}/rules.d")
    machine.run("rm", "-r", f"{ETC}/rules.d.new")
    applied(machine, [*expected, ("rules.d/10-fleet.json", "allow")])
    assert connects(machine)
    # rules.d a symbolic link to a release folder, the link renamed over: first it turns
    # a folder into a link (an exchange again), then a link into another link (rename(2)).
    for release, action in (("rules.d-2", "deny"), ("rules.d-3", "allow")):
        new_folder(release, action)
        machine.run("ln", "-s", release, f"{ETC}/.rules.d.link")
        swap = "--exchange" if release == "rules.d-2" else "--no-copy"
        machine.run("mv", "-T", swap, f"{ETC}/.rules.d.link", f"{ETC}/rules.d")
        machine.run("rm", "-rf", f"{ETC}/.rules.d.link")
        applied(machine, [*expected, ("rules.d/10-fleet.json", action)])
        assert connects(machine) == (action == "allow")
    assert helper_pid(machine) == pid, "applied without a restart"
    assert (
        machine.run("systemctl", "show", "-p", "NRestarts", "--value", UNIT).stdout.strip() == "0"
    )


def decisions(lines: str) -> dict[tuple[str, str], dict[str, str]]:
    """The helper's decisions in `journalctl -o json` output, by boot and timestamp."""
    found = {}
    for line in lines.splitlines():
        entry = json.loads(line)
        if "NETWARDEN_VERDICT" in entry:
            key = (entry["_BOOT_ID"], entry["__REALTIME_TIMESTAMP"])
            found[key] = {k: v for k, v in entry.items() if k.startswith("NETWARDEN_")}
    return found


def test_every_decision_reaches_the_collector_with_its_fields(machine, uploading):
    deadline = time.monotonic() + 20
    local: dict = {}
    while not any(f.get("NETWARDEN_EXE") == UPLOAD for f in local.values()):
        assert time.monotonic() < deadline, "the uploader's connection was not decided"
        time.sleep(0.2)
        local = decisions(machine.run("journalctl", "-o", "json", "-t", IDENTIFIER).stdout)
    verdicts = {(f["NETWARDEN_VERDICT"], f["NETWARDEN_DECIDED_BY"]) for f in local.values()}
    assert {("allow", "rule"), ("deny", "rule")} <= verdicts, verdicts
    remote: dict = {}
    while not local.keys() <= remote.keys() and time.monotonic() < deadline:
        time.sleep(0.5)
        journal = subprocess.run(["journalctl", f"--file={uploading}", "-o", "json",
                                  "-t", IDENTIFIER], capture_output=True, text=True)  # fmt: skip
        remote = decisions(journal.stdout)
    missing = local.keys() - remote.keys()
    assert not missing, f"{len(missing)} of {len(local)} decisions did not arrive"
    assert {key: remote[key] for key in local} == local
    print(f"{len(local)} decisions forwarded, every NETWARDEN_* field kept")
    uploads = [f for f in remote.values() if f.get("NETWARDEN_EXE") == UPLOAD]
    assert uploads[0]["NETWARDEN_DECIDED_BY"] == "rule", "the uploader's own connection"
