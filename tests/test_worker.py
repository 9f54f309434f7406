"""The helper's worker thread: a job that raises is logged, and the jobs after it run."""

import threading

from netwarden_helper.runtime.worker import Worker


def test_a_job_that_raises_is_logged_and_the_next_job_still_runs(caplog):
    worker = Worker("test-worker")
    ran = threading.Event()

    def broken() -> None:
        raise ValueError("a bug in a job")

    worker.submit(broken)
    worker.submit(ran.set)
    worker.close()
    assert ran.wait(5), "the job after the one that raised never ran"
    assert "internal error in a test-worker job" in caplog.text
    assert "a bug in a job" in caplog.text
