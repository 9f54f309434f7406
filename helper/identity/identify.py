"""`Identifier`: who sent a queued packet, and the flow the rules see.

On the loop, per packet, only what is quick and cannot be made to wait by the sender:
socket -> (inode, uid) by sock_diag, inode -> pid by the fd map, and the process's
details if they are cached (same pid and start time), the binary's sha256 if the hash
cache knows it, the names DNS answers gave the destination. A process not seen before is
read off the loop (`fetch`, a worker of its own: `read_process` opens files the process
named), and its packets wait for it (`HeldFlows.wait`). A packet routed through this
host (a container's, a VM's) has no local process: its flow names the interface and the
address it came from (`forwarded`).

With the eBPF data plane (`data_plane/`) the owner comes from the kernel's record of who
created or last used the socket, looked up by exact tuple: the process's details are
read from /proc only while it still runs the program that used the socket; a process
that is gone (or has exec'd another program since) is what the kernel recorded
(`_recorded`: pid, executable path, uid, comm; `exited` set). A socket the kernel made
for itself (a tunnel's, NFS's) has no process: its flows are the kernel's (`KERNEL`, no
user), as are its resets and ICMP errors. Without the data plane, sock_diag and the /proc
fd map, as before.
"""

import logging
import os
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from netwarden_common.rules import KERNEL
from netwarden_common.users import user_name
from netwarden_helper.data_plane.plane import DataPlane
from netwarden_helper.data_plane.records import SocketOwner
from netwarden_helper.identity.attribution import SocketOwners, SocketTable
from netwarden_helper.identity.dns_names import DnsNames
from netwarden_helper.identity.hashing import BinaryHasher, file_key
from netwarden_helper.identity.kernel_packets import sent_by_kernel
from netwarden_helper.identity.known_resolvers import resolver_name
from netwarden_helper.identity.process_info import ProcessInfo, read_process, start_time
from netwarden_helper.packet_path.packet import Packet
from netwarden_helper.policy.engine import Flow
from netwarden_helper.runtime.loop import Loop

log = logging.getLogger(__name__)

MAX_CACHED_PROCESSES = 4096


class Identifier:
    def __init__(
        self, loop: Loop, hasher: BinaryHasher, dns: DnsNames, data_plane: DataPlane | None
    ) -> None:
        self._loop = loop
        self._data_plane = data_plane
        own_root = os.stat("/proc/self/root")
        self._root = (own_root.st_dev, own_root.st_ino)
        self._hasher = hasher
        self._dns = dns
        self._sockets = SocketTable()
        self._owners = SocketOwners()
        self._processes: dict[int, ProcessInfo] = {}
        self._fetching: dict[int, list[Callable[[ProcessInfo | None], None]]] = {}
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="identity")

    def close(self) -> None:
        self._reader.shutdown(wait=False, cancel_futures=True)
        self._sockets.close()

    def owner(self, packet: Packet) -> tuple[int, int | None, SocketOwner | None]:
        """(uid, pid, the kernel's record) of the socket that sent `packet`: the data
        plane's record when it has one (a socket of the kernel's own: no user, no pid), else
        sock_diag and /proc (no record): (-1, None, None) when it has none, a uid and None
        when its process cannot be found."""
        recorded = self._data_plane.owner(packet) if self._data_plane is not None else None
        if recorded is not None and recorded.kernel:
            return -1, None, recorded
        if recorded is not None:
            return recorded.socket_uid, recorded.tgid or None, recorded
        owner = self._sockets.owner(packet)
        if owner is None:
            return -1, None, None
        inode, uid = owner
        return uid, self._owners.pid_of(inode), None

    def socket_open(self, five_tuple: tuple) -> bool | None:
        """Whether a local socket still owns flow `five_tuple` (protocol, source, port,
        destination, port); None where sock_diag cannot tell (ICMP, other protocols, a
        failed lookup)."""
        protocol, src, sport, dst, dport = five_tuple
        version = 6 if ":" in src else 4
        return self._sockets.is_open(Packet(version, protocol, src, dst, sport, dport))

    def cached(self, pid: int | None, recorded: SocketOwner | None) -> ProcessInfo | None:
        """The details of `pid` if they are known and it is still the same process, running
        the program the kernel recorded; what the kernel recorded if the process is gone
        (None for a socket of the kernel's own: there is no process)."""
        if (
            recorded is not None
            and not recorded.kernel
            and (pid is None or start_time(pid) != recorded.start_ticks)
        ):
            return self._recorded(recorded)
        process = self._processes.get(pid) if pid is not None else None
        if process is None or process.start_time != start_time(process.pid):
            return None
        return self._checked(process, recorded)

    def fetch(
        self, pid: int, recorded: SocketOwner | None, on_done: Callable[[ProcessInfo | None], None]
    ) -> None:
        """Read `pid`'s details off the loop; `on_done(details or None)` runs on the loop
        (what the kernel recorded, if there is a record and the process is gone by then)."""
        if recorded is not None:
            on_done = partial(self._fetched_checked, recorded, on_done)
        if pid in self._fetching:
            self._fetching[pid].append(on_done)
            return
        self._fetching[pid] = [on_done]

        def read() -> None:
            try:
                process = read_process(pid)
            except Exception:  # a surprise in one process's details must not lose the packet
                log.exception("reading process %d failed", pid)
                process = None
            self._loop.call_soon(lambda: self._fetched(pid, process))

        self._reader.submit(read)

    def _fetched(self, pid: int, process: ProcessInfo | None) -> None:
        if process is not None:
            if len(self._processes) >= MAX_CACHED_PROCESSES:
                self._processes.clear()
            self._processes[pid] = process
        for on_done in self._fetching.pop(pid, []):
            on_done(process)

    def _fetched_checked(
        self,
        recorded: SocketOwner,
        on_done: Callable[[ProcessInfo | None], None],
        process: ProcessInfo | None,
    ) -> None:
        on_done(self._checked(process, recorded) if process else self._recorded(recorded))

    def _checked(self, process: ProcessInfo, recorded: SocketOwner | None) -> ProcessInfo:
        """`process`, unless it runs another program than the one that used the socket
        (it exec'd since): then what the kernel recorded."""
        if recorded is None or process.start_time != recorded.start_ticks:
            return process if recorded is None else self._recorded(recorded)
        exe = self._data_plane.exe(recorded) if self._data_plane is not None else None
        return process if exe is None or exe[0] == process.exe else self._recorded(recorded)

    def _recorded(self, recorded: SocketOwner) -> ProcessInfo:
        """The process as the kernel recorded it when it used the socket: no command line,
        parents, unit or hash are known (see docs/packet-path.md)."""
        exe = self._data_plane.exe(recorded) if self._data_plane is not None else None
        return ProcessInfo(
            pid=recorded.tgid,
            exe=exe[0] if exe else "",
            exe_deleted=exe[1] if exe else False,
            cmdline=(),
            uid=recorded.uid,
            user=user_name(recorded.uid),
            start_time=recorded.start_ticks,
            parents=(),
            unit="",
            flatpak="",
            foreign_root=recorded.root != self._root,
            exited=True,
            comm=recorded.comm,
        )

    def forwarded(self, packet: Packet, interface_index: int) -> Flow:
        """The flow of `packet`, routed through this host from interface `interface_index`."""
        try:
            interface = socket.if_indextoname(interface_index)
        except OSError:  # gone meanwhile: its number still tells the flows apart
            interface = f"if{interface_index}"
        return Flow(exe="", dst=packet.dst, protocol=packet.protocol_name, dport=packet.dport,
                    hosts=self.names_of(packet.dst),
                    forwarded_from=f"{interface} {packet.src}")  # fmt: skip

    def names_of(self, address: str) -> tuple[str, ...]:
        """The names DNS answers gave `address`; a public resolver's own name when there
        are none (a program doing its own DNS over TLS or HTTPS)."""
        names = self._dns.names_for(address)
        if names:
            return names
        resolver = resolver_name(address)
        return (resolver,) if resolver else ()

    @staticmethod
    def _unattributed(packet: Packet, uid: int, recorded: SocketOwner | None) -> str:
        """The program of a packet no process is known for: the kernel's when it left a
        socket the kernel made for itself, or when no socket at all was found (`uid` -1)
        and it is a reset or an ICMP error; else "" (unknown)."""
        kernel_socket = recorded is not None and recorded.kernel
        return KERNEL if kernel_socket or (uid == -1 and sent_by_kernel(packet)) else ""

    def flow(
        self,
        packet: Packet,
        uid: int,
        process: ProcessInfo | None,
        recorded: SocketOwner | None = None,
    ) -> Flow:
        """The flow of `packet` from `process` (None: not known) of user `uid`, whose
        socket the kernel recorded as `recorded` (None: it did not)."""
        sha256 = None
        if process is not None and not process.exited:  # a gone pid may be another's now
            key = file_key(process.pid)
            sha256 = self._hasher.cached(key) if key else None
        return Flow(
            exe=process.exe if process else self._unattributed(packet, uid, recorded),
            dst=packet.dst,
            protocol=packet.protocol_name,
            dport=packet.dport,
            uid=uid,
            sha256=sha256,
            unit=process.unit if process else "",
            flatpak=process.flatpak if process else "",
            hosts=self.names_of(packet.dst),
            script=process.script if process else "",
            script_sha256=process.script_sha256 if process else "",
            foreign_root=process.foreign_root if process else False,
            complete=process is not None and not process.exited,
        )
