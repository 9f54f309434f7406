"""Registrable domains by the Public Suffix List: Debian's `publicsuffix` data read with
`python3-publicsuffix2`. `x.wa.me` belongs to `wa.me`, `a.b.co.uk` to `b.co.uk`,
`site.github.io` to itself (github.io is a suffix its users register under).

The list is read once (about 0.2 s, 5 MB): `preload` does it on a thread at the helper's
start, so the first prompt does not wait for it on the loop (one raised in those first
moments waits for that same reading, under the lock, rather than reading it again).
"""

import threading

from publicsuffix2 import PublicSuffixList

LIST_FILE = "/usr/share/publicsuffix/public_suffix_list.dat"


class _Loaded:
    """The list once read; `lock` makes it read once, by whichever thread comes first."""

    lock = threading.Lock()
    suffixes: PublicSuffixList | None = None


def _suffixes() -> PublicSuffixList:
    with _Loaded.lock:
        if _Loaded.suffixes is None:
            _Loaded.suffixes = PublicSuffixList(LIST_FILE)
        return _Loaded.suffixes


def preload() -> None:
    """Read the list in the background."""
    threading.Thread(target=_suffixes, name="public-suffixes", daemon=True).start()


def registrable_domain(host: str) -> str | None:
    """The domain `host` (normalized, `xn--` form) belongs to: its public suffix and one
    label more; None when `host` is itself a public suffix (`co.uk`, `github.io`). A
    top-level domain the list does not know is a suffix of one label (the list's `*`)."""
    suffix = _suffixes().get_tld(host, strict=True) or host.rpartition(".")[2]
    if host == suffix or not host.endswith("." + suffix):
        return None
    return host[: -len(suffix) - 1].rpartition(".")[2] + "." + suffix
