"""No leak while held: 10,000 held connections behind 100 prompts, none reaches its
server before the answer, every one does after it."""

import json
import selectors
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

from netwarden_helper.policy.answers import Answer
from tests.fixtures.processes import wait_for
from tests.fixtures.traffic import CHECKOUT

FIRST_PORT, PORTS, PER_PORT = 9000, 100, 100


@contextmanager
def counting_servers(peer, address, first, count):
    """Listening sockets on `count` ports inside `peer`; counts accepted connections."""
    accepted = [0]
    with peer.entered():
        servers = [socket.create_server((address, port), backlog=4096)
                   for port in range(first, first + count)]  # fmt: skip
    selector = selectors.DefaultSelector()
    for server in servers:
        server.setblocking(False)
        selector.register(server, selectors.EVENT_READ)
    running = threading.Event()
    running.set()

    def serve():
        while running.is_set():
            for key, _ in selector.select(timeout=0.1):
                try:
                    while True:
                        connection, _ = key.fileobj.accept()
                        connection.close()
                        accepted[0] += 1
                except BlockingIOError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield accepted
    finally:
        running.clear()
        thread.join(5)
        for server in servers:
            server.close()


def test_ten_thousand_held_connections_leak_nothing_before_the_answer(helper_thread, netns):
    helper = helper_thread(prompt_timeout=120)
    with counting_servers(netns.peer, netns.peer_v4, FIRST_PORT, PORTS) as accepted:
        clients = netns.host.popen(
            sys.executable, "-m", "tests.fixtures.many_connects", netns.peer_v4,
            str(FIRST_PORT), str(PORTS), str(PER_PORT), "90",
            stdout=subprocess.PIPE, text=True, cwd=CHECKOUT,
        )  # fmt: skip
        assert clients.stdout.readline().strip() == "started"
        helper.wait_for_prompt(PORTS, timeout=60)
        wait_for(lambda: helper.call(lambda h: h.status()["held_packets"]) >= PORTS * PER_PORT,
                 60, "every connection held")  # fmt: skip
        time.sleep(1)  # let SYN retransmits arrive too: they must be held as well
        assert accepted[0] == 0, f"{accepted[0]} connections leaked before the answer"
        status = helper.call(lambda h: h.status())
        assert status["prompts"] == PORTS

        for prompt in list(helper.prompter.raised):
            helper.call(lambda h, p=prompt: h.held_flows.answer(p.id, Answer("allow")))
        result = json.loads(clients.stdout.readline())
        clients.wait(30)
        assert result == {"connected": PORTS * PER_PORT, "failed": 0, "pending": 0}
        wait_for(lambda: accepted[0] == PORTS * PER_PORT, 30, "every connection accepted")
