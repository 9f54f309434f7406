"""A user who names their program after someone else's: a user unit called like a system
service, a container where any binary sits at the path a rule names. Against the real
helper and the kernel's own cgroups and mount namespaces."""

import contextlib
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from netwarden_common.rules import Rule
from netwarden_helper.identity.process_info import unit_of_cgroup
from tests.fixtures.traffic import CHECKOUT, recorder
from tests.fixtures.users import NOBODY

PORT = 8080
PYTHON = os.path.realpath(sys.executable)
CGROUP2 = next((p for p in (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup"))
                if (p / "cgroup.procs").exists()), None)  # fmt: skip


@pytest.mark.parametrize(
    ("path", "unit"),
    [
        ("/system.slice/cups.service", "cups.service"),
        ("/system.slice/system-getty.slice/getty@tty1.service", "getty@tty1.service"),
        ("/init.scope", "init.scope"),
        ("/user.slice/user-1000.slice/user@1000.service", "user@1000.service"),
        ("/user.slice/user-1000.slice/user@1000.service/app.slice/cups.service",
         "user@1000:cups.service"),
        ("/user.slice/user-1000.slice/user@1000.service/app.slice/"
         "app-flatpak-org.mozilla.firefox-12.scope",
         "user@1000:app-flatpak-org.mozilla.firefox-12.scope"),
        ("/user.slice/user-1000.slice/session-3.scope", ""),
        ("/cups.service", ""),  # made by whoever may write the cgroup root: not systemd
        ("/", ""),
        ("", ""),
    ],
)  # fmt: skip
def test_a_unit_is_the_systems_only_from_the_system_slice(path, unit):
    assert unit_of_cgroup(path)[0] == unit


@contextlib.contextmanager
def cgroup(relative: str) -> Iterator[Path]:
    """A cgroup of the test's own at `relative` under the cgroup2 root, removed after."""
    path = CGROUP2 / relative
    made = [p for p in (path, *path.parents) if not p.exists() and p != CGROUP2]
    path.mkdir(parents=True, exist_ok=True)
    try:
        yield path
    finally:
        for folder in sorted(made, key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                folder.rmdir()


def connect_from(netns, cgroup_path: Path) -> str:
    """Connect as user nobody from a process placed in `cgroup_path` first (from here: `ip
    netns exec` gives its commands a /sys without the cgroup mounts)."""
    placed = netns.host.popen(
        "sh", "-c", 'read go && exec "$@"', "placed",
        "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
        sys.executable, "-m", "tests.fixtures.client", "tcp", netns.peer_v4, str(PORT),
        "--timeout=5", cwd=CHECKOUT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    (cgroup_path / "cgroup.procs").write_text(str(placed.pid))
    return json.loads(placed.communicate("go\n", timeout=40)[0])["result"]


@pytest.mark.skipif(CGROUP2 is None, reason="no cgroup2 hierarchy")
def test_a_user_unit_named_like_a_system_service_is_not_that_service(netns, helper_thread):
    helper = helper_thread(prompter=False, default_action="deny")
    helper.call(lambda h: h.rule_book.add_rule(Rule(action="allow", unit="cups.service")))
    fake = f"user.slice/user-{NOBODY}.slice/user@{NOBODY}.service/app.slice/cups.service"
    with recorder(netns.peer, (netns.peer_v4,), PORT) as servers:
        with cgroup(fake) as placed:
            assert connect_from(netns, placed) == "refused"
        with cgroup("system.slice/cups.service") as placed:
            assert connect_from(netns, placed) == "connected"
    assert servers.tcp_accepts == 1


def run_contained(netns, root: Path) -> str:
    """Connect from a process in a mount namespace of its own, chrooted into `root`."""
    for folder in ("usr", "src", "tmp", "dev"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for link in ("bin", "lib", "lib64"):
        if not (root / link).is_symlink():
            (root / link).symlink_to(f"usr/{link}")
    script = (f'mount --rbind /usr "{root}/usr" && mount --bind /src "{root}/src" && '
              f'exec chroot "{root}" /usr/bin/python3 "$@"')  # fmt: skip
    contained = netns.host.popen(
        "unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script,
        "contained", "-m", "tests.fixtures.client", "tcp", netns.peer_v4, str(PORT),
        "--timeout=5", stdout=subprocess.PIPE, text=True, cwd=CHECKOUT,
        env={"PYTHONPATH": "/src", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )  # fmt: skip
    return json.loads(contained.communicate(timeout=40)[0])["result"]


def test_a_container_path_matches_only_a_rule_that_pins_the_binary(netns, helper_thread, tmp_path):
    helper = helper_thread(prompter=False, default_action="deny")
    by_path = helper.call(lambda h: h.rule_book.add_rule(Rule(action="allow", exe=PYTHON)))
    with recorder(netns.peer, (netns.peer_v4,), PORT) as servers:
        # Any binary could sit at that path inside the container: the path proves nothing.
        assert run_contained(netns, tmp_path / "root") == "refused"
        helper.call(lambda h: h.rule_book.delete_rule(by_path.id))
        pinned = Rule(action="allow", exe=PYTHON,
                      sha256=hashlib.sha256(Path(PYTHON).read_bytes()).hexdigest())  # fmt: skip
        helper.call(lambda h: h.rule_book.add_rule(pinned))
        assert run_contained(netns, tmp_path / "root") == "connected"
    assert servers.tcp_accepts == 1
