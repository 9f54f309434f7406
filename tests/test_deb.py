"""The Debian package: built with dpkg-buildpackage, checked by lintian, installed with
apt into a clean Debian 13 root, started by D-Bus activation, purged without a trace."""

import os
import subprocess
import sys

from netwarden_common.api import BUS_NAME
from tests.fixtures import polkit
from tests.fixtures.activation import activating_bus
from tests.fixtures.api import ApiClient
from tests.fixtures.packaging import clean_root

SYSTEM_FILES = [
    "/usr/lib/systemd/system/netwarden-helper.service",
    "/usr/share/dbus-1/system.d/io.github.netwarden.Helper1.conf",
    "/usr/share/dbus-1/system-services/io.github.netwarden.Helper1.service",
    "/usr/share/polkit-1/actions/io.github.netwarden.policy",
    "/usr/share/man/man8/netwarden-helper.8.gz",
    "/etc/netwarden/rules.d/README",
]
ENABLED = "/etc/systemd/system/multi-user.target.wants/netwarden-helper.service"
LEFT_BEHIND = """
from netwarden_helper.packet_path.netfilter import Interception, choose_backend
interception = Interception(7700, 7701, fail_closed=True)
choose_backend(interception).install(interception)
"""


def test_lintian_finds_no_error(deb):
    result = subprocess.run(["lintian", "--fail-on", "error", str(deb)], capture_output=True,
                            text=True)  # fmt: skip
    assert result.returncode == 0, result.stdout
    assert not [line for line in result.stdout.splitlines() if line.startswith("E:")]


def test_the_packaged_app_starts_the_packaged_helper_by_dbus_activation(deb, netns, tmp_path):
    stage = tmp_path / "stage"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(stage)], check=True)
    stage.chmod(0o755)
    with activating_bus(netns.host, stage) as bus, polkit.polkitd(bus, polkit.rules()):
        assert not bus.has_owner(BUS_NAME)
        app = subprocess.run(
            ["timeout", "10", sys.executable, str(stage / "usr/bin/netwarden")],
            env={**os.environ, "PYTHONPATH": str(stage / "usr/lib/python3/dist-packages"),
                 "DBUS_SYSTEM_BUS_ADDRESS": bus.address, "QT_QPA_PLATFORM": "offscreen"},
            capture_output=True, text=True,
        )  # fmt: skip
        assert app.returncode == 124, f"the app did not keep running: {app.stderr}"
        assert "failed to load" not in app.stderr and "Traceback" not in app.stderr, app.stderr
        assert bus.has_owner(BUS_NAME), "the app's first call started the packaged helper"
        client = ApiClient(bus, uid=0)
        assert client.call("GetStatus")["version"] == "0.1.0"
        client.close()


def test_apt_installs_it_enables_the_unit_and_purge_leaves_nothing_behind(deb, netns):
    with clean_root(netns.host) as root:
        root.run("apt-get", "install", "-y", root.put(deb))
        for path in [*SYSTEM_FILES, ENABLED, "/usr/bin/netwarden", "/usr/bin/netwarden-helper"]:
            assert root.run("test", "-e", path, check=False).returncode == 0, path
        assert root.run("netwarden-helper", "--version").stdout.startswith("netwarden-helper")
        assert "rules" in root.run("netwardenctl", "--help").stdout

        root.run("python3", "-c", LEFT_BEHIND)  # what a helper killed mid-run leaves
        root.run("mkdir", "-p", "/var/lib/netwarden")
        root.run("touch", "/var/lib/netwarden/netwarden.db")
        assert "NETWARDEN" in netns.host.run("iptables-save").stdout

        root.run("apt-get", "purge", "-y", "netwarden")
        assert "NETWARDEN" not in netns.host.run("iptables-save").stdout
        for path in [*SYSTEM_FILES, ENABLED, "/var/lib/netwarden", "/usr/bin/netwarden-helper"]:
            assert root.run("test", "-e", path, check=False).returncode != 0, path
