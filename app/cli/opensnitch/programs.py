"""Which program an OpenSnitch operator names (`process.path`, `process.command`,
`user.name`), as Netwarden's `exe` (a path or a glob), `script` and `uid`. Pure but for
the passwd database and PATH of the machine doing the import."""

import os
import pwd
import shutil
from typing import Any

from netwarden.cli.opensnitch.destinations import Context, Unconvertible, literals
from netwarden.cli.opensnitch.regexps import (
    Alternative,
    Atom,
    RegexpError,
    alternatives,
    char_ranges,
)
from netwarden_common.interpreters import interpreter_kind, script_of

# Folders whose entries are named only with the characters of the UI's classes: AppImage
# mount points (/tmp/.mount_<name><random letters and digits>) and snap revisions.
_GENERATED_FOLDERS = ("/tmp/.mount_", "/snap/")


def glob_escaped(path: str) -> str:
    """A path as a glob matching only itself (Netwarden reads *, ? and [ as a glob)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in path)


def path_simple(data: str, ctx: Context) -> list[dict[str, Any]]:
    if not data.startswith("/"):
        raise Unconvertible(f"{data!r} is not an absolute path")
    return [{"exe": glob_escaped(data)}]


def path_regexp(data: str, ctx: Context) -> list[dict[str, Any]]:
    """The globs a path expression stands for; `.*` (any path) is any program."""
    try:
        found = alternatives(data)
    except RegexpError as exc:
        raise Unconvertible(f"the regular expression {data!r}: {exc}") from None
    globs: list[str] = []
    for alternative in found:
        for glob in _globs(alternative, data):
            if not glob.strip("*") or glob == "/*":
                return [{}]
            if glob not in globs:
                globs.append(glob)
    if not globs:
        raise Unconvertible(f"{data!r} matches no path")
    return [{"exe": glob} for glob in globs]


def _globs(alternative: Alternative, pattern: str) -> list[str]:
    """One alternative as globs with exactly its matches among absolute paths."""
    atoms = list(alternative.atoms)
    lead = not alternative.start
    while atoms and atoms[0].is_star:
        atoms.pop(0)
        lead = True
    text = _glob(atoms, pattern) + ("" if alternative.end else "*")
    if not lead:
        if not text.startswith("/"):
            raise Unconvertible(f"{pattern!r} matches no absolute path")
        return [text]
    # Before the rest, any text: none, or (every path starting with "/") "/" and more.
    if not text.strip("*"):
        return ["*"]
    if text.startswith("/"):
        return [text, "/*" + text]
    if atoms[0].chars is not None and not atoms[0].negated and "/" not in atoms[0].chars:
        return ["/*" + text]
    raise Unconvertible(f"{pattern!r} can match from the first '/' of a path in ways no glob says")


def _glob(atoms: list[Atom], pattern: str) -> str:
    text = ""
    for atom in atoms:
        if atom.chars is None:
            if atom.high is not None and atom.high != atom.low:
                raise Unconvertible(f"{pattern!r} repeats '.' a varying number of times")
            text += "?" * atom.low + ("*" if atom.high is None else "")
            continue
        one = glob_escaped(atom.char) if atom.char is not None else _glob_class(atom)
        if atom.high == atom.low:
            text += one * atom.low
        elif atom.high is None and atom.char is None and text.startswith(_GENERATED_FOLDERS):
            text += one * atom.low + "*"
        elif atom.char is not None:
            raise Unconvertible(f"{pattern!r} repeats {atom.char!r} a varying number of times")
        else:
            raise Unconvertible(
                f"{pattern!r} repeats a character class ({atom.python()}), which only those "
                "characters may fill and a glob's * lets any fill; converted only in "
                "AppImage (/tmp/.mount_…) and Snap (/snap/…) paths, whose folders are "
                "named with nothing else"
            )
    return text


def _glob_class(atom: Atom) -> str:
    """A character class in glob syntax: ']' first, '!' and '-' last."""
    assert atom.chars is not None
    inside = "".join(
        low if low == high else f"{low}-{high}"
        for low, high in char_ranges(atom.chars - frozenset("]!-"))
    )
    inside = (
        ("]" if "]" in atom.chars else "") + inside + "".join(c for c in "!-" if c in atom.chars)
    )
    return f"[{'!' if atom.negated else ''}{inside}]"


def command_simple(data: str, ctx: Context) -> list[dict[str, Any]]:
    """A command line (OpenSnitch joins the arguments with spaces) as an interpreter
    and the script it runs, Netwarden's identity of a script."""
    arguments = tuple(data.split(" "))
    program = arguments[0]
    exe = command_program(data)
    if exe != program:
        ctx.note(f"{program} is {exe} on this machine")
    if not interpreter_kind(exe):
        raise Unconvertible(
            f"{program} is not an interpreter: Netwarden names a program by its path, and "
            "tells apart only the scripts an interpreter runs, not other command lines"
        )
    script = script_of(exe, arguments, "/")
    if not script:
        raise Unconvertible(
            f"{data!r} runs inline code or a module, not a script file: Netwarden cannot "
            f"tell it from other runs of {program}"
        )
    if script not in arguments:
        raise Unconvertible(
            f"the script in {data!r} is a relative path, and the command line does not "
            "say which folder it ran in"
        )
    others = [a for a in arguments[1:] if a != script]
    if others:
        ctx.broader(
            f"Netwarden matches {exe} running {script} whatever its other arguments "
            f"({' '.join(others)})"
        )
    return [{"exe": glob_escaped(exe), "script": script}]


def command_program(command: str) -> str:
    """The path of the program a command line runs, as this machine resolves it."""
    program = command.split(" ")[0]
    found = program if program.startswith("/") else shutil.which(program)
    if found is None:
        raise Unconvertible(f"{program!r} is not on this machine's PATH, so its path is unknown")
    return os.path.realpath(found)


def command_regexp(data: str, ctx: Context) -> list[dict[str, Any]]:
    return [found for line in literals(data, "command line") for found in command_simple(line, ctx)]


def user_name(data: str, ctx: Context) -> list[dict[str, Any]]:
    try:
        return [{"uid": pwd.getpwnam(data).pw_uid}]
    except KeyError:
        raise Unconvertible(
            f"there is no user {data!r} on this machine (names are looked up in its "
            "passwd database)"
        ) from None
