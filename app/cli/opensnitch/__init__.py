"""OpenSnitch rule files converted to Netwarden rules (`netwardenctl import-opensnitch`).

An OpenSnitch rules folder holds one JSON rule per file: `name`, `enabled`, `precedence`,
`action` (allow, deny, reject), `duration` (always, until restart, once, or a Go duration
like 1h) and one `operator` {`type`: simple, regexp, network, range, list or lists;
`operand`; `data`; `sensitive`; `list`: the operators of a list, all of which must
match}. The modules by job: `reading` (files, list folders, network aliases), `regexps`
(Go regular expressions as alternatives), `destinations` and `programs` (values, globs
and sets), `operators` (one operator), `convert` (rules, and the allow rules held back
when a deny rule cannot convert), `report` (the command). The mapping is documented in
docs/cli.md, "OpenSnitch import".
"""

from netwarden.cli.opensnitch.convert import (
    Conversion,
    Converted,
    Looser,
    Skipped,
    convert_documents,
    convert_folder,
    convert_rule,
)

__all__ = [
    "Conversion",
    "Converted",
    "Looser",
    "Skipped",
    "convert_documents",
    "convert_folder",
    "convert_rule",
]
