"""`netwardenctl`: the helper's D-Bus API from a terminal (see docs/cli.md).

`main` builds the parser and dispatches, `bus` makes the calls and names the errors,
the subcommands live in a module per subject (`rules`, `prompts`, `settings`,
`history`, `blocklists`, `monitor`), `output` prints tables and JSON,
`opensnitch` converts OpenSnitch rule files (pure), `completion` writes shell completion.
"""
