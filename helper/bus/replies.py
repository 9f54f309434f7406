"""Replies of work done on another thread: a `Future` of a result as a `Future` of its
D-Bus value, which `authorized_method` sends from the loop once it is done."""

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any


def converted(work: Future, convert: Callable[[Any], Any]) -> Future:
    """A Future of `convert(result of work)`, or of `work`'s exception (the caller hears
    why it failed)."""
    replied: Future = Future()

    def done(finished: Future) -> None:
        try:
            replied.set_result(convert(finished.result()))
        except Exception as exc:
            replied.set_exception(exc)

    work.add_done_callback(done)
    return replied
