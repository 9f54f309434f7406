"""`Worker`: one daemon thread that runs jobs in the order they were given.

For slow work the loop must not wait for (downloads, parsing lists, opening databases);
jobs hand their results back with `Loop.call_soon`. A daemon thread: a download in
progress must not hold up the helper's exit. A job that raises is logged and the jobs
after it still run (a job with a Future completes it itself, errors included).
"""

import logging
import threading
from collections.abc import Callable
from queue import SimpleQueue

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, name: str) -> None:
        self._jobs: SimpleQueue[Callable[[], None] | None] = SimpleQueue()
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def submit(self, job: Callable[[], None]) -> None:
        """Run `job()` on the thread, after the jobs given before it."""
        self._jobs.put(job)

    def close(self) -> None:
        """Stop once the jobs given so far are done."""
        self._jobs.put(None)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job()
            except Exception:
                log.exception("internal error in a %s job; the next ones still run",
                              threading.current_thread().name)  # fmt: skip
