"""Looking a binary's hash up at VirusTotal (API v3), only when the person asks.

Off by default: nothing is sent anywhere until someone stores an API key and clicks
"look up this hash" on an alert. The key lives in the user's keyring (Secret Service,
KWallet, or whichever backend `keyring` finds), never in a file of Netwarden's and never
in the helper. Only the sha256 is sent, never the file.
"""

import contextlib
import json
import urllib.error
import urllib.request
from dataclasses import dataclass

import keyring
import keyring.errors

SERVICE = "io.github.netwarden"
KEY_NAME = "virustotal-api-key"
API = "https://www.virustotal.com/api/v3"


class ReputationError(Exception):
    """The lookup failed; the message says why in words a person understands."""


@dataclass(frozen=True)
class Reputation:
    """What the engines VirusTotal ran said about a file."""

    malicious: int
    suspicious: int
    harmless: int
    undetected: int
    link: str  # the report's page, for the person to read


def save_api_key(key: str) -> None:
    keyring.set_password(SERVICE, KEY_NAME, key.strip())


def api_key() -> str | None:
    """The stored key, or None (then lookups are off)."""
    try:
        return keyring.get_password(SERVICE, KEY_NAME)
    except keyring.errors.KeyringError:
        return None


def forget_api_key() -> None:
    with contextlib.suppress(keyring.errors.PasswordDeleteError):
        keyring.delete_password(SERVICE, KEY_NAME)


def parse_report(sha256: str, report: dict) -> Reputation:
    """The verdict counts of a v3 file report."""
    try:
        stats = report["data"]["attributes"]["last_analysis_stats"]
        names = ("malicious", "suspicious", "harmless", "undetected")
        malicious, suspicious, harmless, undetected = (int(stats.get(n, 0)) for n in names)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ReputationError("VirusTotal answered with a report Netwarden cannot read") from None
    link = f"https://www.virustotal.com/gui/file/{sha256}"
    return Reputation(malicious, suspicious, harmless, undetected, link)


def lookup(sha256: str, key: str, api: str = API, timeout: float = 15) -> Reputation | None:
    """The file report for `sha256`, or None when VirusTotal has never seen the file."""
    request = urllib.request.Request(f"{api}/files/{sha256}", headers={"x-apikey": key})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return parse_report(sha256, json.load(response))
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        if exc.code in (401, 403):
            raise ReputationError("VirusTotal refused the API key") from None
        if exc.code == 429:
            raise ReputationError("too many lookups for this API key; try again later") from None
        raise ReputationError(f"VirusTotal answered {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, json.JSONDecodeError) as exc:
        raise ReputationError(f"VirusTotal could not be reached: {exc}") from None
