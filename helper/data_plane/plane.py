"""`DataPlane`: the BPF object loaded and attached, and the owner of a queued packet.

Started by the composition root with the cgroup to watch (the cgroup2 root by default:
every process; tests give a child cgroup of their own) and the netfilter hook of the
helper's network namespace. Where it cannot start (no object, no BTF, no CAP_BPF, an
old kernel) the helper attributes by sock_diag and /proc instead, and says why
(`Attribution`).
"""

import ctypes
import logging
import os
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from netwarden_helper.data_plane.libbpf import BpfError, BpfObject
from netwarden_helper.data_plane.records import (
    EXE_SIZE,
    FLOW_KEY_SIZE,
    FLOW_OWNER_SIZE,
    TRAFFIC_SIZE,
    KernelDecision,
    SocketOwner,
    config,
    exe_path,
    flow_key,
    traffic_counts,
)
from netwarden_helper.packet_path.packet import Packet

log = logging.getLogger(__name__)

OBJECT = Path(__file__).with_name("netwarden.bpf.o")  # built by `make bpf`, packaged here
NF_INET_LOCAL_OUT = 3
# After conntrack (-200: the program reads the flow's state), before mangle (-150), where
# Netwarden's queue rule sends the flow to the helper.
PRIORITY = -199
CGROUP_PROGRAMS = (
    "sock_create",
    "sock_release",
    "connect4",
    "connect6",
    "sendmsg4",
    "sendmsg6",
    "egress",
    "ingress",
)
SO_NETNS_COOKIE = 71
# a closed flow of the same tuple begun this long before is another, earlier flow
EARLIER_FLOW_NS = 5_000_000_000


@dataclass(frozen=True)
class Attribution:
    """How flows are attributed: "ebpf" or "procfs", and why not eBPF when it is not."""

    mode: str
    reason: str = ""


def cgroup2_root(mountinfo: Path = Path("/proc/self/mountinfo")) -> Path | None:
    """Where the cgroup2 hierarchy is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified
    on a hybrid system); None when it is not."""
    for line in mountinfo.read_text().splitlines():
        fields = line.split(" - ", 1)
        if len(fields) == 2 and fields[1].split()[0] == "cgroup2":
            return Path(fields[0].split()[4])
    return None


def _netns_cookie() -> int:
    """The kernel's cookie of this thread's network namespace."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        return int(struct.unpack("=Q", probe.getsockopt(socket.SOL_SOCKET, SO_NETNS_COOKIE, 8))[0])


class DataPlane:
    """The loaded programs; `owner` reads the kernel's record of a packet's socket; the
    verdict cache is written with `cache`, `forget` and `set_generation`."""

    def __init__(self, object_path: Path, cgroup: Path, decided_mark: int) -> None:
        self._object = BpfObject(object_path)
        try:
            own_pids = os.stat("/proc/self/ns/pid")
            self._object.update(self._object.map_fd("settings"), bytes(4),
                                config(own_pids, _netns_cookie(), decided_mark))  # fmt: skip
            cgroup_fd = os.open(cgroup, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                for name in CGROUP_PROGRAMS:
                    self._object.attach_cgroup(name, cgroup_fd)
            finally:
                os.close(cgroup_fd)
            for family in (socket.AF_INET, socket.AF_INET6):
                self._object.attach_netfilter("local_out", family, NF_INET_LOCAL_OUT, PRIORITY)
            self._flows = self._object.map_fd("flows")
            self._exes = self._object.map_fd("exes")
            self._verdicts = self._object.map_fd("verdicts")
            self._generation = self._object.map_fd("generation")
            self._traffic = self._object.map_fd("traffic")
            self._counted = self._object.map_fd("counted")
            self._untold = self._object.map_fd("untold")
        except BaseException:
            self._object.close()
            raise
        self._ring = 0  # the decisions ring buffer, once read_decisions is called
        self._counts = ctypes.create_string_buffer(TRAFFIC_SIZE)  # the loop's (account)
        self._owner = ctypes.create_string_buffer(FLOW_OWNER_SIZE)
        self._exe = ctypes.create_string_buffer(EXE_SIZE)
        log.info("attribution: eBPF (programs attached to cgroup %s)", cgroup)

    def owner(self, packet: Packet) -> SocketOwner | None:
        """Who owned `packet`'s socket when it was sent (`kernel` set: a socket the kernel
        made for itself); None when the kernel did not record it (a socket older than the
        helper, outside the cgroup)."""
        if not self._object.lookup(self._flows, flow_key(packet), self._owner):
            return None
        return SocketOwner.unpack(self._owner.raw)

    def exe(self, owner: SocketOwner) -> tuple[str, bool] | None:
        """(path, deleted) of the executable `owner` ran, as the process saw it."""
        if not self._object.lookup(self._exes, owner.exe_key, self._exe):
            return None
        return exe_path(self._exe.raw)

    def set_generation(self, generation: int) -> None:
        """Make `generation` the current one: cached verdicts of any other are void (0:
        none is used)."""
        self._object.update(self._generation, bytes(4), struct.pack("=Q", generation))

    def cache(self, key: bytes, value: bytes) -> None:
        """Cache a verdict (`records.verdict_key`, `records.verdict_value`)."""
        self._object.update(self._verdicts, key, value)

    def forget(self, key: bytes) -> None:
        """Drop the cached verdict for `key`, if any."""
        self._object.delete(self._verdicts, key)

    def read_decisions(self, on_decision: Callable[[KernelDecision], None]) -> int:
        """Have `consume_decisions` hand each flow the kernel decided to `on_decision`;
        returns the fd that is readable when there are some."""
        self._ring, fd = self._object.ring_buffer(
            self._object.map_fd("decisions"), lambda data: on_decision(KernelDecision.unpack(data))
        )
        return fd

    def consume_decisions(self, most: int = 0) -> None:
        """Tell the waiting decisions (at most `most`, 0: all) to `read_decisions`'s."""
        self._object.consume(self._ring, most)

    def untold(self) -> int:
        """Decisions the kernel made but had no room to tell (a flood of refusals)."""
        return self._object.per_cpu_sum(self._untold, bytes(4))

    def account(self, key: bytes, value: bytes) -> None:
        """Count the bytes of flow `key` (`records.tuple_key`) from now, unless they are
        counted already (the kernel started when it decided the flow, which may even be
        over by now); an earlier flow of the same tuple, over, not read yet, makes way."""
        if self._object.update(self._traffic, key, value, only_new=True):
            return
        if not self._object.lookup(self._traffic, key, self._counts):
            return
        _out, _in, since_ns, closed = traffic_counts(self._counts.raw)
        if closed and traffic_counts(value)[2] - since_ns > EARLIER_FLOW_NS:
            self._object.update(self._traffic, key, value)

    def stop_accounting(self, key: bytes, since_ns: int) -> None:
        """Forget flow `key`, if it is still the one counted since `since_ns` (not a new
        flow of the same tuple)."""
        counts = ctypes.create_string_buffer(TRAFFIC_SIZE)
        if (
            self._object.lookup(self._traffic, key, counts)
            and traffic_counts(counts.raw)[2] == since_ns
        ):
            self._object.delete(self._traffic, key)

    def traffic(self) -> list[tuple[bytes, bytes]]:
        """Every accounted flow's (key, counts) (`records.traffic_counts`)."""
        return self._object.entries(self._traffic, FLOW_KEY_SIZE, TRAFFIC_SIZE)

    def traffic_changes(self) -> int:
        """A number that grows whenever an accounted flow's bytes or state change."""
        return self._object.per_cpu_sum(self._counted, bytes(4))

    def close(self) -> None:
        """Detach every program (the kernel does the same if the helper dies)."""
        self._object.close()


def start(
    object_path: Path | None, cgroup: Path | None, decided_mark: int
) -> tuple[DataPlane | None, Attribution]:
    """The data plane, or None and why the helper attributes by /proc instead."""
    if object_path is None or cgroup is None:
        reason = "disabled" if object_path is None else "no cgroup2 hierarchy"
        log.info("attribution: sock_diag and /proc (%s)", reason)
        return None, Attribution("procfs", reason)
    try:
        return DataPlane(object_path, cgroup, decided_mark), Attribution("ebpf")
    except (BpfError, OSError) as exc:
        log.warning("attribution: sock_diag and /proc; the eBPF data plane cannot start: %s", exc)
        return None, Attribution("procfs", str(exc))
