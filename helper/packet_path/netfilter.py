"""Netwarden's netfilter rules: queue the first packet of each new outbound flow.

Two backends behind one interface. nftables (own `inet netwarden` table) where the
kernel has the `queue` expression; iptables/ip6tables (own chains in `mangle` and
`filter`) otherwise. `choose_backend()` tries nftables with a dry run (`nft -c`) and falls
back. Both:

- queue TCP SYN (without ACK), new UDP, ICMP/ICMPv6 echo requests and new flows of every
  other protocol (SCTP, ...) leaving this host, loopback included, to `flow_queue`;
- queue inbound DNS answers (UDP and TCP source port 53) to `dns_queue`, always with
  bypass (names are a convenience, never a reason to block);
- skip packets carrying `OWN_MARK` (the helper's own sockets);
- reject packets that the helper marked `REJECT_MARK` (TCP reset, ICMP port unreachable)
  and drop those marked `DROP_MARK`, in a filter-output chain after the queue;
- fail open (queue bypass: the network keeps working while nobody reads the queue)
  unless `fail_closed`.

`install` first removes any earlier set (a crash leaves one), so rules never pile up;
`remove` deletes exactly Netwarden's own chains and the jumps to them.
"""

import logging
import shutil
import subprocess
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

REJECT_MARK = 0x4E570001
DROP_MARK = 0x4E570002
OWN_MARK = 0x4E570003
_SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


class NetfilterError(Exception):
    """A netfilter command failed; the message has its output."""


@dataclass(frozen=True)
class Interception:
    """What to install: queue numbers and the failure mode."""

    flow_queue: int = 7700
    dns_queue: int = 7701
    fail_closed: bool = False


class Backend(Protocol):
    name: str

    def install(self, interception: Interception) -> None: ...

    def remove(self) -> None: ...


def _run(argv: list[str], stdin: str | None = None, check: bool = True) -> bool:
    # D-Bus activation starts the helper with a bare environment: look in sbin too.
    program = shutil.which(argv[0], path=_SYSTEM_PATH)
    if program is None:
        if check:
            raise NetfilterError(f"{argv[0]} is not installed")
        return False
    result = subprocess.run([program, *argv[1:]], input=stdin, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise NetfilterError(f"{' '.join(argv)}: {result.stderr.strip()}")
    return result.returncode == 0


class IptablesBackend:
    """Chains NETWARDEN_OUT, NETWARDEN_DNS (mangle) and NETWARDEN_REJECT (filter)."""

    name = "iptables"
    _JUMPS = (("mangle", "OUTPUT", "NETWARDEN_OUT"), ("mangle", "INPUT", "NETWARDEN_DNS"),
              ("filter", "OUTPUT", "NETWARDEN_REJECT"))  # fmt: skip

    def install(self, interception: Interception) -> None:
        self.remove()
        for command, version in (("iptables", 4), ("ip6tables", 6)):
            _run([f"{command}-restore", "--noflush"], self._ruleset(interception, version))

    def remove(self) -> None:
        for command in ("iptables", "ip6tables"):
            for table, parent, chain in self._JUMPS:
                while _run([command, "-w", "-t", table, "-D", parent, "-j", chain], check=False):
                    pass
                _run([command, "-w", "-t", table, "-F", chain], check=False)
                _run([command, "-w", "-t", table, "-X", chain], check=False)

    @staticmethod
    def _ruleset(interception: Interception, version: int) -> str:
        bypass = "" if interception.fail_closed else " --queue-bypass"
        queue = f"-j NFQUEUE --queue-num {interception.flow_queue}{bypass}"
        dns = f"-j NFQUEUE --queue-num {interception.dns_queue} --queue-bypass"
        icmp = "-p icmp --icmp-type echo-request" if version == 4 else (
            "-p ipv6-icmp --icmpv6-type echo-request")  # fmt: skip
        icmp_name = "icmp" if version == 4 else "ipv6-icmp"
        unreachable = "icmp-port-unreachable" if version == 4 else "icmp6-port-unreachable"
        new = "-m conntrack --ctstate NEW"
        return "\n".join(
            [
                "*mangle",
                ":NETWARDEN_OUT - [0:0]",
                ":NETWARDEN_DNS - [0:0]",
                f"-A NETWARDEN_OUT -m mark --mark {OWN_MARK:#x} -j RETURN",
                f"-A NETWARDEN_OUT -p tcp --syn {queue}",
                "-A NETWARDEN_OUT -p tcp -j RETURN",
                f"-A NETWARDEN_OUT -p udp {new} {queue}",
                "-A NETWARDEN_OUT -p udp -j RETURN",
                f"-A NETWARDEN_OUT {icmp} {new} {queue}",
                f"-A NETWARDEN_OUT -p {icmp_name} -j RETURN",
                f"-A NETWARDEN_OUT {new} {queue}",
                f"-A NETWARDEN_DNS -p udp --sport 53 {dns}",
                f"-A NETWARDEN_DNS -p tcp --sport 53 {dns}",
                "-I OUTPUT 1 -j NETWARDEN_OUT",
                "-I INPUT 1 -j NETWARDEN_DNS",
                "COMMIT",
                "*filter",
                ":NETWARDEN_REJECT - [0:0]",
                f"-A NETWARDEN_REJECT -m mark --mark {DROP_MARK:#x} -j DROP",
                f"-A NETWARDEN_REJECT -m mark --mark {REJECT_MARK:#x} -p tcp "
                "-j REJECT --reject-with tcp-reset",
                f"-A NETWARDEN_REJECT -m mark --mark {REJECT_MARK:#x} -j REJECT "
                f"--reject-with {unreachable}",
                "-I OUTPUT 1 -j NETWARDEN_REJECT",
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
        # Declaring the table first makes the delete succeed when there is none.
        return f"""table {self.TABLE}
delete table {self.TABLE}
table {self.TABLE} {{
    chain flows {{
        type filter hook output priority mangle; policy accept;
        meta mark {OWN_MARK:#x} return
        tcp flags & (fin | syn | rst | ack) == syn {queue}
        meta l4proto tcp return
        meta l4proto udp ct state new {queue}
        meta l4proto udp return
        icmp type echo-request ct state new {queue}
        icmpv6 type echo-request ct state new {queue}
        meta l4proto {{ icmp, ipv6-icmp }} return
        ct state new {queue}
    }}
    chain dns {{
        type filter hook input priority mangle; policy accept;
        udp sport 53 {dns}
        tcp sport 53 {dns}
    }}
    chain verdicts {{
        type filter hook output priority filter; policy accept;
        meta mark {DROP_MARK:#x} drop
        meta mark {REJECT_MARK:#x} meta l4proto tcp reject with tcp reset
        meta mark {REJECT_MARK:#x} reject
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
