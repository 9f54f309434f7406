"""Netwarden's rules file format (JSON), for export and import. Pure: no I/O.

    {"format": "netwarden-rules", "version": 1,
     "rules": [{"action": "allow", "exe": "/usr/bin/curl", ..., "hits": 3}, ...]}

Every rule field is written (None fields left out), including the counters `hits`,
`last_hit` and `created`, so an export imported again gives the same rules. Reading
validates every rule before returning any; an error names the rule and the field.
"""

import json
from dataclasses import replace

from netwarden_common.errors import BadValue
from netwarden_common.rules import RULE_FIELDS, Rule, RuleError, validate

FORMAT = "netwarden-rules"
VERSION = 1
MAX_BYTES = 16 << 20
COUNTERS = {"hits": (int,), "last_hit": (int, float), "created": (int, float)}


class RuleFileError(BadValue):
    """The file cannot be imported; the message says where and why."""


def dump_rules(rules: list[Rule]) -> str:
    """The rules as a rules file."""
    records = [
        {name: getattr(rule, name) for name in RULE_FIELDS
         if name != "id" and getattr(rule, name) is not None}
        for rule in rules
    ]  # fmt: skip
    return json.dumps({"format": FORMAT, "version": VERSION, "rules": records}, indent=2)


def load_rules(text: str) -> list[Rule]:
    """The rules of a rules file, all validated, or `RuleFileError`."""
    if len(text) > MAX_BYTES:
        raise RuleFileError(f"the file is larger than {MAX_BYTES >> 20} MiB")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RuleFileError(f"not JSON: {exc}") from None
    except RecursionError:
        raise RuleFileError("not a rules file: nested too deeply") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise RuleFileError(f'not a Netwarden rules file (no "format": "{FORMAT}")')
    if document.get("version") != VERSION:
        raise RuleFileError(f"version {document.get('version')!r} is not {VERSION}")
    records = document.get("rules")
    if not isinstance(records, list):
        raise RuleFileError('"rules" must be a list')
    return [_rule(index, record) for index, record in enumerate(records)]


def _rule(index: int, record: object) -> Rule:
    if not isinstance(record, dict):
        raise RuleFileError(f"rules[{index}]: must be an object")
    values = dict(record)
    counters = {name: values.pop(name) for name in COUNTERS if name in values}
    for name, value in counters.items():
        if not isinstance(value, COUNTERS[name]) or isinstance(value, bool) or value < 0:
            raise RuleFileError(f"rules[{index}].{name}: must be a number, not negative")
    try:
        return replace(validate(values), **counters)
    except RuleError as exc:
        raise RuleFileError(f"rules[{index}].{exc}") from None
