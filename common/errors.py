"""The two kinds of refusal every layer shares, free of D-Bus.

The helper's bus layer turns them into named D-Bus errors in one place
(`netwarden_helper.bus.authorization`): `BadValue` into InvalidArgument, `Missing` into
NotFound, `Busy` into Busy, each with its message, which says what a person can do about
it.
"""


class BadValue(ValueError):
    """A value given from outside is refused; nothing was changed."""


class Busy(Exception):
    """Too much of this kind of work is waiting already; nothing was done. Try again
    shortly."""


class Missing(LookupError):
    """The rule, prompt, alert or subscription named does not exist (any more)."""

    def __str__(self) -> str:  # KeyError-like classes would quote the message
        return str(self.args[0]) if self.args else ""
