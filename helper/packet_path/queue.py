"""NetfilterQueue bound on the helper's GLib loop: a readable fd, a non-blocking run.

What happens when the helper cannot keep up follows the user's fail mode: with fail-open,
the kernel is told (NFQA_CFG_F_FAIL_OPEN, a config message of our own on the queue's
netlink socket: the library does not offer it) to let packets through when the queue or
the socket's buffer is full; with fail-closed they are dropped. The socket's receive
buffer is sized for the whole queue (SO_RCVBUFFORCE, through the library), so a burst
fills the queue before it overflows the socket.
"""

import os
import socket
import struct
from collections.abc import Callable
from typing import Any

from netfilterqueue import NetfilterQueue

from netwarden_helper.runtime.loop import Loop

# Packets awaiting a verdict stay in the kernel queue; room for every held packet.
QUEUE_LENGTH = 32768
# What one queued packet takes in the netlink socket (a small packet, its metadata).
_BYTES_PER_PACKET = 1024
_NFNL_SUBSYS_QUEUE, _NFQNL_MSG_CONFIG = 3, 2
_NLM_F_REQUEST, _NLM_F_ACK, _NLMSG_ERROR = 0x1, 0x4, 0x2
_NFQA_CFG_MASK, _NFQA_CFG_FLAGS, _NFQA_CFG_F_FAIL_OPEN = 4, 5, 0x1


class QueueError(OSError):
    """The kernel refused a queue's configuration."""


class PacketQueue:
    def __init__(
        self,
        loop: Loop,
        queue_num: int,
        on_packet: Callable[[Any], None],
        fail_open: bool,
        length: int = QUEUE_LENGTH,
        copy_range: int = 0xFFFF,
    ) -> None:
        self.queue_num = queue_num
        self._queue = NetfilterQueue()
        self._queue.bind(queue_num, on_packet, max_len=length, range=copy_range,
                         sock_len=length * _BYTES_PER_PACKET)  # fmt: skip
        self.set_fail_open(fail_open, confirm=True)
        self._source = loop.watch_fd(self._queue.get_fd(), lambda: self._queue.run(block=False))

    def set_fail_open(self, fail_open: bool, confirm: bool = False) -> None:
        """Let packets through (True) or drop them (False) when the queue is full.

        With `confirm` (at start, before the loop reads the socket and before any packet
        can be queued) the kernel's answer is read here and a refusal raises
        `QueueError`; later the answer is left to the queue's own reader, which ignores
        it (reading it here could take a packet's message instead).
        """
        flags = struct.pack("!I", _NFQA_CFG_F_FAIL_OPEN if fail_open else 0)
        mask = struct.pack("!I", _NFQA_CFG_F_FAIL_OPEN)
        queue = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(self.queue_num))
        body = queue + _attribute(_NFQA_CFG_MASK, mask) + _attribute(_NFQA_CFG_FLAGS, flags)
        kind = (_NFNL_SUBSYS_QUEUE << 8) | _NFQNL_MSG_CONFIG
        request = _NLM_F_REQUEST | (_NLM_F_ACK if confirm else 0)
        header = struct.pack("=IHHII", 16 + len(body), kind, request, 1, 0)
        with socket.socket(fileno=os.dup(self._queue.get_fd())) as channel:
            channel.sendto(header + body, (0, 0))
            if not confirm:
                return
            channel.settimeout(2.0)
            reply = channel.recv(4096)
        if len(reply) >= 20 and struct.unpack_from("=H", reply, 4)[0] == _NLMSG_ERROR:
            error = -struct.unpack_from("=i", reply, 16)[0]
            if error:
                raise QueueError(error, f"queue {self.queue_num}: {os.strerror(error)}")

    def close(self) -> None:
        Loop.cancel(self._source)
        self._queue.unbind()


def _attribute(kind: int, value: bytes) -> bytes:
    return struct.pack("=HH", 4 + len(value), kind) + value
