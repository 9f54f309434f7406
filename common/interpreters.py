"""Which script an interpreter runs, from its command line (pure).

"Allow python3" must not allow every Python program: for a known interpreter (Python,
Perl, Ruby, Node.js, the shells, Java) the script it runs is part of the program's
identity. The script is the first operand after the interpreter's options (options that
take a value skip it); `-c`/`-e`-style inline code and `-m` modules have no script file.
Java's script is the `-jar` archive. Relative paths are resolved against the process's
working folder.
"""

import os
import re

_INTERPRETER = re.compile(
    r"(?P<kind>python|pypy|perl|ruby|node|nodejs|bash|sh|dash|zsh|ksh|java)[0-9.]*"
)
_INLINE = {  # options after which there is no script file
    "python": {"-c", "-m"}, "perl": {"-e", "-E"}, "ruby": {"-e"},
    "node": {"-e", "--eval", "-p", "--print"}, "shell": {"-c"}, "java": set(),
}  # fmt: skip
_WITH_VALUE = {  # options whose value is the next argument
    "python": {"-W", "-X", "-Q"}, "perl": {"-I", "-M", "-m"}, "ruby": {"-I", "-r"},
    "node": {"-r", "--require", "--import"}, "shell": {"-o", "-O"},
    "java": {"-cp", "-classpath", "--class-path", "-p", "--module-path"},
}  # fmt: skip
_SHELLS = {"bash", "sh", "dash", "zsh", "ksh"}


def interpreter_kind(exe: str) -> str:
    """ "python", "perl", "ruby", "node", "shell", "java", or "" for other programs."""
    match = _INTERPRETER.fullmatch(os.path.basename(exe))
    if match is None:
        return ""
    kind = match["kind"]
    if kind in _SHELLS:
        return "shell"
    return {"pypy": "python", "nodejs": "node"}.get(kind, kind)


def script_of(exe: str, cmdline: tuple[str, ...], cwd: str) -> str:
    """The absolute path of the script `exe` runs, or "" (not an interpreter, or none)."""
    kind = interpreter_kind(exe)
    if not kind or len(cmdline) < 2:
        return ""
    arguments = iter(cmdline[1:])
    for argument in arguments:
        if kind == "java":
            if argument == "-jar":
                return _absolute(next(arguments, ""), cwd)
            if argument in _WITH_VALUE["java"]:
                next(arguments, None)
            continue
        if argument == "--":
            return _absolute(next(arguments, ""), cwd)
        if argument in _INLINE[kind] or any(
            argument.startswith(o) and len(o) == 2 for o in _INLINE[kind]
        ):
            return ""
        if argument in _WITH_VALUE[kind]:
            next(arguments, None)
            continue
        if argument.startswith("-") and argument != "-":
            continue
        return _absolute(argument, cwd) if argument != "-" else ""
    return ""


def _absolute(path: str, cwd: str) -> str:
    if not path:
        return ""
    return os.path.normpath(path if path.startswith("/") else os.path.join(cwd or "/", path))
