"""Hostile programs against the real helper: each attack fails on the helper before the
hardening of its file reads (docs/threat-model.md).

A script run by an interpreter is part of a program's identity, so the helper reads it;
the path comes from the process's own command line and its folder is the user's. The
attacker swaps the script, after starting, for a FIFO (an open as root would wait for a
writer forever, and with it every other program's connection) or for a symlink to a file
its user may not read (its hash would be shown to that user).
"""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from netwarden_helper.policy.answers import Answer
from tests.fixtures.scratch import shared_dir
from tests.fixtures.traffic import CHECKOUT, recorder
from tests.fixtures.users import NOBODY

PORT = 8080

SWAP_THEN_CONNECT = """
import os, socket, sys
script, swap = os.path.abspath(__file__), sys.argv[3]
os.unlink(script)
if swap == "fifo":
    os.mkfifo(script)
else:
    os.symlink(swap, script)
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10).close()
except OSError:
    os._exit(1)  # a traceback would read the script back: the FIFO would hang us
"""


@pytest.fixture
def nobodys_folder() -> Iterator[Path]:
    with shared_dir("hostile") as folder:
        os.chown(folder, NOBODY, NOBODY)
        yield folder


def run_as_nobody(netns, script: Path, swap: str) -> subprocess.Popen:
    script.write_text(SWAP_THEN_CONNECT)
    os.chown(script, NOBODY, NOBODY)
    return netns.host.popen(
        "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
        sys.executable, str(script), netns.peer_v4, str(PORT), swap,
    )  # fmt: skip


def test_a_script_swapped_for_a_fifo_does_not_hang_the_helper(netns, helper_thread, nobodys_folder):
    helper = helper_thread()
    with recorder(netns.peer, (netns.peer_v4,), PORT):
        hostile = run_as_nobody(netns, nobodys_folder / "evil.py", "fifo")
        prompt = helper.wait_for_prompt()
        assert prompt.flow.script == str(nobodys_folder / "evil.py")
        assert prompt.flow.script_sha256 == ""  # a FIFO is no script: not read, not hashed
        # Every other program is still decided at once: the loop never waited on the FIFO.
        started = time.monotonic()
        bystander = netns.host.popen(
            sys.executable, "-m", "tests.fixtures.client", "tcp", netns.peer_v4, str(PORT),
            cwd=CHECKOUT, stdout=subprocess.PIPE,
        )  # fmt: skip
        assert helper.wait_for_prompt(2).process.pid == bystander.pid
        assert time.monotonic() - started < 5
        for raised in helper.prompter.raised:
            helper.call(lambda h, p=raised: h.held_flows.answer(p.id, Answer("deny")))
        assert hostile.wait(15) != 0 and bystander.wait(15) == 0


def test_a_script_swapped_for_a_symlink_to_a_secret_does_not_leak_its_hash(
    netns, helper_thread, nobodys_folder, tmp_path
):
    secret = tmp_path / "secret"
    secret.write_text("root's only\n")
    secret.chmod(0o600)
    helper = helper_thread()
    with recorder(netns.peer, (netns.peer_v4,), PORT):
        hostile = run_as_nobody(netns, nobodys_folder / "evil.py", str(secret))
        prompt = helper.wait_for_prompt()
        assert prompt.flow.script == str(nobodys_folder / "evil.py")
        assert prompt.flow.script_sha256 == "", "the hash of a file nobody may not read"
        helper.call(lambda h: h.held_flows.answer(prompt.id, Answer("deny")))
        assert hostile.wait(15) != 0
