"""`netwardenctl`: the parser and the dispatch. Subcommands are in the modules named
after their subject (`rules`, `prompts`, `settings`, `history`, `blocklists`, `monitor`).

    netwardenctl [--json] COMMAND ...     (netwardenctl COMMAND --help for each)

Exit codes: 0 done, 1 refused argument or helper failure, 2 usage, 3 not authorized,
4 helper not running, 5 no such rule, prompt or alert (docs/cli.md).
"""

import argparse
import sys
from collections.abc import Callable, Sequence

from netwarden import __version__
from netwarden.cli import (
    blocklists,
    completion,
    history,
    monitor,
    profiles,
    prompts,
    rules,
    settings,
    silent,
)
from netwarden.cli.bus import CliError, Helper, connect
from netwarden.cli.opensnitch.report import import_opensnitch

PROG = "netwardenctl"
EPILOG = (
    "exit codes: 0 done, 1 refused or failed, 2 usage, 3 not authorized, "
    "4 helper not running, 5 no such rule, prompt or alert"
)
RULE_ACTIONS = ("allow", "deny")
PROTOCOLS = ("tcp", "udp", "icmp", "icmpv6", "sctp", "udplite")


class _Parsers:
    """Adds subcommands that all take --json (also accepted before the command)."""

    def __init__(self, group: argparse._SubParsersAction) -> None:
        self.group = group

    def add(
        self, name: str, help_text: str, run: Callable | None = None
    ) -> argparse.ArgumentParser:
        parser = self.group.add_parser(name, help=help_text, description=help_text, epilog=EPILOG)
        parser.add_argument(
            "--json",
            action="store_true",
            default=argparse.SUPPRESS,
            help="print JSON (one document, or one line per event)",
        )
        if run is not None:
            parser.set_defaults(run=run)
        return parser

    def with_actions(self, name: str, help_text: str, run: Callable) -> "_Parsers":
        """A command whose ACTION is optional (without one it runs `run`)."""
        parser = self.add(name, help_text, run)
        return _Parsers(
            parser.add_subparsers(dest=f"{name}_command", metavar="ACTION", required=False)
        )


def _rule_options(parser: argparse.ArgumentParser, adding: bool) -> None:
    fields = parser.add_argument_group("rule fields" + ("" if adding else " to change"))
    fields.add_argument("--action", choices=RULE_ACTIONS, required=adding, help="allow or deny")
    fields.add_argument(
        "--exe",
        metavar="PATH",
        help="program path or glob ('' for any; 'kernel': what the kernel sends by itself)",
    )
    fields.add_argument("--sha256", metavar="HEX", help="pin the program's binary hash")
    fields.add_argument("--script", metavar="PATH", help="the script the interpreter (--exe) runs")
    fields.add_argument("--unit", metavar="UNIT", help="systemd unit, e.g. cups.service")
    fields.add_argument("--flatpak", metavar="APP_ID", help="flatpak application id")
    fields.add_argument(
        "--forwarded-from",
        metavar="SOURCE",
        help="traffic routed through this host (containers, VMs): '*', an interface, or "
        "'INTERFACE ADDRESS'",
    )
    fields.add_argument("--uid", metavar="UID", help="user id, 'me', or 'any' (every user)")
    fields.add_argument(
        "--destination", metavar="DEST", help="host, *.domain, IP or CIDR ('' for any)"
    )
    fields.add_argument("--ports", metavar="PORTS", help="443 or 8000-8080 ('' for any)")
    fields.add_argument("--protocol", choices=(*PROTOCOLS, "any"), help="protocol, or any")
    lifetime = fields.add_mutually_exclusive_group()
    lifetime.add_argument(
        "--until", metavar="WHEN", help="expire at a time: +30m, +2h, +1d, or 2026-05-01T12:00"
    )
    lifetime.add_argument("--forever", action="store_true", help="never expire (the default)")
    fields.add_argument("--priority", type=int, metavar="N", help="-1000..1000, higher first")
    enabled = fields.add_mutually_exclusive_group()
    enabled.add_argument("--enabled", dest="enabled", action="store_const", const=True)
    enabled.add_argument("--disabled", dest="enabled", action="store_const", const=False)
    drop = fields.add_mutually_exclusive_group()
    drop.add_argument(
        "--drop",
        dest="drop",
        action="store_const",
        const=True,
        help="deny silently instead of refusing the connection",
    )
    drop.add_argument("--no-drop", dest="drop", action="store_const", const=False)
    fields.add_argument("--note", metavar="TEXT", help="a note shown with the rule")
    fields.add_argument(
        "--profile",
        metavar="NAME",
        help="the profile the rule belongs to ('' for every profile, the default)",
    )


def object_id(text: str) -> int:
    """A rule's, prompt's, alert's or list's id: a whole number from 1 (ids are unsigned
    64-bit on the bus)."""
    if not text.isdigit() or not 1 <= int(text) < 1 << 63:
        raise argparse.ArgumentTypeError(f"{text!r} is not an id (a whole number from 1)")
    return int(text)


def _range_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    since: str,
    until: str,
    keep: bool,
    whose: str = "every user's programs",
) -> None:
    """--since, --until and --all-users (`whose`); `keep`: a subcommand's that leave its
    parent's value unless given (so filters may stand before or after the subcommand's
    name)."""
    default = argparse.SUPPRESS if keep else None
    for name, help_text in (("--since", since), ("--until", until)):
        parser.add_argument(
            name,
            type=history.when_argument,
            metavar="WHEN",
            default=default,
            help=f"{help_text}: {history.WHEN_HELP}",
        )
    _all_users_option(parser, keep, whose)


def _all_users_option(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    keep: bool = False,
    whose: str = "every user's programs",
) -> None:
    parser.add_argument(
        "--all-users",
        action="store_true",
        default=argparse.SUPPRESS if keep else False,
        help=f"{whose}, not only yours (an administrator's action; root sees everyone's anyway)",
    )


def _history_options(parser: argparse.ArgumentParser, keep: bool = False) -> None:
    default = argparse.SUPPRESS if keep else None
    filters = parser.add_argument_group("filters")
    _range_options(filters, "flows from then on", "flows before then", keep)
    filters.add_argument(
        "--program", metavar="EXE", default=default, help="one program's path, exactly"
    )
    filters.add_argument(
        "--host", metavar="HOST", default=default, help="a host name or an address, exactly"
    )
    filters.add_argument(
        "--verdict", choices=RULE_ACTIONS, default=default, help="only allowed or denied flows"
    )


def _page_options(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--limit",
        type=int,
        default=100,
        metavar="N",
        help=f"{what} per page, 1..1000 (default 100)",
    )
    parser.add_argument(
        "--page", type=_positive, default=1, metavar="N", help="which page (default 1, newest)"
    )


def _history_parsers(top: _Parsers) -> None:
    flows = top.add(
        "history",
        "decided connections, newest first (or: history export FILE)",
        history.history,
    )
    _history_options(flows)
    _page_options(flows, "flows")
    actions = _Parsers(
        flows.add_subparsers(dest="history_command", metavar="ACTION", required=False)
    )
    export = actions.add(
        "export", "write the flows that the filters pick to a file", history.history_export
    )
    export.add_argument("file", metavar="FILE", help="the file to write (replaced if it exists)")
    export.add_argument(
        "--format",
        choices=("csv", "json"),
        help="csv or json (default: json for a FILE ending in .json, else csv)",
    )
    _history_options(export, keep=True)

    top_traffic = top.add(
        "traffic",
        "the programs and hosts that moved the most bytes (or: traffic series)",
        history.traffic,
    )
    _range_options(top_traffic, "traffic from then on (default all kept)", "before then", False)
    top_traffic.add_argument(
        "--top", type=int, default=10, metavar="N", help="how many of each, 1..100 (default 10)"
    )
    series = _Parsers(
        top_traffic.add_subparsers(dest="traffic_command", metavar="ACTION", required=False)
    ).add("series", "bytes sent and received per time bucket", history.traffic_series)
    _range_options(series, "from then on (default an hour ago)", "before then", True)
    series.add_argument("--program", metavar="EXE", help="one program's path (default all)")
    series.add_argument(
        "--bucket",
        type=int,
        choices=(60, 3600, 86400),
        default=60,
        help="seconds per bucket: 60, 3600 or 86400 (default 60)",
    )

    _all_users_option(
        top.add("connections", "open connections with the bytes they moved", history.connections)
    )

    alerts = top.add(
        "alerts",
        "alerts: pinned programs whose binary changed, programs that opened a packet socket",
        history.alerts,
    )
    alerts.add_argument("--open", action="store_true", help="only the alerts still undecided")
    resolve = _Parsers(
        alerts.add_subparsers(dest="alerts_command", metavar="ACTION", required=False)
    )
    for name, help_text in (
        (
            "trust",
            "trust the new binary (re-pin the alert's rules to it), or allow the "
            "packet socket's program",
        ),
        (
            "block",
            "keep blocking: a deny rule for the new binary (for a packet socket: "
            "every connection of that binary)",
        ),
    ):
        choice = resolve.add(name, help_text, history.alerts_resolve)
        choice.add_argument("id", type=object_id, help="the alert's id (alerts)")
        choice.set_defaults(resolution=name)


def _blocklist_parsers(top: _Parsers) -> None:
    actions = top.with_actions(
        "blocklists",
        "blocklist subscriptions: host names denied for every program (below your rules)",
        blocklists.blocklists,
    )
    show = actions.add(
        "show",
        "one list: its format, and its lines accepted, ignored (by kind) and rejected",
        blocklists.blocklists_show,
    )
    show.add_argument("id", type=object_id, help="the list's id (blocklists)")
    add = actions.add(
        "add",
        "subscribe to a blocklist (hosts, domains, adblock, dnsmasq, unbound, CIDR, ...)",
        blocklists.blocklists_add,
    )
    add.add_argument(
        "source",
        metavar="SOURCE",
        help="an http(s) URL, or a file in /etc/netwarden/blocklists or "
        "/usr/share/netwarden/blocklists",
    )
    add.add_argument("--name", help="what to call it (default: the file's name)")
    add.add_argument("--disabled", action="store_true", help="subscribe, but do not block yet")
    remove = actions.add("rm", "unsubscribe (its names stop blocking)", blocklists.blocklists_rm)
    remove.add_argument("ids", type=object_id, nargs="+", metavar="ID", help="the lists' ids")
    for name, help_text in (
        ("enable", "turn lists on again (each loads, downloaded if due)"),
        ("disable", "turn lists off, keeping them: they block nothing and are not downloaded"),
    ):
        switch = actions.add(name, help_text, blocklists.blocklists_enable)
        switch.add_argument("ids", type=object_id, nargs="+", metavar="ID", help="the lists' ids")
        switch.set_defaults(enabled=name == "enable")
    actions.add(
        "update",
        "read every list again now (exit 1 if one failed; it keeps its previous names)",
        blocklists.blocklists_update,
    )


def _profile_parsers(top: _Parsers) -> None:
    actions = top.with_actions(
        "profiles",
        "named rule sets (Home, Work, ...): list them, add, rename, remove, and switch",
        profiles.profiles_list,
    )
    actions.add("list", "the profiles, the active one and the network", profiles.profiles_list)
    add = actions.add("add", "add a profile", profiles.profiles_add)
    edit = actions.add(
        "edit", "change the network that switches to a profile", profiles.profiles_edit
    )
    for parser in (add, edit):
        parser.add_argument("name", metavar="NAME", help="the profile's name (1-32 characters)")
        network = parser.add_mutually_exclusive_group()
        network.add_argument(
            "--uuid", metavar="UUID", help="switch to it on this NetworkManager connection"
        )
        network.add_argument("--ssid", metavar="SSID", help="switch to it on this Wi-Fi network")
    rename = actions.add("rename", "rename a profile (its rules follow)", profiles.profiles_rename)
    rename.add_argument("name", metavar="NAME", help="the profile's name")
    rename.add_argument("new_name", metavar="NEW_NAME", help="its new name (1-32 characters)")
    remove = actions.add("remove", "remove a profile", profiles.profiles_rm)
    remove.add_argument("name", metavar="NAME", help="the profile's name")
    remove.add_argument(
        "--with-rules",
        action="store_true",
        help="also delete its rules (without it, a profile with rules is not removed)",
    )
    use = actions.add("use", "make a profile the active one", profiles.profiles_use)
    use.add_argument("name", metavar="NAME", help="the profile's name")
    use.set_defaults(command_name="use")
    none = actions.add("none", "use no profile: only every profile's rules", profiles.profiles_use)
    none.set_defaults(command_name="none")
    switches = actions.add(
        "history",
        "the switches of the active profile, newest first: when, from, to, and why (by "
        "hand: who; or the network)",
        profiles.profiles_history,
    )
    _range_options(switches, "switches from then on", "before then", keep=False,
                   whose="name who made every switch")  # fmt: skip
    _page_options(switches, "switches")


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number from 1")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; `completion` and the docs are generated from it."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        epilog=EPILOG,
        description="Control Netwarden, the per-process outbound firewall, from a terminal.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                        help="print Netwarden's version (the app's and the helper's)")  # fmt: skip
    top = _Parsers(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))

    top.add("status", "the helper's version, uptime, backend and counters", settings.status)

    rule_commands = _Parsers(
        top.add("rules", "list, add, change and delete rules").add_subparsers(
            dest="rules_command", metavar="ACTION", required=True
        )
    )
    rule_commands.add("list", "every rule in precedence order", rules.rules_list)
    show = rule_commands.add(
        "show", "one rule, every destination and port on a line", rules.rules_show
    )
    show.add_argument("id", type=object_id, help="the rule's id (rules list)")
    _rule_options(rule_commands.add("add", "add a rule", rules.rules_add), adding=True)
    edit = rule_commands.add(
        "edit", "change some fields of a rule (the others stay)", rules.rules_edit
    )
    edit.add_argument("id", type=object_id, help="the rule's id (rules list)")
    _rule_options(edit, adding=False)
    remove = rule_commands.add("rm", "delete rules", rules.rules_rm)
    remove.add_argument("ids", type=object_id, nargs="+", metavar="ID", help="the rules' ids")
    for name, verb in (("enable", "enable"), ("disable", "disable")):
        switch = rule_commands.add(name, f"{verb} rules", rules.rules_enable)
        switch.add_argument("ids", type=object_id, nargs="+", metavar="ID", help="the rules' ids")
        switch.set_defaults(enable=name == "enable")

    export = top.add("export", "write every rule as a Netwarden rules file", rules.export)
    export.add_argument("file", nargs="?", metavar="FILE", help="where to write (default stdout)")
    imported = top.add(
        "import", "import a Netwarden rules file, all or nothing", rules.import_rules
    )
    imported.add_argument("file", metavar="FILE", help="the rules file ('-' for stdin)")
    imported.add_argument("--replace", action="store_true", help="delete every rule first")
    imported.add_argument(
        "--dry-run",
        action="store_true",
        help="check the file and print what would change; change nothing",
    )
    snitch = top.add(
        "import-opensnitch",
        "convert and import an OpenSnitch rules folder",
        import_opensnitch,
    )
    snitch.add_argument("folder", metavar="DIR", help="e.g. /etc/opensnitchd/rules")
    snitch.add_argument(
        "--dry-run", action="store_true", help="print the conversion and check it; import nothing"
    )
    snitch.add_argument(
        "--profile",
        default="",
        metavar="NAME",
        help="put the imported rules in this profile, made if there is none (default: every "
        "profile)",
    )
    snitch.add_argument(
        "--allow-looser",
        action="store_true",
        help="import a program's allow rules even when one of its deny rules did not convert "
        "(they would let through what OpenSnitch denied)",
    )

    _history_parsers(top)
    _blocklist_parsers(top)
    _profile_parsers(top)

    watch = top.add(
        "monitor",
        "print prompts, alerts, rule and settings changes (and connections) as they happen",
        monitor.run,
    )
    watch.add_argument(
        "--no-prompts",
        action="store_true",
        help="do not register as a prompt agent (no prompt events)",
    )
    watch.add_argument(
        "--all-users",
        action="store_true",
        help="receive every user's prompts and connections, not only yours (an "
        "administrator's action)",
    )
    watch.add_argument(
        "--connections",
        action="store_true",
        help="also print every decided connection (many lines on a busy machine)",
    )

    prompt = _Parsers(
        top.add("prompt", "list and answer pending prompts").add_subparsers(
            dest="prompt_command", metavar="ACTION", required=True
        )
    )
    prompt.add("list", "pending prompts you may answer", prompts.prompt_list)
    answer = prompt.add("answer", "answer a pending prompt", prompts.prompt_answer)
    answer.add_argument("id", type=object_id, help="the prompt's id (prompt list)")
    verdict = answer.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--allow", dest="action", action="store_const", const="allow")
    verdict.add_argument("--deny", dest="action", action="store_const", const="deny")
    answer.add_argument(
        "--scope",
        choices=("host", "domain", "port", "any"),
        default="host",
        help="which destinations the rule covers (default host)",
    )
    answer.add_argument(
        "--lifetime",
        choices=("once", "until_quit", "hour", "forever"),
        default="once",
        help="how long the answer holds (default once)",
    )
    answer.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="any version of the program, not only this binary",
    )

    quiet = top.add(
        "silent",
        "Silent Mode: no prompts; show or set it, and list what would have asked",
        silent.silent,
    )
    quiet.add_argument(
        "mode",
        nargs="?",
        choices=("allow", "deny", "off"),
        help="allow or deny what no rule covers without asking, or off (ask again); "
        "without it, show the mode",
    )
    quiet.add_argument(
        "--all-users", action="store_true", help="every user's programs (administrators)"
    )

    setting_commands = _Parsers(
        top.add("settings", "read and change the helper's settings").add_subparsers(
            dest="settings_command", metavar="ACTION", required=True
        )
    )
    get = setting_commands.add("get", "print the settings, or one", settings.settings_get)
    get.add_argument("key", nargs="?", metavar="KEY", help="one setting's name")
    put = setting_commands.add("set", "change settings, all or nothing", settings.settings_set)
    put.add_argument("pairs", nargs="+", metavar="KEY=VALUE", help="e.g. prompt_timeout=30")

    shells = top.add("completion", "print a shell completion script", completion.run)
    shells.add_argument("shell", choices=("bash",), help="the shell (bash)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.parser = parser
    try:
        if args.run is completion.run:
            return completion.run(None, args)
        helper = Helper(connect()) if args.run is not monitor.run else None
        try:
            return args.run(helper, args) or 0
        finally:
            if helper is not None:
                helper.close()
    except CliError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return exc.code
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
