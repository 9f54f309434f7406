"""`Identifier`: a queued packet's flow as the rules see it: who sent it, and to where.

Socket -> (inode, uid) by sock_diag, inode -> pid by the fd map, pid -> process details
(cached while the same process lives: same pid and start time), the binary's sha256 if
the hash cache knows it (never computed here: hashing is the hasher's, off the loop), and
the names DNS answers gave the destination.
"""

from netwarden_helper.identity.attribution import SocketOwners, SocketTable
from netwarden_helper.identity.dns_names import DnsNames
from netwarden_helper.identity.hashing import BinaryHasher, file_key
from netwarden_helper.identity.process_info import ProcessInfo, read_process, start_time
from netwarden_helper.packet_path.packet import Packet
from netwarden_helper.policy.engine import Flow

MAX_CACHED_PROCESSES = 4096


class Identifier:
    def __init__(self, hasher: BinaryHasher, dns: DnsNames) -> None:
        self._hasher = hasher
        self._dns = dns
        self._sockets = SocketTable()
        self._owners = SocketOwners()
        self._processes: dict[int, ProcessInfo] = {}

    def close(self) -> None:
        self._sockets.close()

    def identify(self, packet: Packet) -> tuple[Flow, ProcessInfo | None]:
        """The flow of `packet`, and its process (None when no owner could be found)."""
        owner = self._sockets.owner(packet)
        process = None
        uid = -1
        if owner is not None:
            inode, uid = owner
            pid = self._owners.pid_of(inode)
            process = self._process(pid) if pid is not None else None
        sha256 = None
        if process is not None:
            key = file_key(process.pid)
            sha256 = self._hasher.cached(key) if key else None
        flow = Flow(
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
        )
        return flow, process

    def _process(self, pid: int) -> ProcessInfo | None:
        cached = self._processes.get(pid)
        if cached is not None and cached.start_time == start_time(pid):
            return cached
        process = read_process(pid)
        if process is not None:
            if len(self._processes) > MAX_CACHED_PROCESSES:
                self._processes.clear()
            self._processes[pid] = process
        return process
