"""`netwardenctl status` and `settings get|set`: the helper's state and its settings."""

import argparse
from typing import Any

from netwarden.cli import output
from netwarden.cli.bus import CliError, Helper
from netwarden.cli.output import wants_json
from netwarden_common.dbus_values import dictionary


def status(helper: Helper, args: argparse.Namespace) -> int:
    values = helper.call("GetStatus")
    if wants_json(args):
        output.print_json(values)
        return 0
    mode = "closed (blocks while the helper is down)" if values.get("fail_closed") else "open"
    print(f"helper: running, version {values.get('version')}")
    print(
        f"up: {output.duration(values.get('uptime', 0))} "
        f"(since {output.when(values.get('started_at'))})"
    )
    print(f"backend: {values.get('backend')}")
    print(f"fail mode: {mode}")
    print(f"attribution: {_attribution(values)}")
    print(f"kernel verdicts: {_kernel_verdicts(values)}")
    used = values.get("footprint") or {}
    if used:
        print(f"footprint: {output.size(used.get('memory', 0))} memory, "
              f"{used.get('cpu_seconds', 0):.1f} s CPU, {used.get('threads', 0)} threads, "
              f"{used.get('open_files', 0)} open files")  # fmt: skip
    counters = values.get("counters") or {}
    if counters:
        print("counters:\n" + output.key_values(counters, "  "))
    return 0


def _attribution(values: dict[str, Any]) -> str:
    if values.get("attribution") == "ebpf":
        return "exact (eBPF)"
    return f"best effort (/proc): {values.get('attribution_reason') or 'eBPF not available'}"


def _kernel_verdicts(values: dict[str, Any]) -> str:
    if values.get("kernel_verdicts"):
        return "on (decided flows are decided again at the system call)"
    return f"off ({values.get('kernel_verdicts_reason') or 'not available'})"


def settings_get(helper: Helper, args: argparse.Namespace) -> int:
    values = helper.call("GetSettings")
    if args.key is not None:
        if args.key not in values:
            raise CliError(f"unknown setting {args.key!r} (known: {', '.join(sorted(values))})")
        values = {args.key: values[args.key]}
    if wants_json(args):
        output.print_json(values)
    elif args.key is not None:
        print(output.setting_text(values[args.key]))
    else:
        print("\n".join(f"{k} = {output.setting_text(v)}" for k, v in sorted(values.items())))
    return 0


def _setting_value(key: str, text: str, current: Any) -> Any:
    if isinstance(current, bool):
        words = {
            "true": True,
            "yes": True,
            "on": True,
            "1": True,
            "false": False,
            "no": False,
            "off": False,
            "0": False,
        }
        if text.lower() not in words:
            raise CliError(f"{key}: give true or false, not {text!r}")
        return words[text.lower()]
    if isinstance(current, int):
        try:
            return int(text)
        except ValueError:
            raise CliError(f"{key}: give a whole number, not {text!r}") from None
    return text


def settings_set(helper: Helper, args: argparse.Namespace) -> int:
    current = helper.call("GetSettings")
    changes = {}
    for pair in args.pairs:
        key, sep, text = pair.partition("=")
        if not sep:
            raise CliError(f"{pair!r}: write KEY=VALUE")
        if key not in current:
            raise CliError(f"unknown setting {key!r} (known: {', '.join(sorted(current))})")
        changes[key] = _setting_value(key, text, current[key])
    values = helper.call("SetSettings", dictionary(changes))
    if wants_json(args):
        output.print_json(values)
    else:
        print("\n".join(f"{k} = {output.setting_text(values[k])}" for k in sorted(changes)))
    return 0
