"""`make install` / `make uninstall` into a staging tree."""

import subprocess
import sys

from tests.fixtures.activation import CHECKOUT, stage_install


def files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_install_puts_every_part_in_place_and_uninstall_takes_exactly_it_back(tmp_path):
    stage = tmp_path / "stage"
    (stage / "usr/share/icons/hicolor").mkdir(parents=True)
    (stage / "usr/share/icons/hicolor/index.theme").write_text("not ours\n")
    stage_install(stage)
    installed = files(stage)
    for expected in [
        "usr/bin/netwarden", "usr/bin/netwarden-helper", "usr/bin/netwardenctl",
        "usr/lib/python3/dist-packages/netwarden/cli/main.py",
        "usr/share/man/man1/netwardenctl.1", "usr/share/man/man8/netwarden-helper.8",
        "usr/share/applications/io.github.netwarden.desktop",
        "usr/share/metainfo/io.github.netwarden.metainfo.xml",
        "usr/lib/python3/dist-packages/netwarden_helper/packet_path/pipeline.py",
        "usr/lib/python3/dist-packages/netwarden_common/rules.py",
        "usr/lib/python3/dist-packages/netwarden/main.py",
        "usr/share/netwarden/qml/Netwarden/qmldir",
        "usr/share/icons/hicolor/scalable/apps/io.github.netwarden.svg",
        "usr/share/dbus-1/system-services/io.github.netwarden.Helper1.service",
        "usr/share/dbus-1/system.d/io.github.netwarden.Helper1.conf",
        "usr/share/polkit-1/actions/io.github.netwarden.policy",
        "usr/lib/systemd/system/netwarden-helper.service",
        "usr/share/netwarden/install-manifest.txt",
        "etc/netwarden/rules.d/README", "etc/netwarden/blocklists/README",
    ]:  # fmt: skip
        assert expected in installed, expected
    version = subprocess.run(
        [sys.executable, str(stage / "usr/bin/netwarden-helper"), "--version"],
        env={"PYTHONPATH": str(stage / "usr/lib/python3/dist-packages")},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert version.stdout.startswith("netwarden-helper 0.1.0")
    cli = subprocess.run(
        [sys.executable, str(stage / "usr/bin/netwardenctl"), "--help"],
        env={"PYTHONPATH": str(stage / "usr/lib/python3/dist-packages")},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "rules" in cli.stdout

    subprocess.run(["make", "-s", "uninstall", f"DESTDIR={stage}", "PREFIX=/usr"],
                   cwd=CHECKOUT, check=True, capture_output=True)  # fmt: skip
    assert files(stage) == ["usr/share/icons/hicolor/index.theme"]
    assert not (stage / "usr/share/netwarden").exists()
    assert not (stage / "etc/netwarden").exists()
