"""`make demo`: the whole product in a sandbox, never on this machine's own network.

Inside the reference rootfs (tools/devenv) it sets up a network namespace with a peer
host, a private system bus with the real polkitd (granting Netwarden's actions to every
user, as an active desktop session would), netwarden-helper inside the namespace, and
the app as an unprivileged user: on your display when DISPLAY is set (run with sudo
from your desktop session), else on a virtual Xvfb screen, with screenshots saved to
test-artifacts/. Ctrl+C (or --duration) tears it all down.

So that a newcomer sees it working, the peer is a DNS server and a web server, and three
programs of the user's (`browser`, `updater`, `telemetry`: copies of Python) make live
traffic by name every few seconds: a few rules allow the first two and deny the third,
and the browser's visit to a host no rule covers raises a prompt within seconds.
"""

import argparse
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dbus

from netwarden_common.api import ACTIONS, BUS_NAME
from netwarden_common.dbus_values import dictionary
from tests.fixtures import polkit
from tests.fixtures.api import ApiClient
from tests.fixtures.dns_server import dns_server
from tests.fixtures.netns import NetNS, Sandbox, sandbox
from tests.fixtures.processes import stop, wait_for
from tests.fixtures.system_bus import system_bus
from tests.fixtures.traffic import bulk_server

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
GRAB_SCREEN = (
    "import sys\n"
    "from PySide6.QtGui import QGuiApplication\n"
    "app = QGuiApplication(['grab', '-platform', 'xcb'])\n"
    "sys.exit(0 if app.primaryScreen().grabWindow(0).save(sys.argv[1]) else 1)\n"
)


# Who visits what, every VISIT_S seconds: program, host, its address on the peer, port,
# bytes the web server there sends. The peer answers DNS on its own address.
VISITS = (
    ("browser", "www.example.org", "192.0.2.10", 443, 300_000),
    ("updater", "deb.example.net", "192.0.2.20", 80, 2_000_000),
    ("telemetry", "metrics.tracker.example", "192.0.2.30", 443, 20_000),
)
PROMPTED = ("browser", "ads.tracker.example", "192.0.2.40", 443, 50_000)  # no rule: a prompt
DNS_SERVER = "192.0.2.53"
VISIT_S = 4.0
KEEP_OPEN_S = 6.0  # a download's connection stays open a while, as a browser's does
# Resolve a name at the peer's DNS server, download what the server sends, close.
VISIT = """
import socket, sys, time, dns.resolver
host, port, server, size = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
resolver = dns.resolver.Resolver(configure=False)
resolver.nameservers = [server]
address = resolver.resolve(host, "A")[0].address
with socket.create_connection((address, port), timeout=10) as connection:
    received = 0
    while received < size:
        chunk = connection.recv(1 << 16)
        if not chunk:
            break
        received += len(chunk)
    time.sleep(float(sys.argv[5]))
"""


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


def demo_programs(folder: Path) -> Path:
    """Copies of Python named after the demo's programs, in `folder`/bin."""
    programs = folder / "bin"
    programs.mkdir(mode=0o755)
    for name in {visit[0] for visit in (*VISITS, PROMPTED)}:
        shutil.copyfile(os.path.realpath(sys.executable), programs / name)
        (programs / name).chmod(0o755)
    return programs


def preset_rules(bus_client: ApiClient, programs: Path, uid: int) -> None:
    """A few rules of the user's, as if made from earlier prompts."""
    for action, name, destination in (
        ("allow", "browser", "*.example.org"),
        ("allow", "updater", "deb.example.net"),
        ("deny", "telemetry", ""),
    ):
        rule = {"action": action, "exe": str(programs / name), "uid": uid}
        if destination:
            rule["destination"] = destination
        bus_client.call("AddRule", dictionary(rule))


def visit(
    host_ns: NetNS, programs: Path, uid: int, gid: int, visited: tuple[str, str, str, int, int]
) -> subprocess.Popen:
    """Program `visited[0]` of the user looks its host up and downloads from it."""
    name, host, _address, port, size = visited
    return host_ns.popen(
        "setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
        str(programs / name), "-c", VISIT, host, str(port), DNS_SERVER, str(size),
        str(KEEP_OPEN_S), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def live_traffic(net: Sandbox, programs: Path, uid: int, gid: int, stop_event: threading.Event,
                 ) -> None:  # fmt: skip
    """Every VISIT_S: each program visits its host; once, the browser an unknown one."""
    running: list[subprocess.Popen] = []
    rounds = 0
    while not stop_event.wait(0 if rounds == 0 else VISIT_S):
        running = [process for process in running if process.poll() is None]
        for visited in VISITS:
            running.append(visit(net.host, programs, uid, gid, visited))
        if rounds == 1:
            running.append(visit(net.host, programs, uid, gid, PROMPTED))
        rounds += 1
    for process in running:
        stop(process)


def announce_first_prompt(user: ApiClient, stop_event: threading.Event) -> None:
    """Say where to look when the first prompt for the user's programs is raised."""
    while not stop_event.wait(0.5):
        try:
            prompts = user.call("ListPrompts")
        except dbus.DBusException:
            return
        if prompts:
            hosts = prompts[0].get("hosts") or [prompts[0].get("destination")]
            print(f"demo: a prompt asks whether {os.path.basename(prompts[0]['exe'])} may "
                  f"connect to {hosts[0]}: answer it in the prompt window", flush=True)  # fmt: skip
            return


def main() -> int:
    args = parse_args()
    with ExitStack() as stack:
        net = stack.enter_context(sandbox())
        bus = stack.enter_context(system_bus())
        stack.enter_context(polkit.polkitd(bus, polkit.rules(grant=ACTIONS)))
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="netwarden-demo-")))
        work.chmod(0o755)
        for _name, _host, address, _port, _size in (*VISITS, PROMPTED):
            net.peer.run("ip", "addr", "add", f"{address}/24", "dev", "nw1")
        net.peer.run("ip", "addr", "add", f"{DNS_SERVER}/24", "dev", "nw1")
        names = {host: address for _name, host, address, _port, _size in (*VISITS, PROMPTED)}
        stack.enter_context(dns_server(net.peer, DNS_SERVER, names))
        for _name, _host, address, port, size in (*VISITS, PROMPTED):
            stack.enter_context(bulk_server(net.peer, address, port, size))
        resolv_conf = work / "resolv.conf"  # the sandbox's DNS server: the built-in rule
        resolv_conf.write_text(f"nameserver {DNS_SERVER}\n")
        environment = {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            "LANG": "C.UTF-8",
            "DBUS_SYSTEM_BUS_ADDRESS": bus.address,
        }
        helper = net.host.popen(sys.executable, "-m", "netwarden_helper", "--log-level=warning",
                                f"--resolv-conf={resolv_conf}", env=environment)  # fmt: skip
        stack.callback(stop, helper)
        bus.wait_for_name(BUS_NAME)
        root = ApiClient(bus, uid=0)
        stack.callback(root.close)

        headless = not os.environ.get("DISPLAY")
        display = stack.enter_context(virtual_display()) if headless else os.environ["DISPLAY"]
        uid, gid = app_user()
        programs = demo_programs(work)
        preset_rules(root, programs, uid)
        user = ApiClient(bus, uid=uid)
        stack.callback(user.close)
        home = work / "home"
        home.mkdir()
        os.chown(home, uid, gid)
        app_environment = {
            **environment,
            "DISPLAY": display,
            "XAUTHORITY": os.environ.get("XAUTHORITY", ""),
            "HOME": str(home),
            "XDG_RUNTIME_DIR": str(home),
            "QT_QPA_PLATFORM": "xcb",
        }
        app = subprocess.Popen(app_command(uid, gid), env=app_environment,
                               stderr=subprocess.DEVNULL if headless else None)  # fmt: skip
        stack.callback(stop, app)
        print(f"demo: helper pid {helper.pid} in namespace {net.host.name}; app pid {app.pid}")
        stop_event = threading.Event()
        workers = [
            threading.Thread(target=live_traffic, args=(net, programs, uid, gid, stop_event)),
            threading.Thread(target=announce_first_prompt, args=(user, stop_event)),
        ]
        for worker in workers:
            worker.start()
            stack.callback(worker.join, 30)
        stack.callback(stop_event.set)  # (callbacks run last-in, first-out)

        if headless:
            time.sleep(3)  # let the window map and draw
            ARTIFACTS.mkdir(exist_ok=True)
            shot = ARTIFACTS / "demo.png"
            subprocess.run(
                [sys.executable, "-c", GRAB_SCREEN, str(shot)],
                env={**app_environment, "HOME": "/root"},
                check=True,
            )
            # The checkout is /src in here: name the file where the person will find it.
            outside = Path(os.environ.get("NETWARDEN_CHECKOUT", "/src")) / shot.relative_to(
                shot.parents[1])  # fmt: skip
            print(f"demo: no DISPLAY, so the app runs on Xvfb; screenshot in {outside}")

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
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl+C while starting: everything started is stopped
        print("demo: stopped")
        sys.exit(130)
