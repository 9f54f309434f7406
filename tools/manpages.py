"""`make man`: write the man pages from the programs' own argument parsers.

    python3 tools/manpages.py [--check] [OUTPUT_FOLDER]

The pages in man/ are generated, never edited by hand: `--help` and the man page say the
same thing. With --check, nothing is written and the exit status says whether the pages
in the folder are current (a test runs it).
"""

import argparse
import importlib
import sys
from pathlib import Path

from netwarden_helper import __version__

CHECKOUT = Path(__file__).resolve().parents[1]
# (program, section, module with build_parser(), what it is in one line)
PAGES = [
    ("netwarden-helper", 8, "netwarden_helper.main", "the privileged half of Netwarden"),
    ("netwarden", 1, "netwarden.main", "see and decide which programs may connect"),
    ("netwardenctl", 1, "netwarden.cli.main", "control Netwarden from a terminal"),
]
SEE_ALSO = {"netwarden-helper": "netwarden(1), netwardenctl(1), polkit(8)",
            "netwarden": "netwarden-helper(8), netwardenctl(1)",
            "netwardenctl": "netwarden(1), netwarden-helper(8)"}  # fmt: skip


def roff(text: str) -> str:
    """`text` safe in a roff paragraph."""
    lines = text.replace("\\", "\\e").replace("-", "\\-").splitlines()
    return "\n".join(f"\\&{line}" if line.startswith((".", "'")) else line for line in lines)


def options(parser: argparse.ArgumentParser) -> list[str]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) or action.help == argparse.SUPPRESS:
            continue
        names = ", ".join(action.option_strings) or action.metavar or action.dest
        if action.option_strings and action.nargs != 0:
            names += f" {action.metavar or action.dest.upper()}"
        out += [".TP", f".B {roff(names)}", roff((action.help or "") % {
            "default": action.default, "prog": parser.prog})]  # fmt: skip
    return out


def subcommands(parser: argparse.ArgumentParser, prefix: str = "") -> list[str]:
    out = []
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {choice.dest: choice.help for choice in action._choices_actions}
        for name, sub in action.choices.items():
            out += [
                ".SS " + roff(f"{prefix}{name}"),
                roff(helps.get(name) or sub.description or ""),
            ]
            out += [".PP", "Usage: " + roff(sub.format_usage().removeprefix("usage: ").strip())]
            out += options(sub)
            out += subcommands(sub, f"{prefix}{name} ")
    return out


def page(program: str, section: int, parser: argparse.ArgumentParser, summary: str) -> str:
    lines = [
        f'.TH {program.upper()} {section} "" "Netwarden {__version__}" "Netwarden"',
        ".SH NAME", f"{roff(program)} \\- {roff(summary)}",
        ".SH SYNOPSIS", roff(parser.format_usage().removeprefix("usage: ").strip()),
        ".SH DESCRIPTION", roff(parser.description or summary),
        ".SH OPTIONS", *options(parser),
    ]  # fmt: skip
    commands = subcommands(parser)
    if commands:
        lines += [".SH COMMANDS", *commands]
    if parser.epilog:
        lines += [".SH NOTES", roff(parser.epilog)]
    lines += [".SH SEE ALSO", SEE_ALSO[program]]
    return "\n".join(lines) + "\n"


def pages() -> dict[str, str]:
    """{file name: content} for every program whose parser can be imported."""
    written = {}
    for program, section, module, summary in PAGES:
        parser = importlib.import_module(module).build_parser()
        parser.prog = program
        written[f"{program}.{section}"] = page(program, section, parser, summary)
    return written


def main() -> int:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--check", action="store_true")
    arguments.add_argument("folder", nargs="?", type=Path, default=CHECKOUT / "man")
    args = arguments.parse_args()
    stale = []
    for name, content in pages().items():
        path = args.folder / name
        if args.check:
            if not path.exists() or path.read_text() != content:
                stale.append(name)
        else:
            path.write_text(content)
    if stale:
        print(f"man pages out of date: {', '.join(stale)}; run `make man`", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
