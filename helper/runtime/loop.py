"""`Loop`: the helper's one GLib main context, and the only way to schedule work on it.

Every packet verdict, rule change and prompt answer happens on this loop's thread.
Other threads (the hashing pool) hand results back with `call_soon`, which is safe from
any thread. Sources attach to this context explicitly, never to whichever context is the
thread's default, so a test can run a helper in a thread of its own.
"""

import logging
from collections.abc import Callable
from typing import Any, ParamSpec

from gi.repository import GLib

log = logging.getLogger(__name__)

P = ParamSpec("P")


class Loop:
    def __init__(self, context: GLib.MainContext | None = None) -> None:
        self.context = context or GLib.MainContext.default()
        self._main_loop = GLib.MainLoop(self.context)

    def run(self) -> None:
        self._main_loop.run()

    def quit(self) -> None:
        self._main_loop.quit()

    def watch_fd(self, fd: int, on_readable: Callable[[], None]) -> GLib.Source:
        """Call `on_readable()` whenever `fd` has data."""
        source = GLib.io_create_watch(GLib.IOChannel.unix_new(fd), GLib.IO_IN | GLib.IO_PRI)
        source.set_priority(GLib.PRIORITY_HIGH)
        source.set_callback(_repeating(on_readable))
        source.attach(self.context)
        return source

    def call_later(self, seconds: float, callback: Callable[[], Any]) -> GLib.Source:
        """Call `callback()` once after `seconds`; `cancel` the returned source to stop it."""
        source = GLib.timeout_source_new(max(0, int(seconds * 1000)))
        source.set_callback(_once(callback))
        source.attach(self.context)
        return source

    def call_every(self, seconds: float, callback: Callable[[], Any]) -> GLib.Source:
        """Call `callback()` every `seconds` until the source is cancelled."""
        source = GLib.timeout_source_new(int(seconds * 1000))
        source.set_callback(_repeating(callback))
        source.attach(self.context)
        return source

    def call_soon(self, callback: Callable[[], Any]) -> None:
        """Call `callback()` on the loop's thread as soon as it is free (from any thread)."""
        source = GLib.idle_source_new()
        source.set_priority(GLib.PRIORITY_DEFAULT)
        source.set_callback(_once(callback))
        source.attach(self.context)

    def deferred(self, callback: Callable[P, Any]) -> Callable[P, None]:
        """`callback` made to run later on the loop's thread, never inside its caller's call
        (safe from any thread); calls keep their order."""

        def queue(*args: P.args, **kwargs: P.kwargs) -> None:
            self.call_soon(lambda: callback(*args, **kwargs))

        return queue

    @staticmethod
    def cancel(source: GLib.Source) -> None:
        source.destroy()


def _once(callback: Callable[[], Any]) -> Callable[..., bool]:
    def run(*_: Any) -> bool:
        callback()
        return GLib.SOURCE_REMOVE

    return run


def _repeating(callback: Callable[[], Any]) -> Callable[..., bool]:
    """A source callback that keeps its source whatever happens: a callback that raised
    would otherwise remove it, and a queue's reader or a periodic job would stop for good."""

    def run(*_: Any) -> bool:
        try:
            callback()
        except Exception:
            log.exception("internal error in %s; it keeps running",
                          getattr(callback, "__qualname__", callback))  # fmt: skip
        return GLib.SOURCE_CONTINUE

    return run
