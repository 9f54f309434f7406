"""The helper's loop: a repeating job (a queue's reader, a periodic task) that raises is
logged and keeps running, so one bad packet cannot stop the helper reading its queue."""

import os

from gi.repository import GLib

from netwarden_helper.runtime.loop import Loop


def test_a_reader_that_raises_keeps_reading(caplog):
    loop = Loop(GLib.MainContext.new())
    read, write = os.pipe()
    seen = []

    def on_readable():
        seen.append(os.read(read, 1))
        if len(seen) == 1:
            raise ValueError("a malformed packet")
        if len(seen) == 2:
            loop.quit()

    source = loop.watch_fd(read, on_readable)
    os.write(write, b"ab")
    loop.call_later(5, loop.quit)  # bounded
    loop.run()
    Loop.cancel(source)
    os.close(read)
    os.close(write)
    assert seen == [b"a", b"b"]
    assert "internal error in" in caplog.text and "a malformed packet" in caplog.text
