"""The helper's D-Bus API: real helper process, real dbus-daemon, real polkitd.

Callers are unprivileged (polkitd authorizes root for everything); root connections are
used only to set the scene and to read the state back.
"""

import json
import os
import subprocess
import sys
import tempfile
from xml.etree import ElementTree

import dbus
import dbus.mainloop.glib
import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netwarden_common.api import (
    ACTION_ANSWER_PROMPT,
    ACTION_MANAGE_OWN_RULES,
    ACTION_MANAGE_RULES,
    ACTION_MONITOR,
    ACTION_SETTINGS,
    ACTIONS,
    BUS_NAME,
    INTERFACE,
    OBJECT_PATH,
)
from netwarden_common.dbus_values import dictionary
from tests.fixtures.api import SIGNATURES, ApiClient, error_name, own_rule, pump_until, state
from tests.fixtures.traffic import CHECKOUT, recorder, run_client
from tests.fixtures.users import NOBODY

OTHER_USER = 1  # "daemon": a second unprivileged user
PORT = 8080


@pytest.fixture
def admin(polkitd, root):
    """Root with polkitd running (which authorizes root for everything)."""
    polkitd()
    return root


@pytest.fixture
def nobody(system_bus, helper):
    client = ApiClient(system_bus, uid=NOBODY)
    yield client
    client.close()


RULES_FILE = json.dumps(
    {"format": "netwarden-rules", "version": 1, "rules": [{"action": "deny", "ports": "25"}]}
)


def writable_fd():
    """A file descriptor of a new temporary file, as a client passes one to ExportHistory."""
    return dbus.types.UnixFd(tempfile.TemporaryFile("w"))


def a_profile():
    """The name of a new profile, added as root (for a test to change, use or remove)."""
    root = dbus.bus.BusConnection(os.environ["DBUS_SYSTEM_BUS_ADDRESS"])
    try:
        root.call_blocking(BUS_NAME, OBJECT_PATH, INTERFACE, "AddProfile", "a{sv}",
                           ({"name": "Home"},))  # fmt: skip
    finally:
        root.close()
    return "Home"


def a_blocklist():
    """The id of a new blocklist subscription, added as root (to be removed by a test)."""
    root = dbus.bus.BusConnection(os.environ["DBUS_SYSTEM_BUS_ADDRESS"])
    try:
        added = root.call_blocking(BUS_NAME, OBJECT_PATH, INTERFACE, "AddBlocklist", "a{sv}",
                                   ({"source": "http://192.0.2.2:9/old"},))  # fmt: skip
    finally:
        root.close()
    return added["id"]


def locations_on():
    """Turn the location database on, as root, with a source that refuses connections."""
    root = dbus.bus.BusConnection(os.environ["DBUS_SYSTEM_BUS_ADDRESS"])
    try:
        values = {"locations": True, "locations_source": "http://192.0.2.2:9/x"}
        root.call_blocking(BUS_NAME, OBJECT_PATH, INTERFACE, "SetSettings", "a{sv}", (values,))
    finally:
        root.close()
    return ()


# (method, arguments given the id of an existing rule of nobody's, the action it needs)
CASES = [
    ("GetStatus", lambda rid: (), ACTION_MONITOR),
    ("GetSettings", lambda rid: (), ACTION_MONITOR),
    ("ListRules", lambda rid: (), ACTION_MONITOR),
    ("ExportRules", lambda rid: (), ACTION_MONITOR),
    ("SetSettings", lambda rid: ({"prompt_timeout": 30},), ACTION_SETTINGS),
    ("AddRule", lambda rid: (own_rule(destination="*.example.org"),), ACTION_MANAGE_OWN_RULES),
    ("AddRule", lambda rid: (own_rule(uid=OTHER_USER),), ACTION_MANAGE_RULES),
    ("AddRule", lambda rid: ({"action": "deny", "ports": "25"},), ACTION_MANAGE_RULES),
    ("UpdateRule", lambda rid: (rid, own_rule(note="edited")), ACTION_MANAGE_OWN_RULES),
    ("UpdateRule", lambda rid: (rid, own_rule(uid=OTHER_USER)), ACTION_MANAGE_RULES),
    ("SetRuleEnabled", lambda rid: (rid, False), ACTION_MANAGE_OWN_RULES),
    ("DeleteRule", lambda rid: (rid,), ACTION_MANAGE_OWN_RULES),
    ("ImportRules", lambda rid: (RULES_FILE, {}), ACTION_MANAGE_RULES),
    ("RegisterPromptAgent", lambda rid: ({},), ACTION_ANSWER_PROMPT),
    ("RegisterPromptAgent", lambda rid: ({"all_users": True},), ACTION_MANAGE_RULES),
    ("ListPrompts", lambda rid: (), ACTION_ANSWER_PROMPT),
    ("UnregisterPromptAgent", lambda rid: (), ACTION_ANSWER_PROMPT),
    ("ListAlerts", lambda rid: (), ACTION_MONITOR),
    ("WatchConnections", lambda rid: ({},), ACTION_MONITOR),
    ("UnwatchConnections", lambda rid: (), ACTION_MONITOR),
    ("ListConnections", lambda rid: ({},), ACTION_MONITOR),
    ("QueryHistory", lambda rid: ({"limit": 10},), ACTION_MONITOR),
    ("TrafficSeries", lambda rid: ({"bucket": 3600},), ACTION_MONITOR),
    ("TopTraffic", lambda rid: ({"limit": 5},), ACTION_MONITOR),
    ("ExportHistory", lambda rid: (writable_fd(), {"format": "json"}), ACTION_MONITOR),
    ("QueryProfileSwitches", lambda rid: ({"limit": 10},), ACTION_MONITOR),
    ("ListBlocklists", lambda rid: (), ACTION_MONITOR),
    ("AddBlocklist", lambda rid: ({"source": "http://192.0.2.2:9/new"},), ACTION_MANAGE_RULES),
    ("RemoveBlocklist", lambda rid: (a_blocklist(),), ACTION_MANAGE_RULES),
    ("SetBlocklistEnabled", lambda rid: (a_blocklist(), False), ACTION_MANAGE_RULES),
    ("UpdateBlocklists", lambda rid: (), ACTION_MANAGE_RULES),
    ("ListProfiles", lambda rid: (), ACTION_MONITOR),
    ("AddProfile", lambda rid: ({"name": "Work", "ssid": "Office"},), ACTION_SETTINGS),
    ("UpdateProfile", lambda rid: (a_profile(), {"ssid": "Home Wi-Fi"}), ACTION_SETTINGS),
    ("RenameProfile", lambda rid: (a_profile(), "Away"), ACTION_SETTINGS),
    ("RemoveProfile", lambda rid: (a_profile(), {}), ACTION_SETTINGS),
    ("SetActiveProfile", lambda rid: (a_profile(),), ACTION_SETTINGS),
    ("LocateAddresses", lambda rid: (["192.0.2.2", "10.0.0.1"],), ACTION_MONITOR),
    ("GetLocationDatabase", lambda rid: (), ACTION_MONITOR),
    ("UpdateLocationDatabase", lambda rid: locations_on(), ACTION_SETTINGS),
]
CHANGING = {
    "SetSettings", "AddRule", "UpdateRule", "SetRuleEnabled", "DeleteRule", "ImportRules",
    "AddBlocklist", "RemoveBlocklist", "SetBlocklistEnabled", "AddProfile", "UpdateProfile",
    "RenameProfile", "RemoveProfile", "SetActiveProfile",
}  # fmt: skip


def test_every_method_has_a_case_and_its_signature_is_the_one_clients_use(root):
    xml = root.connection.call_blocking(BUS_NAME, OBJECT_PATH,
                                        "org.freedesktop.DBus.Introspectable", "Introspect",
                                        "", ())  # fmt: skip
    (interface,) = [i for i in ElementTree.fromstring(xml) if i.get("name") == INTERFACE]
    exported = {
        method.get("name"): "".join(a.get("type") for a in method if a.get("direction") == "in")
        for method in interface.iter("method")
    }
    assert exported == SIGNATURES
    # AnswerPrompt and ResolveAlert need a held flow or a changed binary: granted and
    # denied in test_a_prompt_goes_only_to_its_users_agent_and_only_they_can_answer and
    # tests/test_pins.py.
    tested = {case[0] for case in CASES} | {"AnswerPrompt", "ResolveAlert"}
    assert tested == set(exported), "each method is tested"


@pytest.mark.parametrize(("method", "arguments", "action"), CASES)
def test_each_method_works_when_polkit_grants_its_action(
    polkitd, root, nobody, method, arguments, action
):
    polkitd(grant=[action])
    given = arguments(root.call("AddRule", own_rule())["id"])
    before = state(root)
    nobody.call(method, *given)
    assert (state(root) != before) == (method in CHANGING)


@pytest.mark.parametrize(("method", "arguments", "action"), CASES)
def test_each_method_is_refused_when_polkit_denies_and_changes_nothing(
    polkitd, root, nobody, method, arguments, action
):
    polkitd(grant=sorted(ACTIONS - {action}), deny=[action])
    given = arguments(root.call("AddRule", own_rule())["id"])
    before = state(root)
    with pytest.raises(dbus.DBusException) as error:
        nobody.call(method, *given)
    assert error_name(error.value) == "NotAuthorized"
    assert state(root) == before


def test_status_tells_what_the_helper_itself_takes(polkitd, root, helper):
    polkitd()  # root: everything
    used = root.call("GetStatus")["footprint"]
    measured = psutil.Process(helper.pid).memory_info().rss
    assert 10 << 20 < used["memory"] < 1 << 30
    assert abs(used["memory"] - measured) < measured / 2
    assert used["cpu_seconds"] > 0
    assert used["threads"] >= 3  # the loop and its workers
    assert used["open_files"] >= 5  # queues, netlink, the databases


def test_rule_round_trip_and_clear_errors(admin):
    root = admin
    added = root.call("AddRule", own_rule(destination="*.example.org", ports="443"))
    assert (added["destination"], added["ports"], added["uid"]) == ("*.example.org", "443", NOBODY)
    updated = root.call("UpdateRule", added["id"], own_rule(ports="8000-8080"))
    assert updated["ports"] == "8000-8080"
    root.call("SetRuleEnabled", added["id"], False)
    (listed,) = root.call("ListRules")
    assert listed["enabled"] is not True and int(listed["id"]) == int(added["id"])
    exported = root.call("ExportRules")
    root.call("DeleteRule", added["id"])
    assert list(root.call("ListRules")) == []
    result = root.call("ImportRules", exported, {"dry_run": True})
    assert (result["added"], result["dry_run"]) == (1, True)
    assert list(root.call("ListRules")) == []
    root.call("ImportRules", exported, {"replace": True})
    (restored,) = root.call("ListRules")
    assert (restored["ports"], bool(restored["enabled"])) == ("8000-8080", False)

    for method, arguments, expected in [
        ("AddRule", ({"action": "allow", "ports": "99999"},), "ports: ports run from 1"),
        ("AddRule", ({"action": "allow", "destination": "10.0.0.0/99"},), "destination"),
        ("AddRule", ({"action": "allow", "colour": "red"},), "colour: unknown field"),
        ("DeleteRule", (424242,), "there is no rule 424242"),
        ("SetSettings", ({"default_action": "ask"},), "default_action: must be allow or deny"),
        ("ImportRules", ("{not json", {}), "not JSON"),
        ("ImportRules", (RULES_FILE, {"force": True}), "force: unknown option"),
        ("AnswerPrompt", (77, {"action": "allow"}), "no pending prompt 77"),
    ]:
        with pytest.raises(dbus.DBusException) as error:
            root.call(method, *arguments)
        assert expected in error.value.get_dbus_message(), (method, error.value)
    assert len(root.call("ListRules")) == 1


def test_a_rule_with_ten_thousand_destinations_decides_flows_to_each(admin, helper, netns):
    root = admin
    others = [f"h{i}.example.test" if i % 2 else f"198.18.{i // 256}.{i % 256}"
              for i in range(9_998)]  # fmt: skip
    destinations = [*others[:5_000], netns.peer_v4, *others[5_000:], "2001:db8:ffff::/48"]
    added = root.call("AddRule", {"action": "deny", "destination": ",".join(destinations),
                                  "ports": f"53,{PORT}"})  # fmt: skip
    assert added["destination"] == ", ".join(destinations)
    (listed,) = root.call("ListRules")
    assert (listed["destination"], listed["ports"]) == (added["destination"], f"53,{PORT}")
    with recorder(netns.peer, (netns.peer_v4, netns.peer_v6), PORT):
        refused = run_client(netns.host, "tcp", netns.peer_v4, PORT)
        elsewhere = run_client(netns.host, "tcp", netns.peer_v6, PORT)
        assert (refused["result"], elsewhere["result"]) == ("refused", "connected")
        assert refused["elapsed"] < 0.5
        destinations[-1] = f"{netns.peer_v6}/128"
        root.call("UpdateRule", added["id"], {"action": "deny", "ports": str(PORT),
                                              "destination": ", ".join(destinations)})  # fmt: skip
        assert run_client(netns.host, "tcp", netns.peer_v6, PORT)["result"] == "refused"


def test_wrong_argument_types_are_refused_by_name(admin):
    root = admin
    with pytest.raises(dbus.DBusException) as error:
        root.call("AddRule", "allow everything", signature="s")
    assert error_name(error.value) == "InvalidArgument"
    assert "AddRule takes (a{sv}), not (s)" in error.value.get_dbus_message()


class Agent:
    """A prompt agent (an app) for one user, collecting the signals it is sent."""

    def __init__(self, bus, uid):
        self.client = ApiClient(bus, uid, mainloop=dbus.mainloop.glib.DBusGMainLoop())
        self.raised, self.closed = [], []
        self.client.connection.add_signal_receiver(
            lambda prompt: self.raised.append(prompt), "PromptRaised", INTERFACE
        )
        self.client.connection.add_signal_receiver(
            lambda prompt_id, outcome: self.closed.append((int(prompt_id), str(outcome))),
            "PromptClosed", INTERFACE,
        )  # fmt: skip
        self.client.call("RegisterPromptAgent", {})


def client_as(netns, uid, address, timeout=15):
    return netns.host.popen(
        "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
        sys.executable, "-m", "tests.fixtures.client", "tcp", address, str(PORT),
        f"--timeout={timeout}", stdout=subprocess.PIPE, text=True, cwd=CHECKOUT,
    )  # fmt: skip


def test_a_prompt_goes_only_to_its_users_agent_and_only_they_can_answer(
    system_bus, polkitd, helper, netns
):
    polkitd(grant=[ACTION_ANSWER_PROMPT, ACTION_MONITOR])
    owner, stranger = Agent(system_bus, NOBODY), Agent(system_bus, OTHER_USER)
    with recorder(netns.peer, (netns.peer_v4,), PORT) as servers:
        client = client_as(netns, NOBODY, netns.peer_v4)
        pump_until(lambda: owner.raised)
        prompt = owner.raised[0]
        assert (prompt["uid"], prompt["destination"], prompt["port"]) == (
            NOBODY, netns.peer_v4, PORT)  # fmt: skip
        assert prompt["user"] == "nobody" and len(prompt["sha256"]) == 64
        assert stranger.raised == []
        assert list(stranger.client.call("ListPrompts")) == []

        with pytest.raises(dbus.DBusException) as error:
            stranger.client.call("AnswerPrompt", prompt["id"], {"action": "allow"})
        assert error_name(error.value) == "NotAuthorized"
        assert servers.tcp_accepts == 0

        assert dict(owner.client.call("AnswerPrompt", prompt["id"], {"action": "allow"})) == {}
        assert json.loads(client.communicate(timeout=10)[0])["result"] == "connected"
        pump_until(lambda: owner.closed)
        assert owner.closed == [(prompt["id"], "answered")]
        assert stranger.closed == []


def test_when_the_last_agent_leaves_its_prompts_get_the_default_action(
    system_bus, polkitd, helper, netns
):
    polkitd(grant=[ACTION_ANSWER_PROMPT])
    agent = Agent(system_bus, NOBODY)
    with recorder(netns.peer, (netns.peer_v4,), PORT):
        client = client_as(netns, NOBODY, netns.peer_v4)
        pump_until(lambda: agent.raised)
        agent.client.close()  # the app quits
        outcome = json.loads(client.communicate(timeout=10)[0])
    assert outcome["result"] == "connected", "default action allow, at once"
    assert outcome["elapsed"] < 5


def test_a_slow_polkit_does_not_delay_verdicts(system_bus, polkitd, helper, netns, root):
    polkitd(grant=[ACTION_MONITOR], slow=3)
    root.call("AddRule", {"action": "allow", "destination": netns.peer_v4})
    waiting = ApiClient(system_bus, NOBODY, mainloop=dbus.mainloop.glib.DBusGMainLoop())
    answered = []
    waiting.connection.call_async(
        "io.github.netwarden.Helper1", "/io/github/netwarden/Helper1", INTERFACE, "GetStatus",
        "", (), lambda status: answered.append(status), lambda exc: answered.append(exc),
    )  # fmt: skip
    with recorder(netns.peer, (netns.peer_v4,), PORT):
        elapsed = [run_client(netns.host, "tcp", netns.peer_v4, PORT)["elapsed"] for _ in range(5)]
    assert not answered, "polkit was slower than the connections"
    assert max(elapsed) < 0.5, elapsed
    pump_until(lambda: answered, timeout=15)
    assert isinstance(answered[0], dict) and answered[0]["version"]


# D-Bus strings are UTF-8 without NUL; libdbus aborts the *sender* on anything else.
TEXT = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
PLAIN = st.one_of(
    st.text(TEXT, max_size=40), st.integers(-(2**63), 2**63 - 1), st.booleans(),
    st.floats(allow_nan=False), st.lists(st.text(TEXT, max_size=8), max_size=4),
)  # fmt: skip
KEYS = st.one_of(st.sampled_from(["action", "exe", "destination", "ports", "uid", "protocol",
                                  "lifetime", "replace", "dry_run", "prompt_timeout",
                                  "default_action", "fail_closed", "all_users", "scope",
                                  "since", "until", "limit", "offset", "bucket", "format"]),
                 st.text(TEXT, max_size=20))  # fmt: skip
NESTED = st.dictionaries(st.text(TEXT, max_size=5), PLAIN, max_size=3)
DICTS = st.dictionaries(KEYS, st.one_of(PLAIN, NESTED), max_size=6)
ARGUMENTS = {"a{sv}": DICTS.map(dictionary), "t": st.integers(0, 2**64 - 1), "b": st.booleans(),
             "s": st.one_of(st.text(TEXT, max_size=200), st.just("x" * 2_000_000)),
             "as": st.lists(st.text(TEXT, max_size=40), max_size=5),
             "h": st.sampled_from(["/dev/null", "/proc/self"]).map(
                 lambda path: dbus.types.UnixFd(os.open(path, os.O_RDONLY)))}  # fmt: skip


def _arguments(signature):
    return st.tuples(*(ARGUMENTS[str(part)] for part in dbus.Signature(signature)))


CALLS = st.sampled_from(sorted(m for m in SIGNATURES if m != "UnregisterPromptAgent")).flatmap(
    lambda method: st.tuples(st.just(method), _arguments(SIGNATURES[method]))
) | st.tuples(st.sampled_from(sorted(SIGNATURES)), st.tuples(st.text(TEXT, max_size=10))).map(
    lambda call: (call[0], call[1], "s")
)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(call=CALLS)
def test_malformed_arguments_get_a_named_error_and_change_nothing(helper, admin, call):
    root = admin
    method, arguments, *forced = call
    signature = forced[0] if forced else SIGNATURES[method]
    if method == "SetSettings":
        return  # valid random settings would legitimately change state; covered above
    before = state(root)
    try:
        root.call(method, *arguments, signature=signature)
    except dbus.DBusException as exc:
        assert exc.get_dbus_name().startswith(f"{INTERFACE}.Error."), exc
        assert state(root) == before, (method, arguments)

    assert helper.poll() is None, "the helper died"
