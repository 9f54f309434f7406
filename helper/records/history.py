"""`History`: decided flows and their bytes, written off the packet path, and queried.

The packet path tells `flow_decided` about every verdict (on the loop, cheap: a record is
appended to a batch). A writer thread stores the batch every `FLUSH_S` or every
`FLUSH_ROWS` records, in one transaction, so a crash loses at most the last batch. A
meter thread reads conntrack (a dump every `METER_S`, destroy events as they come) and
hands the entries to the loop, where `FlowAccounting` turns them into byte samples for
the same batches and for whoever listens (`recorded`, `counted`). With the eBPF data
plane, this host's own flows are counted by the kernel instead (`SocketTraffic`, read by
the same thread, a map lookup when nothing changed) and conntrack is dumped only for the
flows routed through this host, if any. A switch of the active profile
(`profile_switched`) is written by the same thread at once, not batched, and told
(`switch_recorded`) once stored; a failed write is logged. Queries run on a thread of
their own with their own connection (WAL lets them read while the writer writes) and
answer with a `Future`, so neither a long query nor a slow disk ever delays a verdict.
"""

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from netwarden_common.errors import Busy
from netwarden_common.profiles import ProfileSwitch
from netwarden_helper.packet_path.packet import TCP, UDP
from netwarden_helper.policy.engine import Flow
from netwarden_helper.records.accounting import FlowAccounting, TrackedFlow
from netwarden_helper.records.conntrack import ConntrackReader, CtEntry, enable_accounting
from netwarden_helper.records.flows import BytesSample, FlowRecord, Program
from netwarden_helper.records.history_db import HistoryDb
from netwarden_helper.records.socket_traffic import SocketTraffic
from netwarden_helper.runtime.events import Event
from netwarden_helper.runtime.loop import Loop

log = logging.getLogger(__name__)

FLUSH_S = 1.0
FLUSH_ROWS = 2000
METER_S = 1.0
MAINTAIN_S = 3600.0
MAX_WAITING_QUERIES = 16


class History:
    def __init__(
        self,
        loop: Loop,
        state_dir: Path,
        retention_days: Callable[[], int],
        clock: Callable[[], float] = time.time,
        meter: bool = True,
        socket_traffic: SocketTraffic | None = None,
    ) -> None:
        self.loop = loop
        self.clock = clock
        self.retention_days = retention_days
        self.recorded: Event[[FlowRecord]] = Event()
        self.counted: Event[[list[BytesSample]]] = Event()
        self.switch_recorded: Event[[dict[str, Any]]] = Event()  # as `profile_switches()`
        self.accounting = FlowAccounting()  # by conntrack: every flow, or forwarded ones
        self.socket_accounting = FlowAccounting()  # by the data plane: this host's flows
        self._socket_traffic = socket_traffic
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="history-writer")
        self._queries = ThreadPoolExecutor(max_workers=1, thread_name_prefix="history-query")
        try:  # each connection is made, used and closed by the one thread that owns it
            self._db = self._writer.submit(HistoryDb, state_dir).result()
            self._query_db = self._queries.submit(HistoryDb, state_dir).result()
        except BaseException:
            self._writer.shutdown()
            self._queries.shutdown()
            raise
        self._next_id = self._writer.submit(self._db.next_flow_id).result()
        self._query_slots = threading.BoundedSemaphore(MAX_WAITING_QUERIES)
        self._waiting_queries: set[Future] = set()  # under the lock: two threads touch it
        self._waiting_lock = threading.Lock()
        self._flows: list[FlowRecord] = []
        self._samples: list[BytesSample] = []
        self._timers = [
            loop.call_every(FLUSH_S, self.flush),
            loop.call_every(MAINTAIN_S, self.maintain),
        ]
        self._stopping = threading.Event()
        self._meter: threading.Thread | None = None
        if meter:
            enable_accounting()
            reader = ConntrackReader()  # opened here: in the helper's network namespace
            self._meter = threading.Thread(
                target=self._read_counters, args=(reader,), name="conntrack", daemon=True
            )
            self._meter.start()
        self.maintain()

    # From the packet path

    def flow_decided(
        self, flow: Flow, five_tuple: tuple, action: str, decided_by: str, rule_id: int | None
    ) -> None:
        """Record a verdict; an allowed TCP/UDP flow is accounted from now on."""
        record = FlowRecord(
            id=self._next_id,
            time=self.clock(),
            program=Program(
                flow.exe,
                flow.sha256 or "",
                flow.unit,
                flow.flatpak,
                flow.uid,
                flow.script,
                flow.forwarded_from,
            ),
            destination=flow.dst,
            host=flow.hosts[0] if flow.hosts else "",
            port=flow.dport,
            protocol=flow.protocol,
            verdict=action,
            decided_by=decided_by,
            rule_id=rule_id,
        )
        self._next_id += 1
        self._flows.append(record)
        if action == "allow" and five_tuple[0] in (TCP, UDP):
            if self._socket_traffic is not None and not flow.forwarded_from:
                self._socket_traffic.account(five_tuple)
                self.socket_accounting.track(five_tuple, record)
            else:
                self.accounting.track(five_tuple, record)
        self.recorded.emit(record)
        if len(self._flows) >= FLUSH_ROWS:
            self.flush()

    # From the profiles

    def profile_switched(self, switch: ProfileSwitch) -> None:
        """Record a switch of the active profile, made now, on the writer thread (one
        after `close`, as the helper stops, is not recorded)."""
        if self._stopping.is_set():
            log.debug("the switch to profile %r came after the history closed", switch.after)
            return
        when = self.clock()

        def write() -> None:
            try:
                stored = self._db.write_switch(when, switch)
            except Exception:
                log.exception("the switch to profile %r could not be recorded", switch.after)
                return
            self.loop.call_soon(partial(self.switch_recorded.emit, stored))

        self._writer.submit(write)

    # Bytes

    def _read_counters(self, reader: ConntrackReader) -> None:
        next_dump = 0.0
        try:
            while not self._stopping.is_set():
                destroyed = reader.wait_for_destroyed(max(0.0, next_dump - time.monotonic()))
                if destroyed:
                    self.loop.call_soon(partial(self._counted, destroyed, complete=False))
                if time.monotonic() >= next_dump:
                    next_dump = time.monotonic() + METER_S
                    # Nothing accounted, nothing to read: an idle helper costs no CPU here.
                    if len(self.accounting):
                        entries = reader.dump()
                        self.loop.call_soon(partial(self._counted, entries, complete=True))
                    sockets = self._socket_traffic.read() if self._socket_traffic else None
                    if sockets is not None:
                        self.loop.call_soon(partial(self._counted, sockets, complete=True,
                                                    books=self.socket_accounting))  # fmt: skip
        except Exception:
            log.exception("reading conntrack failed; traffic is no longer counted")
        finally:
            reader.close()

    def _counted(
        self, entries: list[CtEntry], complete: bool, books: FlowAccounting | None = None
    ) -> None:
        samples = (self.accounting if books is None else books).update(
            entries, self.clock(), complete
        )
        if samples:
            self._samples.extend(samples)
            self.counted.emit(samples)

    def live(self) -> list[TrackedFlow]:
        """Open flows with the bytes they moved so far."""
        return self.accounting.live() + self.socket_accounting.live()

    # Writing

    def flush(self) -> Future:
        """Hand the batch gathered since the last flush to the writer thread."""
        flows, samples = self._flows, self._samples
        self._flows, self._samples = [], []
        if not flows and not samples:
            done: Future = Future()
            done.set_result(None)
            return done
        return self._writer.submit(self._write, flows, samples)

    def _write(self, flows: list[FlowRecord], samples: list[BytesSample]) -> None:
        try:
            self._db.write(flows, samples)
        except Exception:
            log.exception("%d history records could not be written", len(flows) + len(samples))

    def maintain(self) -> Future:
        """Apply the retention and compact old minutes into hours (writer thread)."""
        now, days = self.clock(), self.retention_days()

        def run() -> None:
            try:
                deleted, compacted = self._db.maintain(now, days)
            except Exception:
                log.exception("history maintenance failed")
                return
            if deleted or compacted:
                log.info("history: %d flows past %d days deleted, %d minutes compacted",
                         deleted, days, compacted)  # fmt: skip

        return self._writer.submit(run)

    # Reading

    def query(self, function: Callable[[HistoryDb], Any]) -> Future:
        """Run `function(db)` on the query thread; its result arrives in the Future. At
        most `MAX_WAITING_QUERIES` wait or run at once: past that, `Busy`."""
        if not self._query_slots.acquire(blocking=False):
            raise Busy(f"{MAX_WAITING_QUERIES} history queries are waiting already; "
                       "try again shortly")  # fmt: skip
        future = self._queries.submit(function, self._query_db)
        with self._waiting_lock:
            self._waiting_queries.add(future)
        future.add_done_callback(self._query_done)
        return future

    def _query_done(self, future: Future) -> None:  # on the query thread
        with self._waiting_lock:
            self._waiting_queries.discard(future)
        self._query_slots.release()

    def close(self) -> None:
        """Stop counting, write what is pending, close the databases."""
        for timer in self._timers:
            Loop.cancel(timer)
        self._stopping.set()
        if self._meter is not None:
            self._meter.join(5)
        self.flush()
        self._writer.submit(self._db.close)
        self._writer.shutdown(wait=True)
        with self._waiting_lock:
            waiting = list(self._waiting_queries)
        for future in waiting:
            future.cancel()  # those not started; the one running finishes first
        self._queries.submit(self._query_db.close)
        self._queries.shutdown(wait=True)
