"""Netwarden's netfilter rules: queue the first packet of each new outbound flow.

Two backends behind one interface. nftables (own `inet netwarden` table) where the
kernel has the `queue` expression; iptables/ip6tables (own chains in `mangle` and
`filter`) otherwise. `choose_backend()` tries nftables with a dry run (`nft -c`) and falls
back. Both:

- queue TCP SYN (without ACK), new UDP, ICMP/ICMPv6 echo requests and new flows of every
  other protocol (SCTP, ...) leaving this host, loopback included, to `flow_queue`; and
  anything else that belongs to no connection the kernel knows (conntrack state new or
  invalid: a TCP segment without SYN from a raw socket, an echo reply nobody asked for),
  so nothing leaves undecided (the SYN rule stays for a SYN that reuses a tuple in
  TIME_WAIT, which conntrack does not call new);
- queue DNS queries leaving (UDP and TCP destination port 53, in the raw table / at raw
  priority: their verdict there does not spare them the flow rules that follow) and the
  answers coming in on those conversations only (source port 53, conntrack state
  established: nothing unsolicited) to `dns_queue`, always with bypass (names are a
  convenience, never a reason to block);
- queue the same kinds of packet routed through this host (containers on a bridge, VMs,
  a shared connection: the forward hook) to `flow_queue` too (the packet path tells them
  apart by their hook), and the DNS queries and answers they carry to `dns_queue`;
- skip packets carrying the run's own mark (the helper's own sockets) or its decided mark
  (a TCP connect the kernel verdict cache allowed: `data_plane/`, docs/kernel-verdicts.md);
- reject packets that the helper gave the run's reject mark (TCP reset, ICMP port
  unreachable), in filter-output and filter-forward chains after the queue;
- fail open (queue bypass: the network keeps working while nobody reads the queue)
  unless `fail_closed`.

`install` first removes any earlier set (a crash leaves one), so rules never pile up;
`remove` deletes exactly Netwarden's own chains and the jumps to them.
"""

import logging
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger(__name__)

_MARK_PREFIX = 0x4E570000  # "NW": the high half says whose marks these are
_LOW_MARKS = 0x3FFF  # the low half's values drawn from: 1 .. 0x3FFF
_SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
REMOVE_ATTEMPTS = 3


class NetfilterError(Exception):
    """A netfilter command failed; the message has its output."""


@dataclass(frozen=True)
class Marks:
    """The packet marks of one run, drawn at start: no program can set them in advance
    (only root can set a mark at all; what root can do is in docs/threat-model.md)."""

    reject: int  # a verdict's "deny": rejected by Netwarden's filter rule
    own: int  # the helper's own sockets (blocklist downloads): never queued
    decided: int  # sockets the kernel verdict cache allowed at connect: not queued

    @classmethod
    def drawn(cls) -> "Marks":
        # 0x4000 and 0x8000 stay clear: Kubernetes' rules match them alone (masquerade,
        # drop), and the decided mark rides on ordinary programs' packets
        low = secrets.randbelow(_LOW_MARKS - 2) + 1
        return cls(_MARK_PREFIX | low, _MARK_PREFIX | (low + 1), _MARK_PREFIX | (low + 2))


@dataclass(frozen=True)
class Interception:
    """What to install: queue numbers, the failure mode, the marks."""

    flow_queue: int = 7700
    dns_queue: int = 7701
    fail_closed: bool = False
    marks: Marks = field(default_factory=Marks.drawn)


class Backend(Protocol):
    name: str

    def install(self, interception: Interception) -> None: ...

    def remove(self) -> None: ...


def _completed(argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess | None:
    """A netfilter command run to its end (None: not installed)."""
    # D-Bus activation starts the helper with a bare environment: look in sbin too.
    program = shutil.which(argv[0], path=_SYSTEM_PATH)
    if program is None:
        return None
    return subprocess.run([program, *argv[1:]], input=stdin, capture_output=True, text=True)


def _output(argv: list[str]) -> str:
    """What a netfilter command prints ("" if it cannot run)."""
    result = _completed(argv)
    return result.stdout if result is not None else ""


def _run(argv: list[str], stdin: str | None = None, check: bool = True) -> bool:
    result = _completed(argv, stdin)
    if result is None:
        if check:
            raise NetfilterError(f"{argv[0]} is not installed")
        return False
    if check and result.returncode != 0:
        raise NetfilterError(f"{' '.join(argv)}: {result.stderr.strip()}")
    return result.returncode == 0


class IptablesBackend:
    """Chains NETWARDEN_QUERIES (raw), NETWARDEN_OUT, NETWARDEN_DNS, NETWARDEN_ROUTED,
    NETWARDEN_FWD (mangle) and NETWARDEN_REJECT (filter).

    A queue verdict ends the packet's way through its table, so the forwarded DNS
    messages are queued in mangle PREROUTING (NETWARDEN_ROUTED: not addressed to this
    host) and the forwarded flows in mangle FORWARD."""

    name = "iptables"
    _JUMPS = (
        ("raw", "OUTPUT", "NETWARDEN_QUERIES"),
        ("mangle", "OUTPUT", "NETWARDEN_OUT"),
        ("mangle", "INPUT", "NETWARDEN_DNS"),
        ("mangle", "PREROUTING", "NETWARDEN_ROUTED"),
        ("mangle", "FORWARD", "NETWARDEN_FWD"),
        ("filter", "OUTPUT", "NETWARDEN_REJECT"),
        ("filter", "FORWARD", "NETWARDEN_REJECT"),
    )

    def install(self, interception: Interception) -> None:
        self.remove()
        for command, version in (("iptables", 4), ("ip6tables", 6)):
            _run([f"{command}-restore", "--noflush"], self._ruleset(interception, version))

    def remove(self) -> None:
        # Checked after, and tried again: another ruleset change at the same moment (an
        # administrator's, another tool's) can make one step fail, leaving a jump behind.
        for _attempt in range(REMOVE_ATTEMPTS):
            for command in ("iptables", "ip6tables"):
                for table, parent, chain in self._JUMPS:
                    while _run([command, "-w", "-t", table, "-D", parent, "-j", chain],
                               check=False):  # fmt: skip
                        pass
                for table, _parent, chain in self._JUMPS:
                    _run([command, "-w", "-t", table, "-F", chain], check=False)
                    _run([command, "-w", "-t", table, "-X", chain], check=False)
            if not self._left():
                return
            time.sleep(0.1)
        log.error("some of Netwarden's iptables rules could not be removed")

    def _left(self) -> bool:
        """Whether any of Netwarden's chains is still there."""
        tables = sorted({table for table, _parent, _chain in self._JUMPS})
        return any(
            "NETWARDEN_" in _output([command, "-w", "-t", table, "-S"])
            for command in ("iptables", "ip6tables")
            for table in tables
        )

    @staticmethod
    def _ruleset(interception: Interception, version: int) -> str:
        bypass = "" if interception.fail_closed else " --queue-bypass"
        queue = f"-j NFQUEUE --queue-num {interception.flow_queue}{bypass}"
        dns = f"-j NFQUEUE --queue-num {interception.dns_queue} --queue-bypass"
        icmp = "-p icmp --icmp-type echo-request" if version == 4 else (
            "-p ipv6-icmp --icmpv6-type echo-request")  # fmt: skip
        unreachable = "icmp-port-unreachable" if version == 4 else "icmp6-port-unreachable"
        new = "-m conntrack --ctstate NEW"
        unknown = "-m conntrack --ctstate NEW,INVALID"
        marks = interception.marks
        answer = "-m conntrack --ctstate ESTABLISHED"
        return "\n".join(
            [
                "*raw",
                ":NETWARDEN_QUERIES - [0:0]",
                f"-A NETWARDEN_QUERIES -p udp --dport 53 {dns}",
                f"-A NETWARDEN_QUERIES -p tcp --dport 53 {dns}",
                "-I OUTPUT 1 -j NETWARDEN_QUERIES",
                "COMMIT",
                "*mangle",
                ":NETWARDEN_OUT - [0:0]",
                ":NETWARDEN_DNS - [0:0]",
                ":NETWARDEN_ROUTED - [0:0]",
                ":NETWARDEN_FWD - [0:0]",
                f"-A NETWARDEN_OUT -m mark --mark {marks.own:#x} -j RETURN",
                f"-A NETWARDEN_OUT -m mark --mark {marks.decided:#x} -j RETURN",
                *(
                    f"-A {chain} {match} {queue}"
                    for chain in ("NETWARDEN_OUT", "NETWARDEN_FWD")
                    for match in ("-p tcp --syn", f"{icmp} {new}", unknown)
                ),
                f"-A NETWARDEN_DNS -p udp --sport 53 {answer} {dns}",
                f"-A NETWARDEN_DNS -p tcp --sport 53 {answer} {dns}",
                "-A NETWARDEN_ROUTED -m addrtype --dst-type LOCAL -j RETURN",
                *(
                    f"-A NETWARDEN_ROUTED {match} {dns}"
                    for match in (
                        "-p udp --dport 53",
                        "-p tcp --dport 53",
                        f"-p udp --sport 53 {answer}",
                        f"-p tcp --sport 53 {answer}",
                    )
                ),
                "-I OUTPUT 1 -j NETWARDEN_OUT",
                "-I INPUT 1 -j NETWARDEN_DNS",
                "-I PREROUTING 1 -j NETWARDEN_ROUTED",
                "-I FORWARD 1 -j NETWARDEN_FWD",
                "COMMIT",
                "*filter",
                ":NETWARDEN_REJECT - [0:0]",
                f"-A NETWARDEN_REJECT -m mark --mark {marks.reject:#x} -p tcp "
                "-j REJECT --reject-with tcp-reset",
                f"-A NETWARDEN_REJECT -m mark --mark {marks.reject:#x} -j REJECT "
                f"--reject-with {unreachable}",
                "-I OUTPUT 1 -j NETWARDEN_REJECT",
                "-I FORWARD 1 -j NETWARDEN_REJECT",
                "COMMIT",
                "",
            ]
        )


class NftablesBackend:
    """One table, `inet netwarden`, replaced atomically."""

    name = "nftables"
    TABLE = "inet netwarden"

    def install(self, interception: Interception) -> None:
        _run(["nft", "-f", "-"], self.ruleset(interception))

    def remove(self) -> None:
        _run(["nft", "delete", "table", *self.TABLE.split()], check=False)

    def supported(self, interception: Interception) -> bool:
        """Whether this kernel accepts the ruleset (a dry run: nothing is changed)."""
        return _run(["nft", "-c", "-f", "-"], self.ruleset(interception), check=False)

    def ruleset(self, interception: Interception) -> str:
        """The nft script that replaces the netwarden table with a fresh one."""
        bypass = "" if interception.fail_closed else " bypass"
        queue = f"queue num {interception.flow_queue}{bypass}"
        dns = f"queue num {interception.dns_queue} bypass"
        marks = interception.marks
        new_flows = "\n        ".join((
            f"tcp flags & (fin | syn | rst | ack) == syn {queue}",
            f"icmp type echo-request ct state new {queue}",
            f"icmpv6 type echo-request ct state new {queue}",
            f"ct state {{ new, invalid }} {queue}",
        ))  # fmt: skip
        rejects = "\n        ".join((
            f"meta mark {marks.reject:#x} meta l4proto tcp reject with tcp reset",
            f"meta mark {marks.reject:#x} reject",
        ))  # fmt: skip
        # Declaring the table first makes the delete succeed when there is none.
        return f"""table {self.TABLE}
delete table {self.TABLE}
table {self.TABLE} {{
    chain flows {{
        type filter hook output priority mangle; policy accept;
        meta mark {marks.own:#x} return
        meta mark {marks.decided:#x} return
        {new_flows}
    }}
    chain forwarded {{
        type filter hook forward priority mangle; policy accept;
        {new_flows}
    }}
    chain forwarded_dns {{
        type filter hook forward priority mangle - 10; policy accept;
        udp dport 53 {dns}
        tcp dport 53 {dns}
        ct state established udp sport 53 {dns}
        ct state established tcp sport 53 {dns}
    }}
    chain queries {{
        type filter hook output priority raw; policy accept;
        udp dport 53 {dns}
        tcp dport 53 {dns}
    }}
    chain dns {{
        type filter hook input priority mangle; policy accept;
        ct state established udp sport 53 {dns}
        ct state established tcp sport 53 {dns}
    }}
    chain verdicts {{
        type filter hook output priority filter; policy accept;
        {rejects}
    }}
    chain forwarded_verdicts {{
        type filter hook forward priority filter; policy accept;
        {rejects}
    }}
}}
"""


def choose_backend(interception: Interception) -> Backend:
    """nftables if this kernel can queue from it, else iptables; logs the choice."""
    nftables = NftablesBackend()
    if nftables.supported(interception):
        log.info("netfilter backend: nftables (table %s)", NftablesBackend.TABLE)
        return nftables
    log.info("netfilter backend: iptables (the kernel's nftables cannot queue packets)")
    return IptablesBackend()


def remove_all() -> None:
    """Remove Netwarden's rules of both backends (a crash may have left either)."""
    IptablesBackend().remove()
    NftablesBackend().remove()
