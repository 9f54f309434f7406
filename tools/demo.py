"""`make demo`: the whole product in a sandbox, never on this machine's own network.

Inside the reference rootfs (tools/devenv) it sets up a network namespace with a peer
host, a private system bus with the real polkitd (granting Netwarden's actions to every
user, as an active desktop session would), netwarden-helper inside the namespace, and
the app as an unprivileged user: on your display when DISPLAY is set (run with sudo
from your desktop session), else on a virtual Xvfb screen, with screenshots saved to
test-artifacts/. Ctrl+C (or --duration) tears it all down.
"""

import argparse
import os
import pwd
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from netwarden_common.api import ACTIONS, BUS_NAME
from tests.fixtures import polkit
from tests.fixtures.netns import sandbox
from tests.fixtures.processes import stop, wait_for
from tests.fixtures.system_bus import system_bus

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
GRAB_SCREEN = (
    "import sys\n"
    "from PySide6.QtGui import QGuiApplication\n"
    "app = QGuiApplication(['grab', '-platform', 'xcb'])\n"
    "sys.exit(0 if app.primaryScreen().grabWindow(0).save(sys.argv[1]) else 1)\n"
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration", type=float, help="stop after this many seconds (default: at Ctrl+C)"
    )
    return parser.parse_args()


@contextmanager
def virtual_display() -> Iterator[str]:
    """An Xvfb screen; yields its DISPLAY."""
    read_end, write_end = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    with os.fdopen(read_end) as number:
        display = f":{number.readline().strip()}"
    try:
        yield display
    finally:
        stop(xvfb)


def app_user() -> tuple[int, int]:
    """Who runs the app: the desktop user who ran `sudo make demo`, else nobody."""
    if os.environ.get("SUDO_UID"):
        return int(os.environ["SUDO_UID"]), int(os.environ["SUDO_GID"])
    nobody = pwd.getpwnam("nobody")
    return nobody.pw_uid, nobody.pw_gid


def app_command(uid: int, gid: int) -> list[str]:
    return [
        "setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
        sys.executable, "-m", "netwarden",
    ]  # fmt: skip


def main() -> int:
    args = parse_args()
    with ExitStack() as stack:
        net = stack.enter_context(sandbox())
        bus = stack.enter_context(system_bus())
        stack.enter_context(polkit.polkitd(bus, polkit.rules(grant=ACTIONS)))
        environment = {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            "LANG": "C.UTF-8",
            "DBUS_SYSTEM_BUS_ADDRESS": bus.address,
        }
        helper = net.host.popen(sys.executable, "-m", "netwarden_helper", env=environment)
        stack.callback(stop, helper)
        bus.wait_for_name(BUS_NAME)

        headless = not os.environ.get("DISPLAY")
        display = stack.enter_context(virtual_display()) if headless else os.environ["DISPLAY"]
        uid, gid = app_user()
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="netwarden-demo-")))
        os.chown(home, uid, gid)
        app_environment = {
            **environment,
            "DISPLAY": display,
            "XAUTHORITY": os.environ.get("XAUTHORITY", ""),
            "HOME": str(home),
            "XDG_RUNTIME_DIR": str(home),
            "QT_QPA_PLATFORM": "xcb",
        }
        app = subprocess.Popen(app_command(uid, gid), env=app_environment)
        stack.callback(stop, app)
        print(f"demo: helper pid {helper.pid} in namespace {net.host.name}; app pid {app.pid}")

        if headless:
            time.sleep(3)  # let the window map and draw
            ARTIFACTS.mkdir(exist_ok=True)
            shot = ARTIFACTS / "demo.png"
            subprocess.run(
                [sys.executable, "-c", GRAB_SCREEN, str(shot)],
                env={**app_environment, "HOME": "/root"},
                check=True,
            )
            print(f"demo: no DISPLAY, so the app runs on Xvfb; screenshot in {shot}")

        deadline = time.monotonic() + args.duration if args.duration else None
        print("demo: running; Ctrl+C stops it")
        with suppress(KeyboardInterrupt):
            wait_for(
                lambda: (
                    app.poll() is not None or (deadline is not None and time.monotonic() > deadline)
                ),
                timeout=float("inf"),
                what="the end of the demo",
            )
        print("demo: tearing down")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.exit(main())
