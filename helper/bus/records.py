"""What each thing looks like on the bus: the a{sv} fields of rules, prompts, settings,
flows, alerts and blocklist subscriptions (plain dicts; `dictionary` types them, leaving
out None), and hit counts. The D-Bus API's documentation (docs/dbus-api.md) lists the
same fields.
"""

from dataclasses import fields
from typing import Any

import dbus

from netwarden_common.dbus_values import dictionary
from netwarden_common.rules import RULE_FIELDS, Rule
from netwarden_helper.blocklists.subscriptions import Blocklist
from netwarden_helper.packet_path.held_flows import Prompt
from netwarden_helper.pinning.alerts import Alert
from netwarden_helper.policy.public_suffix import registrable_domain
from netwarden_helper.policy.settings import Settings
from netwarden_helper.records.accounting import TrackedFlow
from netwarden_helper.records.flows import FlowRecord


def rule_record(rule: Rule, source: str = "") -> dict[str, Any]:
    """A rule as its a{sv} fields (None fields left out), with the administrator's file
    it comes from as `source` ("" for the user's rules)."""
    return {**{name: getattr(rule, name) for name in RULE_FIELDS}, "source": source}


def prompt_record(prompt: Prompt) -> dict[str, Any]:
    """A prompt as the app shows it."""
    flow, process = prompt.flow, prompt.process
    return {
        "id": prompt.id,
        "reason": prompt.reason,
        "created": prompt.created,
        "deadline": prompt.deadline,
        "exe": flow.exe,
        "sha256": flow.sha256,
        "uid": flow.uid,
        "destination": flow.dst,
        "hosts": list(flow.hosts),
        "domain": registrable_domain(flow.hosts[0]) if flow.hosts else None,  # "this domain"
        "port": flow.dport,
        "protocol": flow.protocol,
        "unit": flow.unit,
        "flatpak": flow.flatpak,
        "script": flow.script,
        "script_sha256": flow.script_sha256,
        "forwarded_from": flow.forwarded_from,
        "pid": process.pid if process else None,
        "user": process.user if process else None,
        "cmdline": list(process.cmdline) if process else [],
        "exe_deleted": process.exe_deleted if process else False,
        "parents": [f"{pid} {exe}" for pid, exe in process.parents] if process else [],
        "pinned_rule": prompt.pinned_rule.id if prompt.pinned_rule else None,
        "gave_up": prompt.gave_up,
    }


def settings_record(settings: Settings) -> dbus.Dictionary:
    return dictionary({f.name: getattr(settings, f.name) for f in fields(settings)})


def flow_record(record: FlowRecord) -> dict[str, Any]:
    """A decided flow as its a{sv} fields."""
    program = record.program
    return {
        "id": record.id,
        "time": record.time,
        "exe": program.exe,
        "sha256": program.sha256,
        "unit": program.unit,
        "flatpak": program.flatpak,
        "uid": program.uid,
        "script": program.script,
        "forwarded_from": program.forwarded_from,
        "destination": record.destination,
        "host": record.host,
        "port": record.port,
        "protocol": record.protocol,
        "verdict": record.verdict,
        "decided_by": record.decided_by,
        "rule_id": record.rule_id,
    }


def live_record(tracked: TrackedFlow) -> dict[str, Any]:
    return {**flow_record(tracked.record), "bytes_out": tracked.bytes_out,
            "bytes_in": tracked.bytes_in}  # fmt: skip


def alert_record(alert: Alert) -> dict[str, Any]:
    """An alert as its a{sv} fields."""
    facts = alert.facts
    return {
        "id": alert.id,
        "created": alert.created,
        "kind": alert.kind,
        "exe": alert.exe,
        "pid": alert.pid,
        "uid": alert.uid,
        "old_sha256": alert.old_sha256,
        "new_sha256": alert.new_sha256,
        "changed_at": facts.changed_at,
        "modified_at": facts.modified_at,
        "size": facts.size,
        "owner": facts.owner,
        "package": facts.package,
        "verified": facts.verified,
        "rules": list(alert.rules),
        "state": alert.state,
        "resolved_at": alert.resolved_at,
    }


def hit_counts(totals: dict[int, tuple[int, float]]) -> dbus.Array:
    """{id: (hits, last hit)} as a RuleHitsChanged / BlocklistHitsChanged argument."""
    counts = [(key, hits, last) for key, (hits, last) in totals.items()]
    return dbus.Array(counts, signature="(txd)")


def blocklist_record(blocklist: Blocklist, hits: tuple[int, float | None]) -> dict[str, Any]:
    """A subscription as its a{sv} fields (None left out by the caller), with `hits`: how
    many flows it blocked and when it last did."""
    return {
        "id": blocklist.id,
        "source": blocklist.source,
        "name": blocklist.name,
        "enabled": blocklist.enabled,
        "created": blocklist.created,
        "checked_at": blocklist.checked_at,
        "updated_at": blocklist.updated_at,
        "domains": blocklist.domains,
        "networks": blocklist.networks,
        "format": blocklist.format,
        "accepted": blocklist.accepted,
        "ignored": dict(blocklist.ignored),
        "rejected": blocklist.rejected,
        "skipped": blocklist.skipped,
        "error": blocklist.error,
        "hits": hits[0],
        "last_hit": hits[1],
    }
