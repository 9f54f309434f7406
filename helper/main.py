"""`netwarden-helper`: serve the helper on the system bus until told to stop."""

import argparse
import logging
import os
import signal
import socket
from pathlib import Path

import dbus
import dbus.mainloop.glib
import dbus.service
from gi.repository import GLib

from netwarden_common.api import BUS_NAME
from netwarden_helper import __version__
from netwarden_helper.blocklists.locations import ADMIN_DIR
from netwarden_helper.bus.polkit import PolkitAuthority
from netwarden_helper.composition import Helper, Served
from netwarden_helper.data_plane.plane import OBJECT, cgroup2_root
from netwarden_helper.packet_path.netfilter import NetfilterError, remove_all
from netwarden_helper.packet_path.queue import QUEUE_LENGTH
from netwarden_helper.policy.resolvers import RESOLVER_FILES
from netwarden_helper.policy.rules_dir import DEFAULT_FOLDER
from netwarden_helper.records.journal import JOURNAL_SOCKET
from netwarden_helper.runtime.loop import Loop
from netwarden_helper.storage.store import StoreError

log = logging.getLogger("netwarden_helper")


def build_parser() -> argparse.ArgumentParser:
    """The helper's command line; `--help` (and its man page) documents every option."""
    parser = argparse.ArgumentParser(
        prog="netwarden-helper",
        description=(
            "The privileged half of Netwarden. It owns the bus name "
            f"{BUS_NAME} on the system bus (DBUS_SYSTEM_BUS_ADDRESS when set) and "
            "authorizes every call through polkit. Normally started by D-Bus activation "
            "or systemd, not by hand. It installs netfilter rules that queue the first "
            "packet of each new outbound flow, and removes them when it stops cleanly "
            "(SIGTERM or SIGINT). Must run as root."
        ),
        epilog=(
            "Settings (default action, prompt timeout, fail-open or fail-closed) live in "
            "the database in the state folder and are changed through the D-Bus API. "
            "See docs/packet-path.md for the packet path and the fail modes."
        ),
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path("/var/lib/netwarden"),
        help="where the rules database lives (default: /var/lib/netwarden)",
    )
    parser.add_argument(
        "--flow-queue",
        type=int,
        default=7700,
        help="netfilter queue number for new outbound flows (default: 7700)",
    )
    parser.add_argument(
        "--dns-queue",
        type=int,
        default=7701,
        help="netfilter queue number for DNS answers (default: 7701)",
    )
    parser.add_argument(
        "--queue-length",
        type=_queue_length,
        default=QUEUE_LENGTH,
        help="how many new flows' packets may wait in the kernel for a verdict; half of it "
        "may be held for prompts. Past it the fail mode decides: fail-open lets packets "
        f"through, fail-closed drops them (default: {QUEUE_LENGTH})",
    )
    parser.add_argument(
        "--rules-dir",
        type=Path,
        default=DEFAULT_FOLDER,
        help="the administrator's rule files (*.json, read-only, reloaded on change; "
        f"default: {DEFAULT_FOLDER})",
    )
    parser.add_argument(
        "--blocklists-dir",
        type=Path,
        default=ADMIN_DIR,
        help="the only folder besides /usr/share/netwarden/blocklists that local blocklist "
        f"files may be subscribed from (default: {ADMIN_DIR})",
    )
    parser.add_argument(
        "--resolv-conf",
        type=Path,
        action="append",
        help="a file naming this computer's DNS servers (resolv.conf syntax), for the "
        "built-in DNS rule; repeat for several (default: "
        f"{', '.join(str(path) for path in RESOLVER_FILES)})",
    )
    parser.add_argument(
        "--journal-socket",
        default=JOURNAL_SOCKET,
        help=f"journald's native socket, where every decision is logged (default: "
        f"{JOURNAL_SOCKET})",
    )
    parser.add_argument(
        "--bpf-object",
        type=_optional_path,
        default=OBJECT,
        help="the eBPF data plane's object (exact attribution at the syscall); 'none' "
        "attributes by sock_diag and /proc instead, as does a helper that cannot load it "
        "(default: netwarden.bpf.o, installed with the netwarden_helper.data_plane package)",
    )
    parser.add_argument(
        "--bpf-cgroup",
        type=Path,
        default=None,
        help="the cgroup whose processes' sockets the data plane records (default: the "
        "root of the cgroup2 hierarchy, /sys/fs/cgroup or /sys/fs/cgroup/unified: every "
        "process)",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="how much to log to standard error (default: info)",
    )
    parser.add_argument(
        "--remove-rules",
        action="store_true",
        help="remove the netfilter rules a helper left behind (after a crash) and exit; "
        "used by the package's removal scripts",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _optional_path(text: str) -> Path | None:
    return None if text == "none" else Path(text)


def _queue_length(text: str) -> int:
    length = int(text)
    if not 64 <= length <= 1 << 20:
        raise argparse.ArgumentTypeError("must be between 64 and 1048576")
    return length


def _notify_ready() -> None:
    """Tell systemd (Type=notify) that the netfilter rules are in place and the bus is
    served: units ordered after the helper (network-pre.target) start only now, not when
    the bus name is claimed, which comes first."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.sendto(b"READY=1", address)


def main(argv: list[str] | None = None) -> int:
    """Run the helper; the exit status is 0 after a clean stop."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="netwarden-helper: %(levelname)s: %(message)s"
    )
    if os.geteuid() != 0:
        log.error("must run as root (it manages netfilter rules and reads every process)")
        return 1
    if args.remove_rules:
        remove_all()
        log.info("netfilter rules removed")
        return 0
    loop = Loop()

    def stop(signum: int) -> bool:
        log.info("stopping on %s", signal.Signals(signum).name)
        loop.quit()
        return GLib.SOURCE_REMOVE

    # Handled from the start: a signal during start-up is acted on once the loop runs.
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, stop, signum)
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    # The bus name first: a second helper must stop before it touches netfilter.
    try:
        bus = dbus.SystemBus()
        bus_name = dbus.service.BusName(BUS_NAME, bus, do_not_queue=True)
    except dbus.exceptions.NameExistsException:
        log.error("another netwarden-helper already owns %s", BUS_NAME)
        return 1
    except dbus.DBusException as exc:
        log.error("cannot own %s on the system bus: %s", BUS_NAME, exc.get_dbus_message())
        return 1
    try:
        helper = Helper(
            loop,
            args.state_dir,
            args.flow_queue,
            args.dns_queue,
            args.rules_dir,
            args.blocklists_dir,
            args.journal_socket,
            args.queue_length,
            tuple(args.resolv_conf) if args.resolv_conf else RESOLVER_FILES,
            args.bpf_object,
            args.bpf_cgroup or cgroup2_root(),
        )
    except (StoreError, NetfilterError, OSError) as exc:
        log.error("cannot start: %s", exc)
        return 1
    served = Served(bus, PolkitAuthority(bus), helper)

    log.info("serving %s (version %s)", BUS_NAME, __version__)
    _notify_ready()
    try:
        loop.run()
    finally:
        served.close()
        helper.close()
        bus.release_name(bus_name.get_name())
    return 0
