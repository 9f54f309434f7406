"""OpenSnitch's regular expressions (Go's RE2 syntax) read into the finite list of
alternatives they stand for, so that a rule's expression can become values, globs or
sets. Pure.

An alternative is a sequence of `Atom`s (one character out of a set, repeated) with
whether it is anchored at the start (`^`) and at the end (`$`): Go's MatchString
searches, so an unanchored side matches anything there. Alternations and groups repeated
a bounded number of times (`(.*\\.)?`) are expanded; anything else RE2 has and a rule
cannot say (a group repeated without bound, word boundaries, flags, Unicode classes) is a
`RegexpError` naming it.
"""

import re
from dataclasses import dataclass, replace
from itertools import product

MAX_ALTERNATIVES = 4096
_MAX_GROUP_REPEAT = 8
_DIGITS = frozenset("0123456789")
_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_SPACE = frozenset("\t\n\f\r ")
_ESCAPED_CLASSES = {"d": _DIGITS, "w": _WORD, "s": _SPACE}
_CONTROL = {"t": "\t", "n": "\n", "r": "\r", "f": "\f", "v": "\v"}


class RegexpError(ValueError):
    """The expression uses something the conversion cannot read; the message says what."""


@dataclass(frozen=True)
class Atom:
    """One character out of `chars` (None: any character; `negated`: any but these),
    `low` to `high` times (`high` None: without bound)."""

    chars: frozenset[str] | None
    negated: bool = False
    low: int = 1
    high: int | None = 1

    @property
    def char(self) -> str | None:
        """The one literal character this atom is, once or several times; else None."""
        if self.chars is not None and len(self.chars) == 1 and not self.negated:
            return next(iter(self.chars))
        return None

    @property
    def is_star(self) -> bool:
        """`.*`: any text, the empty one too."""
        return self.chars is None and self.low == 0 and self.high is None

    def python(self) -> str:
        """The atom in Python's regular expression syntax."""
        if self.chars is None:
            text = "."
        elif self.char is not None:
            text = re.escape(self.char)
        else:
            inside = "".join(
                re.escape(low) + (f"-{re.escape(high)}" if high != low else "")
                for low, high in char_ranges(self.chars)
            )
            text = f"[{'^' if self.negated else ''}{inside}]"
        return text + _quantifier(self.low, self.high)


@dataclass(frozen=True)
class Alternative:
    start: bool  # anchored at the start (^)
    end: bool  # anchored at the end ($)
    atoms: tuple[Atom, ...]

    def python(self) -> str:
        """The alternative as a Python expression for `re.search`."""
        body = "".join(atom.python() for atom in self.atoms)
        return ("\\A" if self.start else "") + body + ("\\Z" if self.end else "")

    def literal(self) -> str | None:
        """The text of an alternative that is one exact string (anchored, no class)."""
        if not (self.start and self.end):
            return None
        text = ""
        for atom in self.atoms:
            if atom.char is None or atom.low != atom.high:
                return None
            text += atom.char * atom.low
        return text


def char_ranges(chars: frozenset[str]) -> list[tuple[str, str]]:
    """The characters as ranges (first, last) of three or more in a row, else singly."""
    codes = sorted(ord(c) for c in chars)
    ranges: list[tuple[str, str]] = []
    start = 0
    for index, code in enumerate(codes):
        if index + 1 == len(codes) or codes[index + 1] != code + 1:
            if index - start >= 2:
                ranges.append((chr(codes[start]), chr(code)))
            else:
                ranges += [(chr(c), chr(c)) for c in codes[start : index + 1]]
            start = index + 1
    return ranges


def _quantifier(low: int, high: int | None) -> str:
    if (low, high) == (1, 1):
        return ""
    named = {(0, None): "*", (1, None): "+", (0, 1): "?"}
    if (low, high) in named:
        return named[(low, high)]
    return f"{{{low}}}" if low == high else f"{{{low},{'' if high is None else high}}}"


@dataclass(frozen=True)
class _Group:
    branches: tuple[tuple[object, ...], ...]


@dataclass(frozen=True)
class _Repeat:
    node: _Group
    low: int
    high: int | None


_QUANTIFIER = re.compile(r"\{(\d+)(,(\d*))?\}")


class _Parser:
    """A recursive descent over the RE2 syntax rules use; nodes are `Atom`, `_Group`,
    `_Repeat` and the anchors "^" and "$"."""

    def __init__(self, pattern: str) -> None:
        self.text = pattern
        self.at = 0

    def parse(self) -> _Group:
        group = self._alternation()
        if self.at < len(self.text):
            raise RegexpError("it has a ')' that closes nothing")
        return group

    def _peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def _alternation(self) -> _Group:
        branches = [self._sequence()]
        while self._peek() == "|":
            self.at += 1
            branches.append(self._sequence())
        return _Group(tuple(branches))

    def _sequence(self) -> tuple[object, ...]:
        items: list[object] = []
        while self._peek() not in ("", "|", ")"):
            items.append(self._quantified(self._item()))
        return tuple(items)

    def _item(self) -> object:
        char = self.text[self.at]
        self.at += 1
        if char == "(":
            self._group_prefix()
            group = self._alternation()
            if self._peek() != ")":
                raise RegexpError("it has a '(' that is never closed")
            self.at += 1
            return group
        if char == "[":
            return self._class()
        if char == ".":
            return Atom(None)
        if char in "^$":
            return char
        if char == "\\":
            return self._escape()
        if char in "*+?":
            raise RegexpError(f"it has {char!r} with nothing to repeat")
        return Atom(frozenset(char))

    def _group_prefix(self) -> None:
        if not self.text.startswith("?", self.at):
            return
        named = re.match(r"\?P?<\w+>|\?:", self.text[self.at :])
        if named is None:
            raise RegexpError("it uses flags ('(?…)'), which change how the rest matches")
        self.at += len(named.group())

    def _quantified(self, item: object) -> object:
        char = self._peek()
        bounds: tuple[int, int | None]
        if char in ("*", "+", "?"):
            bounds = {"*": (0, None), "+": (1, None), "?": (0, 1)}[char]
            self.at += 1
        elif char == "{" and (found := _QUANTIFIER.match(self.text, self.at)):
            low = int(found[1])
            high = low if found[2] is None else (int(found[3]) if found[3] else None)
            bounds = (low, high)
            self.at = found.end()
        else:
            return item
        if self._peek() == "?":  # lazy: the same matches for a search
            self.at += 1
        if self._peek() in ("*", "+", "?") or isinstance(item, (str, _Repeat)):
            raise RegexpError("it repeats a repetition or an anchor")
        if isinstance(item, Atom):
            return replace(item, low=bounds[0], high=bounds[1])
        assert isinstance(item, _Group)
        return _Repeat(item, *bounds)

    def _escape(self) -> object:
        char = self._peek()
        if not char:
            raise RegexpError("it ends with a lone '\\'")
        self.at += 1
        if char.lower() in _ESCAPED_CLASSES:
            return Atom(_ESCAPED_CLASSES[char.lower()], negated=char.isupper())
        if char in ("A", "z"):
            return "^" if char == "A" else "$"
        if char in _CONTROL:
            return Atom(frozenset(_CONTROL[char]))
        if char.isalnum():
            raise RegexpError(f"it uses '\\{char}'")
        return Atom(frozenset(char))

    def _class(self) -> Atom:
        negated = self._peek() == "^"
        self.at += negated
        chars: set[str] = set()
        first = True
        while True:
            char = self._peek()
            if not char:
                raise RegexpError("it has a '[' that is never closed")
            if char == "]" and not first:
                self.at += 1
                return Atom(frozenset(chars), negated)
            first = False
            if self.text.startswith("[:", self.at):
                raise RegexpError("it uses a POSIX class ('[:…:]')")
            self.at += 1
            if char == "\\":
                escaped = self._escape()
                if not isinstance(escaped, Atom) or escaped.negated or escaped.chars is None:
                    raise RegexpError("it uses a negated class or an anchor inside '[…]'")
                chars |= escaped.chars
                continue
            if self._peek() == "-" and self.text[self.at + 1 : self.at + 2] not in ("]", ""):
                last = self.text[self.at + 1]
                if last == "\\" or ord(last) < ord(char):
                    raise RegexpError(f"it has a range '{char}-{last}' it cannot read")
                chars |= {chr(code) for code in range(ord(char), ord(last) + 1)}
                self.at += 2
                continue
            chars.add(char)


def alternatives(pattern: str) -> list[Alternative]:
    """The alternatives `pattern` stands for; `RegexpError` when it cannot be read or
    expands to more than `MAX_ALTERNATIVES`."""
    found = []
    for items in _expand(_Parser(pattern).parse()):
        alternative = _anchored(items)
        if alternative is not None and alternative not in found:
            found.append(alternative)
    return found


def python_pattern(pattern: str) -> re.Pattern[str]:
    """`pattern` as a Python expression with the same matches (for `search`)."""
    return re.compile("|".join(f"(?:{a.python()})" for a in alternatives(pattern)) or "(?!)")


def _expand(node: object) -> list[tuple[object, ...]]:
    if isinstance(node, (Atom, str)):
        return [(node,)]
    if isinstance(node, _Group):
        return [items for branch in node.branches for items in _sequence(branch)]
    assert isinstance(node, _Repeat)
    if node.high is None or node.high > _MAX_GROUP_REPEAT:
        raise RegexpError("it repeats a group any number of times")
    inner = _expand(node.node)
    found: list[tuple[object, ...]] = []
    for count in range(node.low, node.high + 1):
        _check_size(len(found) + len(inner) ** count)  # before building them
        found += [sum(parts, ()) for parts in product(inner, repeat=count)]
    return found


def _sequence(items: tuple[object, ...]) -> list[tuple[object, ...]]:
    found: list[tuple[object, ...]] = [()]
    for item in items:
        more = _expand(item)
        _check_size(len(found) * len(more))  # before building them
        found = [done + extra for done in found for extra in more]
    return found


def _check_size(count: int) -> None:
    if count > MAX_ALTERNATIVES:
        raise RegexpError(f"it stands for more than {MAX_ALTERNATIVES} alternatives")


def _anchored(items: tuple[object, ...]) -> Alternative | None:
    """The alternative with its anchors read, or None when it can match nothing (an
    anchor after or before text that cannot be empty)."""
    start = end = False
    atoms: list[Atom] = []
    for item in items:
        if item == "^":
            if any(atom.low > 0 for atom in atoms) or end:
                return None
            atoms, start = [], True
        elif item == "$":
            end = True
        elif isinstance(item, Atom):
            if end and item.low > 0:
                return None
            if not end:
                atoms.append(item)
    return Alternative(start, end, tuple(atoms))
