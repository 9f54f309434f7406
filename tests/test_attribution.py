"""Attribution in a real namespace: the right process, its parents, its running binary."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

from netwarden_helper.policy.answers import Answer
from tests.fixtures.senders import RAW_PROTOCOL
from tests.fixtures.traffic import CHECKOUT, recorder

PORT = 8080
PYTHON = os.path.realpath(sys.executable)
CLIENT = ["-m", "tests.fixtures.client", "tcp"]


def client_argv(netns, *extra):
    return [*CLIENT, netns.peer_v4, str(PORT), "--timeout=10", *extra]


def finish(helper, prompt, process):
    helper.call(lambda h: h.held_flows.answer(prompt.id, Answer("allow")))
    return json.loads(process.communicate(timeout=10)[0].splitlines()[-1])


def test_a_child_is_attributed_to_itself_with_its_parent_chain(netns, helper_thread):
    helper = helper_thread()
    with recorder(netns.peer, (netns.peer_v4,), PORT):
        shell = netns.host.popen(
            "sh", "-c", f"{sys.executable} {' '.join(client_argv(netns))}; true",
            stdout=subprocess.PIPE, text=True, cwd=CHECKOUT,
        )  # fmt: skip
        prompt = helper.wait_for_prompt()
        outcome = finish(helper, prompt, shell)
    assert prompt.process.pid == outcome["pid"] != shell.pid
    assert prompt.process.parents[0] == (shell.pid, os.path.realpath("/bin/sh"))
    assert prompt.process.parents[-1][0] == 1
    assert prompt.process.cmdline[1:3] == ("-m", "tests.fixtures.client")
    assert prompt.process.user == "root"


def test_a_replaced_binary_is_reported_with_the_running_binarys_hash(
    netns, helper_thread, tmp_path
):
    helper = helper_thread()
    program = tmp_path / "netclient"
    shutil.copy(PYTHON, program)
    running_hash = hashlib.sha256(program.read_bytes()).hexdigest()
    with recorder(netns.peer, (netns.peer_v4,), PORT):
        client = netns.host.popen(
            str(program), *client_argv(netns, "--delay=1"),
            stdout=subprocess.PIPE, text=True, cwd=CHECKOUT,
        )  # fmt: skip
        time.sleep(0.3)  # the program runs; now an "update" replaces its file
        replacement = tmp_path / "netclient.new"
        replacement.write_bytes(b"#!/bin/sh\necho replaced\n")
        replacement.chmod(0o755)
        replacement.rename(program)
        prompt = helper.wait_for_prompt()
        finish(helper, prompt, client)
    assert prompt.flow.exe == str(program)
    assert prompt.process.exe_deleted
    assert prompt.flow.sha256 == running_hash
    assert running_hash != hashlib.sha256(program.read_bytes()).hexdigest()


def test_a_process_in_another_mount_namespace_is_resolved_through_its_root(
    netns, helper_thread, tmp_path
):
    helper = helper_thread()
    root = tmp_path / "altroot"
    for folder in ("usr", "src", "tmp", "dev"):
        (root / folder).mkdir(parents=True)
    for link in ("bin", "lib", "lib64"):
        (root / link).symlink_to(f"usr/{link}")
    script = (
        f'mount --rbind /usr "{root}/usr" && mount --bind /src "{root}/src" && '
        f'exec chroot "{root}" /usr/bin/python3 "$@"'
    )
    with recorder(netns.peer, (netns.peer_v4,), PORT):
        contained = netns.host.popen(
            "unshare", "--mount", "--propagation", "private", "--",
            "sh", "-c", script, "contained", *client_argv(netns),
            stdout=subprocess.PIPE, text=True, cwd=CHECKOUT,
            env={"PYTHONPATH": "/src", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        )  # fmt: skip
        prompt = helper.wait_for_prompt()
        outcome = finish(helper, prompt, contained)
    assert outcome["result"] == "connected"
    assert prompt.process.foreign_root
    assert prompt.flow.exe == PYTHON, "the path as the process sees it, not the host's view"
    assert len(prompt.flow.sha256) == 64


# Holds a raw socket of the protocol the sender uses, as long as its stdin is open.
RAW_HOLDER = (
    "import socket, sys\n"
    f"held = socket.socket(socket.AF_INET, socket.SOCK_RAW, {RAW_PROTOCOL})\n"
    "print('open', flush=True)\n"
    "sys.stdin.read()"
)


def test_an_owner_that_cannot_be_told_apart_is_unknown_not_guessed(netns, helper_thread):
    """Two programs hold a raw socket of the same protocol: the packet one of them sends
    could be either's, so it is nobody's."""
    helper = helper_thread()
    holder = netns.host.popen(PYTHON, "-c", RAW_HOLDER, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    sender = None
    try:
        assert holder.stdout.readline().strip() == "open"
        sender = netns.host.popen(PYTHON, "-m", "tests.fixtures.senders", "raw", netns.peer_v4,
                                  "0", "--hold", stdin=subprocess.PIPE, cwd=CHECKOUT)  # fmt: skip
        prompt = helper.wait_for_prompt()
    finally:
        for process in (holder, sender):
            if process is not None:
                process.communicate("", timeout=10)
    assert prompt.process is None
    assert (prompt.flow.exe, prompt.flow.uid, prompt.flow.protocol) == ("", -1, str(RAW_PROTOCOL))
