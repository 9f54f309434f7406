"""`Event`: something that happens in one part of the helper, and who is told.

Events flow one way: a part (the pipeline, the rule book, the history) owns its events
and never knows who listens; the composition root connects the listeners. Listeners are
called in the order connected, on the loop's thread, from the emitter's call. A listener
that must not run inside the emitter's call (a D-Bus signal must not leave from inside a
packet callback) is connected through `Loop.deferred`, which queues it on the loop.
"""

from collections.abc import Callable
from typing import Generic, ParamSpec

P = ParamSpec("P")


class Event(Generic[P]):
    """Listeners of one kind of happening, each called with the event's arguments."""

    __slots__ = ("_listeners",)

    def __init__(self) -> None:
        self._listeners: list[Callable[P, None]] = []

    def connect(self, listener: Callable[P, None]) -> None:
        self._listeners.append(listener)

    def disconnect(self, listener: Callable[P, None]) -> None:
        self._listeners.remove(listener)

    def emit(self, *args: P.args, **kwargs: P.kwargs) -> None:
        for listener in self._listeners:
            listener(*args, **kwargs)
