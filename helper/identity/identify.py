"""`Identifier`: who sent a queued packet, and the flow the rules see.

On the loop, per packet, only what is quick and cannot be made to wait by the sender:
socket -> (inode, uid) by sock_diag, inode -> pid by the fd map, and the process's
details if they are cached (same pid and start time), the binary's sha256 if the hash
cache knows it, the names DNS answers gave the destination. A process not seen before is
read off the loop (`fetch`, a worker of its own: `read_process` opens files the process
named), and its packets wait for it (`HeldFlows.wait`).
"""

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from netwarden_helper.identity.attribution import SocketOwners, SocketTable
from netwarden_helper.identity.dns_names import DnsNames
from netwarden_helper.identity.hashing import BinaryHasher, file_key
from netwarden_helper.identity.process_info import ProcessInfo, read_process, start_time
from netwarden_helper.packet_path.packet import Packet
from netwarden_helper.policy.engine import Flow
from netwarden_helper.runtime.loop import Loop

log = logging.getLogger(__name__)

MAX_CACHED_PROCESSES = 4096


class Identifier:
    def __init__(self, loop: Loop, hasher: BinaryHasher, dns: DnsNames) -> None:
        self._loop = loop
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

    def owner(self, packet: Packet) -> tuple[int, int | None]:
        """(uid, pid) of the socket that sent `packet`: (-1, None) when it has none, a uid
        and None when its process cannot be found."""
        owner = self._sockets.owner(packet)
        if owner is None:
            return -1, None
        inode, uid = owner
        return uid, self._owners.pid_of(inode)

    def cached(self, pid: int) -> ProcessInfo | None:
        """The details of `pid` if they are known and it is still the same process."""
        process = self._processes.get(pid)
        return process if process is not None and process.start_time == start_time(pid) else None

    def fetch(self, pid: int, on_done: Callable[[ProcessInfo | None], None]) -> None:
        """Read `pid`'s details off the loop; `on_done(details or None)` runs on the loop."""
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

    def flow(self, packet: Packet, uid: int, process: ProcessInfo | None) -> Flow:
        """The flow of `packet` from `process` (None: not known) of user `uid`."""
        sha256 = None
        if process is not None:
            key = file_key(process.pid)
            sha256 = self._hasher.cached(key) if key else None
        return Flow(
            exe=process.exe if process else "",
            dst=packet.dst,
            protocol=packet.protocol_name,
            dport=packet.dport,
            uid=uid,
            sha256=sha256,
            unit=process.unit if process else "",
            flatpak=process.flatpak if process else "",
            hosts=self._dns.names_for(packet.dst),
            script=process.script if process else "",
            script_sha256=process.script_sha256 if process else "",
            foreign_root=process.foreign_root if process else False,
        )
