"""`netwardenctl prompt list|answer`: pending prompts, answered from a terminal."""

import argparse

from netwarden.cli import output
from netwarden.cli.bus import Helper
from netwarden.cli.output import listing, wants_json
from netwarden_common.dbus_values import dictionary


def prompt_list(helper: Helper, args: argparse.Namespace) -> int:
    prompts = helper.call("ListPrompts")
    return listing(args, prompts, output.prompts_table, "no pending prompts")


def prompt_answer(helper: Helper, args: argparse.Namespace) -> int:
    answer = {
        "action": args.action,
        "scope": args.scope,
        "lifetime": args.lifetime,
        "pin": args.pin,
    }
    rule = helper.call("AnswerPrompt", args.id, dictionary(answer))
    if wants_json(args):
        output.print_json({"prompt": args.id, "action": args.action, "rule": rule or None})
        return 0
    verb = "allowed" if args.action == "allow" else "denied"
    print(f"{verb} prompt {args.id}" + (f": added rule {rule['id']}" if rule else " once"))
    return 0
