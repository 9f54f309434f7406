"""A network that lies about names, against the real helper (netns, real queues).

A domain rule ("allow trusted.example.test") trusts whatever DNS said an address is. A
peer that can make the helper believe "trusted.example.test is 192.0.2.2" opens that
address to every program the rule covers. Both attacks here worked before the helper
learnt names only from answers to its own host's queries, and only for the names asked.
"""

import json
import socket
import sys
import time

import dns.message
import dns.rrset

from netwarden_common.rules import Rule
from tests.fixtures.dns_server import dns_server
from tests.fixtures.traffic import recorder

PORT = 8080
TRUSTED = "trusted.example.test"


def add_rule(helper, **fields):
    return helper.call(lambda h: h.rule_book.add_rule(Rule(**fields)))


def connect(netns, target, *extra):
    result = netns.host.run(
        sys.executable, "-m", "tests.fixtures.client", "tcp", target, str(PORT), "--timeout=5",
        *extra, timeout=40,
    )  # fmt: skip
    return json.loads(result.stdout)["result"]


def test_an_answer_nobody_asked_for_teaches_the_helper_nothing(netns, helper_thread):
    helper = helper_thread(prompter=False, default_action="deny")
    add_rule(helper, action="allow", protocol="tcp", destination=TRUSTED)
    planted = dns.message.make_response(dns.message.make_query(TRUSTED, "A"))
    planted.answer.append(dns.rrset.from_text(TRUSTED + ".", 300, "IN", "A", netns.peer_v4))
    with netns.peer.entered(), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as spoofer:
        spoofer.bind((netns.peer_v4, 53))
        for port in (40000, 40001, 53, 5353):  # wherever a resolver might listen
            spoofer.sendto(planted.to_wire(), (netns.host_v4, port))
    time.sleep(0.5)
    assert helper.call(lambda h: h.dns.names_for(netns.peer_v4)) == ()
    with recorder(netns.peer, (netns.peer_v4,), PORT) as servers:
        assert connect(netns, netns.peer_v4) == "refused"
    assert servers.tcp_accepts == 0


def test_records_riding_along_in_a_real_answer_are_not_learnt(netns, helper_thread):
    helper = helper_thread(prompter=False, default_action="deny")
    add_rule(helper, action="allow", protocol="udp", ports="53", destination=netns.peer_v4)
    add_rule(helper, action="allow", protocol="tcp", destination=TRUSTED)
    cats = "192.0.2.77"  # never reached: no rule allows it
    lying = dns_server(netns.peer, netns.peer_v4, {"cats.example.test": cats},
                       riding_along={TRUSTED: netns.peer_v4})  # fmt: skip
    with lying, recorder(netns.peer, (netns.peer_v4,), PORT) as servers:
        # The question's own answer is learnt (and, no rule allowing it, refused)...
        assert connect(netns, "cats.example.test", f"--resolver={netns.peer_v4}") == "refused"
        assert helper.call(lambda h: h.dns.names_for(cats)) == ("cats.example.test",)
        # ...the record for another name that rode along is not.
        assert helper.call(lambda h: h.dns.names_for(netns.peer_v4)) == ()
        assert connect(netns, netns.peer_v4) == "refused"
    assert servers.tcp_accepts == 0
