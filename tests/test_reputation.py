"""The optional hash lookup: the API key in a real keyring backend, the v3 exchange."""

import http.server
import json
import threading

import keyring
import pytest
from keyrings.alt.file import EncryptedKeyring

from netwarden.client import reputation

SHA = "a" * 64
KEY = "vt-key-0123456789abcdef-not-a-real-one"


@pytest.fixture
def encrypted_keyring(tmp_path, monkeypatch):
    """keyrings.alt's encrypted file backend, in a home of the test's own."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    backend = EncryptedKeyring()
    backend.keyring_key = "the user's keyring password"
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    yield tmp_path / "data"
    keyring.set_keyring(previous)


def test_the_api_key_round_trips_through_the_keyring_and_is_never_on_disk_in_clear(
    encrypted_keyring,
):
    assert reputation.api_key() is None
    reputation.save_api_key(f"  {KEY}\n")
    assert reputation.api_key() == KEY
    files = [p for p in encrypted_keyring.rglob("*") if p.is_file()]
    assert files, "the backend stored something"
    assert not any(KEY.encode() in p.read_bytes() for p in files)
    reputation.forget_api_key()
    assert reputation.api_key() is None


class FakeVirusTotal(http.server.BaseHTTPRequestHandler):
    """Answers like the v3 files endpoint: a report, 404 or 401 by hash and key."""

    def do_GET(self):
        if self.headers.get("x-apikey") != KEY:
            self.send_response(401)
            self.end_headers()
            return
        if not self.path.endswith(SHA):
            self.send_response(404)
            self.end_headers()
            return
        body = json.dumps(
            {
                "data": {
                    "attributes": {
                        "last_analysis_stats": {
                            "malicious": 3,
                            "suspicious": 1,
                            "harmless": 0,
                            "undetected": 60,
                        }
                    }
                }
            }
        ).encode()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def api():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeVirusTotal)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/api/v3"
    server.shutdown()
    server.server_close()


def test_a_lookup_sends_the_hash_with_the_key_and_reads_the_verdicts(api):
    found = reputation.lookup(SHA, KEY, api)
    assert (found.malicious, found.suspicious, found.undetected) == (3, 1, 60)
    assert found.link.endswith(SHA)
    assert reputation.lookup("b" * 64, KEY, api) is None, "never seen by VirusTotal"
    with pytest.raises(reputation.ReputationError, match="refused the API key"):
        reputation.lookup(SHA, "wrong", api)


def test_an_unreadable_report_is_a_clear_error():
    with pytest.raises(reputation.ReputationError, match="cannot read"):
        reputation.parse_report(SHA, {"data": []})
