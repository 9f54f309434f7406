"""The installed helper as users meet it: D-Bus activation, polkit's answers by logind
session, and `netwardenctl` as a logged-in user."""

import json

from tests.booted.conftest import ALICE, UNIT, helper_pid

REFUSED = 3  # netwardenctl's exit status when polkit says no


def test_a_clean_stop_removes_the_rules_and_dbus_activation_starts_it_again(machine):
    first = helper_pid(machine)
    machine.run("systemctl", "stop", UNIT)
    assert "NETWARDEN" not in machine.run("iptables-save").stdout
    alice = machine.login("alice")
    try:
        status = alice.run("netwardenctl", "--json", "status")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["version"]
        assert machine.run("systemctl", "is-active", UNIT).stdout.strip() == "active"
        assert helper_pid(machine) not in (0, first)
        assert "-A OUTPUT -j NETWARDEN_OUT" in machine.run("iptables-save").stdout
    finally:
        alice.close()


def test_polkit_answers_for_the_active_session_and_refuses_the_inactive_one(machine):
    alice = machine.login("alice")
    bob = None
    try:
        assert (alice.show("Active"), alice.show("Seat")) == ("yes", "seat0")
        added = alice.run("netwardenctl", "--json", "rules", "add", "--action", "allow",
                          "--exe", "/usr/bin/nc.openbsd", "--uid", "me")  # fmt: skip
        assert added.returncode == 0, added.stderr
        rule = json.loads(added.stdout)
        assert rule["uid"] == ALICE
        # Anyone else's programs are an administrator's: nobody here to authenticate.
        others = alice.run("netwardenctl", "rules", "add", "--action", "allow", "--exe",
                           "/usr/bin/nc.openbsd", "--uid", "any")  # fmt: skip
        assert others.returncode == REFUSED, others

        bob = machine.login("bob")  # bob's session comes to the front of the seat
        assert (alice.show("Active"), bob.show("Active")) == ("no", "yes")
        assert alice.run("netwardenctl", "rules", "list").returncode == REFUSED
        assert bob.run("netwardenctl", "rules", "list").returncode == 0

        alice.activate()  # switching back
        assert alice.run("netwardenctl", "rules", "list").returncode == 0
        assert bob.run("netwardenctl", "rules", "list").returncode == REFUSED
        assert alice.run("netwardenctl", "rules", "rm", str(rule["id"])).returncode == 0
    finally:
        alice.close()
        if bob is not None:
            bob.close()
