"""What the records are made of: a decided flow, its program, and bytes moved. Pure."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Program:
    """Who made a flow: the identity the rules match on."""

    exe: str
    sha256: str
    unit: str
    flatpak: str
    uid: int
    script: str = ""  # the script an interpreter runs
    forwarded_from: str = ""  # routed through this host: "<interface> <source address>"


@dataclass(frozen=True)
class FlowRecord:
    """One decided flow, as written to the history."""

    id: int
    time: float
    program: Program
    destination: str
    host: str
    port: int
    protocol: str
    verdict: str  # allow, deny
    decided_by: str  # rule, answer, default, timeout, no_agent, shutdown, pin_mismatch
    rule_id: int | None = None


@dataclass(frozen=True)
class BytesSample:
    """Bytes a flow moved since the last sample, counted at `time`."""

    flow_id: int
    program: Program
    host: str
    time: float
    bytes_out: int
    bytes_in: int
