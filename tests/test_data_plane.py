"""The eBPF data plane against the real kernel: programs that are gone before the helper
reads their packet are still attributed to their exact program and user, and their
rules hold. Each test attaches the programs to a cgroup of its own (never the machine's
root), moves its senders into it from outside `ip netns exec`, and removes it after."""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from netwarden_common.rules import Rule
from netwarden_helper.data_plane.plane import cgroup2_root
from tests.fixtures.processes import wait_for
from tests.fixtures.traffic import CHECKOUT, recorder
from tests.fixtures.users import NOBODY

PORT = 8080
CGROUP2 = cgroup2_root()
pytestmark = pytest.mark.skipif(CGROUP2 is None, reason="no cgroup2 hierarchy")

# Each sends and exits at once: the helper reads the queued packet after the process is gone.
UDP_ONCE = (
    "import socket, sys\n"
    "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', (sys.argv[1], 8080))"
)
TCP_ONCE = ("import os, socket, sys\n"
            "s = socket.socket(); s.setblocking(False); s.connect_ex((sys.argv[1], 8080))\n"
            "os._exit(0)")  # fmt: skip


@pytest.fixture
def watched() -> Iterator[Path]:
    """A child cgroup of the test's own; removed after (its processes have exited)."""
    assert CGROUP2 is not None
    path = Path(tempfile.mkdtemp(prefix="netwarden-test-", dir=CGROUP2))
    yield path
    with contextlib.suppress(OSError):
        path.rmdir()


@pytest.fixture
def program() -> Iterator[str]:
    """A program of the test's own (a copy of python3) that user nobody may run."""
    folder = Path(tempfile.mkdtemp(prefix="netwarden-fire-"))
    folder.chmod(0o755)
    path = folder / "fire-and-forget"
    shutil.copy(os.path.realpath(sys.executable), path)
    yield str(path)
    shutil.rmtree(folder)


def run_in(netns, cgroup: Path, *argv: str) -> int:
    """Run `argv` as user nobody inside `netns.host`, placed in `cgroup` before it starts
    (from here: `ip netns exec` gives its commands a /sys without the cgroup mounts);
    its pid, once it has exited."""
    placed = netns.host.popen(
        "sh", "-c", 'read go && exec "$@"', "placed",
        "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv,
        cwd=CHECKOUT, stdin=subprocess.PIPE, text=True,
    )  # fmt: skip
    (cgroup / "cgroup.procs").write_text(str(placed.pid))
    placed.communicate("go\n", timeout=20)
    assert placed.returncode == 0
    return placed.pid


def decisions(helper) -> list[tuple]:
    """Every flow the helper decides from now on: (flow, action, decided_by)."""
    seen: list[tuple] = []
    helper.call(lambda h: h.verdicts.decided.connect(
        lambda flow, _tuple, action, by, _rule: seen.append((flow, action, by))))  # fmt: skip
    return seen


@pytest.mark.parametrize(("action", "default", "arrived"), [("deny", "allow", 0),
                                                            ("allow", "deny", 1)])  # fmt: skip
def test_a_udp_sender_gone_at_once_is_its_program_and_its_rule_holds(
    netns, helper_thread, watched, program, action, default, arrived
):
    helper = helper_thread(prompter=False, default_action=default, bpf_cgroup=watched)
    assert helper.call(lambda h: h.attribution.mode) == "ebpf"
    helper.call(lambda h: h.rule_book.add_rule(Rule(action=action, exe=program)))
    seen = decisions(helper)
    with recorder(netns.peer, (netns.peer_v4,), PORT) as servers:
        # the helper's loop waits until the sender has exited: its packet is read after
        helper.call(lambda h: run_in(netns, watched, program, "-c", UDP_ONCE,
                                     netns.peer_v4), timeout=30)  # fmt: skip
        wait_for(lambda: seen and servers.udp_datagrams >= arrived, 10, "the verdict")
    flow, decided, by = seen[0]
    assert (flow.exe, flow.uid, decided, by) == (program, NOBODY, action, "rule")
    assert servers.udp_datagrams == arrived


def test_a_tcp_connect_from_a_process_gone_at_once_is_its_program(
    netns, helper_thread, watched, program
):
    helper = helper_thread(prompter=False, default_action="allow", bpf_cgroup=watched)
    helper.call(lambda h: h.rule_book.add_rule(Rule(action="deny", exe=program)))
    seen = decisions(helper)
    with recorder(netns.peer, (netns.peer_v4,), PORT) as servers:
        helper.call(lambda h: run_in(netns, watched, program, "-c", TCP_ONCE,
                                     netns.peer_v4), timeout=30)  # fmt: skip
        wait_for(lambda: seen, 10, "the flow to be decided")
    flow, decided, by = seen[0]
    assert (flow.exe, flow.uid, decided, by) == (program, NOBODY, "deny", "rule")
    assert servers.tcp_accepts == 0


def test_without_the_object_attribution_falls_back_to_proc(
    netns, helper_thread, watched, program, tmp_path
):
    missing = tmp_path / "missing.bpf.o"
    helper = helper_thread(prompter=False, default_action="allow", bpf_cgroup=watched,
                           bpf_object=missing)  # fmt: skip
    attribution = helper.call(lambda h: h.attribution)
    assert attribution.mode == "procfs" and str(missing) in attribution.reason
    helper.call(lambda h: h.rule_book.add_rule(Rule(action="deny", exe=program)))
    with recorder(netns.peer, (netns.peer_v4,), PORT) as servers:
        client = netns.host.popen(program, "-m", "tests.fixtures.client", "tcp",
                                  netns.peer_v4, str(PORT), cwd=CHECKOUT,
                                  stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert json.loads(client.communicate(timeout=20)[0])["result"] == "refused"
    assert servers.tcp_accepts == 0
