"""A person's answer to a prompt, and the rule it makes. Pure: no I/O but the Public Suffix
List's, read once (`public_suffix.py`: "this domain" is the host's registrable domain).

Choices: allow or deny x this host / this domain / this port / any destination x once /
until the program quits / for an hour / forever. "Once" makes no rule: it decides the
held connections of that prompt only. A rule made from an answer names the program (its
path, pinned to the running binary's sha256 unless the person chose any version) and
its user, so one user's answer never decides for another's programs. A rule made for a
forwarded flow names the interface and the address it came from instead.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from netwarden_common.errors import BadValue
from netwarden_common.rules import KERNEL, Rule, validate
from netwarden_helper.policy.engine import Flow
from netwarden_helper.policy.public_suffix import registrable_domain

SCOPES = ("host", "domain", "port", "any")
LIFETIMES = ("once", "until_quit", "hour", "forever")
HOUR_S = 3600.0


class AnswerError(BadValue):
    """The answer cannot be applied to this prompt; the message says why."""


@dataclass(frozen=True)
class Answer:
    action: str  # "allow" or "deny"
    scope: str = "host"
    lifetime: str = "once"
    pin: bool = True  # pin the binary's hash; False: any version of the program

    @classmethod
    def of(cls, chosen: Mapping[str, Any]) -> "Answer":
        """An answer from a caller's option dictionary (action required)."""
        if "action" not in chosen:
            raise AnswerError("action must be allow or deny")
        return cls(**chosen)

    def __post_init__(self) -> None:
        if self.action not in ("allow", "deny"):
            raise AnswerError("action must be allow or deny")
        if self.scope not in SCOPES:
            raise AnswerError(f"scope must be one of {', '.join(SCOPES)}")
        if self.lifetime not in LIFETIMES:
            raise AnswerError(f"lifetime must be one of {', '.join(LIFETIMES)}")


def rule_for(answer: Answer, flow: Flow, pid: int, pid_start: int, now: float) -> Rule | None:
    """The rule `answer` makes for `flow` (None for "once")."""
    if answer.lifetime == "once":
        return None
    values: dict = {"action": answer.action, "protocol": flow.protocol}
    if flow.forwarded_from:
        if answer.lifetime == "until_quit":
            raise AnswerError("a forwarded connection has no program here to quit")
        values["forwarded_from"] = flow.forwarded_from
    elif not flow.exe:
        raise AnswerError("the program is unknown: only a once-only answer is possible")
    elif flow.exe == KERNEL and answer.lifetime == "until_quit":
        raise AnswerError("the kernel does not quit: choose another lifetime")
    else:
        values["exe"] = flow.exe
    if flow.uid >= 0:
        values["uid"] = flow.uid
    if flow.foreign_root and not flow.sha256:
        raise AnswerError(
            "a program in another mount namespace (a container) is matched by its binary's "
            "hash, not known here: only once is possible"
        )
    if (answer.pin or flow.foreign_root) and flow.sha256:  # a container's paths prove nothing
        values["sha256"] = flow.sha256
    if flow.script:  # "allow python3" for this script only
        values["script"] = flow.script
    if answer.scope == "host":
        values["destination"] = flow.hosts[0] if flow.hosts else flow.dst
        values["ports"] = str(flow.dport) if flow.dport else ""
    elif answer.scope == "domain":
        if not flow.hosts:
            raise AnswerError("no host name is known for this address: choose host or port")
        domain = registrable_domain(flow.hosts[0])
        if domain is None:
            raise AnswerError(f"{flow.hosts[0]} is a public suffix, not a domain: choose host")
        values["destination"] = "*." + domain
    elif answer.scope == "port":
        values["ports"] = str(flow.dport) if flow.dport else ""
    if answer.lifetime == "until_quit":
        values.update(lifetime="until_quit", pid=pid, pid_start=pid_start)
    elif answer.lifetime == "hour":
        values.update(lifetime="until", expires_at=now + HOUR_S)
    return validate(values)
