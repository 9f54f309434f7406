"""Every decision, written to the systemd journal with structured fields.

`JournalWriter` listens to every decision (`Verdicts.decided`). On the loop it only appends
an entry to a bounded queue; a thread of its own sends each entry as one datagram of
journald's native protocol to its socket (`/run/systemd/journal/socket`, configurable).
That is the protocol `systemd.journal.send` speaks, written here because python-systemd
cannot be pointed at another socket, which the tests need. Kept after measuring both
into a real systemd-journald (bench/journal_send.py, docs/benchmarks.md): the same cost,
about 30 us an entry (the journald socket's), so no measured reason to switch; and
python-systemd would add CODE_FILE/CODE_LINE/CODE_FUNC fields naming this module to every
entry, and sends on libsystemd's blocking socket without a timeout (its source; not
measured), where this one gives up after `SEND_TIMEOUT_S` and counts a drop. A storm
cannot flood the journal: at most `RATE` entries a second are sent and the queue holds
`QUEUE` entries; what does not fit is dropped, counted, and reported by one entry that
says how many.

Fields: MESSAGE, PRIORITY (5 notice for deny, 6 info for allow), SYSLOG_IDENTIFIER
(netwarden-helper), NETWARDEN_VERDICT, NETWARDEN_DECIDED_BY, NETWARDEN_EXE, NETWARDEN_UID,
NETWARDEN_DEST (the IP), NETWARDEN_PORT, NETWARDEN_PROTOCOL, and when known NETWARDEN_HOST
(the DNS name), NETWARDEN_RULE_ID, NETWARDEN_UNIT, NETWARDEN_FLATPAK, NETWARDEN_SCRIPT.
"""

import logging
import queue
import socket
import struct
import threading
import time
from collections.abc import Mapping

from netwarden_helper.policy.engine import Flow

log = logging.getLogger(__name__)

JOURNAL_SOCKET = "/run/systemd/journal/socket"
IDENTIFIER = "netwarden-helper"
RATE = 500  # entries a second, at most
QUEUE = 4096
SEND_TIMEOUT_S = 1.0
_NOTICE, _INFO, _WARNING = 5, 6, 4


def decision_fields(
    flow: Flow, action: str, decided_by: str, rule_id: int | None
) -> dict[str, str]:
    """A decision as journal fields. Pure."""
    host = flow.hosts[0] if flow.hosts else ""
    where = f"{host} ({flow.dst})" if host else flow.dst
    port = f":{flow.dport}" if flow.dport else ""
    if flow.forwarded_from:
        who = f"forwarded from {flow.forwarded_from}"
    else:
        who = f"{flow.exe or 'unknown program'} (uid {flow.uid})"
    fields = {
        "MESSAGE": f"{action} {who} -> {where}{port} {flow.protocol}, decided by {decided_by}",
        "PRIORITY": str(_NOTICE if action == "deny" else _INFO),
        "SYSLOG_IDENTIFIER": IDENTIFIER,
        "NETWARDEN_VERDICT": action,
        "NETWARDEN_DECIDED_BY": decided_by,
        "NETWARDEN_EXE": flow.exe,
        "NETWARDEN_UID": str(flow.uid),
        "NETWARDEN_DEST": flow.dst,
        "NETWARDEN_PORT": str(flow.dport),
        "NETWARDEN_PROTOCOL": flow.protocol,
        "NETWARDEN_HOST": host,
        "NETWARDEN_RULE_ID": "" if rule_id is None else str(rule_id),
        "NETWARDEN_UNIT": flow.unit,
        "NETWARDEN_FLATPAK": flow.flatpak,
        "NETWARDEN_SCRIPT": flow.script,
        "NETWARDEN_FORWARDED_FROM": flow.forwarded_from,
    }
    return {key: value for key, value in fields.items() if value}


def encode(fields: Mapping[str, str]) -> bytes:
    """One entry in journald's native protocol: `KEY=value` lines, or for a value with a
    newline `KEY`, a newline, its length (64-bit little-endian), the value, a newline."""
    out = bytearray()
    for key, value in fields.items():
        data = value.encode("utf-8", errors="replace")
        if b"\n" in data:
            out += key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += key.encode() + b"=" + data + b"\n"
    return bytes(out)


class JournalWriter:
    """Sends decisions to the journal from a thread of its own, bounded and rate-limited."""

    def __init__(self, path: str = JOURNAL_SOCKET) -> None:
        self.path = path
        self.dropped = 0  # entries not sent: queue full, over the rate, or no journal
        # Decisions as given; their fields are made on the thread, off the packet path.
        self._queue: queue.Queue[tuple | None] = queue.Queue(QUEUE)
        self._lock = threading.Lock()
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._socket.settimeout(SEND_TIMEOUT_S)  # a stuck journal costs drops, not a thread
        self._thread = threading.Thread(target=self._send_all, name="journal", daemon=True)
        self._thread.start()

    def flow_decided(
        self, flow: Flow, five_tuple: tuple, action: str, decided_by: str, rule_id: int | None
    ) -> None:
        try:
            self._queue.put_nowait((flow, action, decided_by, rule_id))
        except queue.Full:
            self._drop(1)

    def _drop(self, count: int) -> None:
        with self._lock:
            self.dropped += count

    def _send_all(self) -> None:
        second, sent, reported, unreachable = time.monotonic(), 0, 0, False
        while (decision := self._queue.get()) is not None:
            now = time.monotonic()
            if now - second >= 1.0:
                second, sent = now, 0
                with self._lock:
                    dropped = self.dropped
                if dropped > reported:
                    self._send(self._dropped_entry(dropped - reported))
                    reported = dropped
            if sent >= RATE:
                self._drop(1)
                continue
            sent += 1
            if not self._send(encode(decision_fields(*decision))):
                self._drop(1)
                if not unreachable:
                    log.info("the journal at %s cannot be reached; decisions are not "
                             "journaled until it can", self.path)  # fmt: skip
                unreachable = True
            else:
                unreachable = False

    def _send(self, datagram: bytes) -> bool:
        try:
            self._socket.sendto(datagram, self.path)
        except OSError:
            return False
        return True

    @staticmethod
    def _dropped_entry(count: int) -> bytes:
        return encode({
            "MESSAGE": f"{count} decisions were not journaled (too many at once, "
                       "or the journal could not be reached)",
            "PRIORITY": str(_WARNING),
            "SYSLOG_IDENTIFIER": IDENTIFIER,
            "NETWARDEN_NOT_JOURNALED": str(count),
        })  # fmt: skip

    def close(self) -> None:
        """Send what is queued, then stop."""
        self._queue.put(None)
        self._thread.join(5)
        self._socket.close()
