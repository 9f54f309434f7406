"""Silent Mode: no prompts; what would have asked gets the chosen action at once and is
listed ("would have asked"), against the real helper and netwardenctl."""

import threading
import time

from netwarden_common.api import ACTION_MONITOR, ACTION_MONITOR_ALL, ACTION_SETTINGS
from netwarden_helper.records.history_db import HistoryFilter
from tests.fixtures.traffic import recorder, run_client
from tests.test_ctl import ctl, ctl_json

PORT = 8080


def test_on_deny_nothing_is_asked_and_the_flow_is_refused_as_silent(netns, helper_thread):
    thread = helper_thread(silent_mode="deny")
    assert run_client(netns.host, "tcp", netns.peer_v4, PORT)["result"] == "refused"
    assert thread.prompter.raised == []
    history = thread.call(lambda h: h.history)
    history.flush().result(10)
    silent = HistoryFilter(decided_by="silent")
    flows, _more = history.query(lambda db: db.flows(silent)).result(10)
    assert [(f["port"], f["verdict"]) for f in flows] == [(PORT, "deny")]


def test_turned_on_it_decides_a_pending_prompt_at_once(netns, helper_thread):
    thread = helper_thread()
    with recorder(netns.peer, (netns.peer_v4,), PORT) as servers:
        result: list[dict] = []
        client = threading.Thread(target=lambda: result.append(
            run_client(netns.host, "tcp", netns.peer_v4, PORT, timeout=20)))  # fmt: skip
        client.start()
        prompt = thread.wait_for_prompt()
        thread.call(lambda h: h.settings.update({"silent_mode": "allow"}))
        client.join(20)
    assert result[0]["result"] == "connected" and servers.tcp_accepts == 1
    assert thread.prompter.closed == [(prompt.id, "silent")]


def test_the_cli_switches_it_and_lists_what_would_have_asked(polkitd, root, netns):
    polkitd(grant=[ACTION_MONITOR, ACTION_MONITOR_ALL, ACTION_SETTINGS])
    switched = ctl("silent", "allow")
    assert switched.returncode == 0, switched.stderr
    assert switched.stdout.startswith("Silent Mode on: connections no rule covers are allowed")
    with recorder(netns.peer, (netns.peer_v4,), PORT):
        for _ in range(2):
            assert run_client(netns.host, "tcp", netns.peer_v4, PORT)["result"] == "connected"
    entries: list[tuple] = []
    expected = [(netns.peer_v4, PORT, "allow", 2)]
    deadline = time.monotonic() + 10  # the history is written every second
    while entries != expected and time.monotonic() < deadline:
        listed = ctl_json("silent", "--all-users")  # the client ran as root
        entries = [(e["destination"], e["port"], e["verdict"], e["count"])
                   for e in listed["would_have_asked"]]  # fmt: skip
    assert listed["silent_mode"] == "allow" and entries == expected
    table = ctl("silent", "--all-users").stdout.splitlines()
    assert table[1] == "Would have asked (last 7 days):"
    assert table[2].split() == ["LAST", "PROGRAM", "USER", "DESTINATION", "GOT", "TIMES"]
    off = ctl("silent", "off")
    assert (
        off.stdout.splitlines()[0] == "Silent Mode off: connections no rule covers are asked about"
    )
    assert root.call("GetSettings")["silent_mode"] == "off"
