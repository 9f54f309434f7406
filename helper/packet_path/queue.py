"""NetfilterQueue bound on the helper's GLib loop: a readable fd, a non-blocking run."""

from collections.abc import Callable
from typing import Any

from netfilterqueue import NetfilterQueue

from netwarden_helper.runtime.loop import Loop

# Packets awaiting a verdict stay in the kernel queue; room for every held packet.
QUEUE_LENGTH = 32768


class PacketQueue:
    def __init__(self, loop: Loop, queue_num: int, on_packet: Callable[[Any], None]) -> None:
        self._queue = NetfilterQueue()
        self._queue.bind(queue_num, on_packet, max_len=QUEUE_LENGTH)
        self._source = loop.watch_fd(self._queue.get_fd(), lambda: self._queue.run(block=False))

    def close(self) -> None:
        Loop.cancel(self._source)
        self._queue.unbind()
