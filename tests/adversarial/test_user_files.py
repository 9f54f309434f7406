"""Files named by a hostile process, read as root (`identity/user_files.py`): a FIFO, a
device, a symlink to a secret, a secret behind a closed folder, a huge file, a path that
climbs out. Each against a real process of an unprivileged user."""

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from netwarden_helper.identity.user_files import Credentials, read_as
from tests.fixtures.scratch import shared_dir
from tests.fixtures.users import NOBODY

LIMIT = 1 << 16


@pytest.fixture
def nobody_process() -> Iterator[int]:
    """A process of user nobody (no groups), alive for the test."""
    process = subprocess.Popen(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "sleep", "60"]
    )
    try:
        deadline = time.monotonic() + 5
        while Credentials.of_process(process.pid) in (None, Credentials(0, 0, frozenset())):
            assert time.monotonic() < deadline, "setpriv did not drop to nobody"
            time.sleep(0.01)
        yield process.pid
    finally:
        process.kill()
        process.wait()


@pytest.fixture
def playground() -> Iterator[Path]:
    """A folder anyone may enter, owned by nobody (so nobody may plant things in it)."""
    with shared_dir("user-files") as folder:
        os.chown(folder, NOBODY, NOBODY)
        yield folder


def read(pid: int, path: Path | str) -> bytes | None:
    credentials = Credentials.of_process(pid)
    assert credentials is not None
    return read_as(pid, str(path), credentials, LIMIT)


def test_the_credentials_are_the_processes_own(nobody_process):
    assert Credentials.of_process(nobody_process) == Credentials(NOBODY, NOBODY, frozenset())
    assert Credentials.of_process(os.getpid()).uid == 0


def test_a_script_the_user_may_read_is_read(nobody_process, playground):
    script = playground / "script.py"
    script.write_text("print('hello')\n")
    assert read(nobody_process, script) == b"print('hello')\n"


def test_a_fifo_is_refused_at_once_instead_of_hanging_the_reader(nobody_process, playground):
    fifo = playground / "script.py"
    os.mkfifo(fifo)
    started = time.monotonic()
    assert read(nobody_process, fifo) is None
    assert time.monotonic() - started < 1


def test_a_device_is_never_opened(nobody_process):
    assert read(nobody_process, "/dev/zero") is None
    assert read(nobody_process, "/dev/null") is None


def test_a_symlink_to_a_file_the_user_may_not_read_is_refused(nobody_process, playground, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("root only\n")
    secret.chmod(0o600)
    (playground / "script.py").symlink_to(secret)
    (playground / "relative.py").symlink_to(os.path.relpath(secret, playground))
    assert read(nobody_process, playground / "script.py") is None
    assert read(nobody_process, playground / "relative.py") is None
    assert read(os.getpid(), playground / "script.py") == b"root only\n"  # root may


def test_a_readable_file_behind_a_closed_folder_is_refused(nobody_process, playground):
    closed = playground / "closed"
    closed.mkdir(mode=0o700)  # root's, in nobody's folder
    inside = closed / "readable.txt"
    inside.write_text("world-readable, but nobody cannot get there\n")
    inside.chmod(0o644)
    assert read(nobody_process, inside) is None
    assert read(os.getpid(), inside) is not None


def test_a_file_larger_than_the_bound_is_not_read(nobody_process, playground):
    big = playground / "big.py"
    big.write_bytes(b"#" * (LIMIT + 1))
    assert read(nobody_process, big) is None
    big.write_bytes(b"#" * LIMIT)
    assert read(nobody_process, big) == b"#" * LIMIT


def test_symlink_loops_and_dotdot_cannot_escape_or_spin(nobody_process, playground):
    (playground / "a").symlink_to("b")
    (playground / "b").symlink_to("a")
    assert read(nobody_process, playground / "a") is None
    readable = playground / "ok.txt"
    readable.write_text("ok\n")
    climbing = f"/../../..{playground}/../{playground.name}/ok.txt"
    assert read(nobody_process, climbing) == b"ok\n"


def test_relative_and_garbage_paths_are_refused(nobody_process):
    assert read(nobody_process, "etc/passwd") is None
    assert read(nobody_process, "/etc/pass\0wd") is None
    anyone = Credentials(NOBODY, NOBODY, frozenset())
    assert read_as(999_999_999, "/etc/passwd", anyone, LIMIT) is None  # no such process
