"""`make install` / `make uninstall`: put Netwarden's files where the system looks for them.

    python3 tools/install.py [--prefix /usr/local] [--destdir DIR] [--uninstall]

Install builds a wheel (no network: the build uses the system's setuptools), installs
it, then the data and system files below, and writes a manifest of every file to
PREFIX/share/netwarden/install-manifest.txt. Uninstall removes exactly the files in that
manifest (and folders it leaves empty); the user's rules database in /var/lib/netwarden
is never touched.

| file | goes to |
| --- | --- |
| Python packages | the interpreter's package folder for PREFIX (dist-packages on Debian) |
| netwarden, netwarden-helper | PREFIX/bin |
| QML module | PREFIX/share/netwarden/qml |
| icons | PREFIX/share/icons/hicolor |
| D-Bus activation file | PREFIX/share/dbus-1/system-services |
| D-Bus bus policy | /usr/share/dbus-1/system.d (PREFIX /usr), else /etc/dbus-1/system.d |
| polkit actions | /usr/share/polkit-1/actions (the only place polkit reads) |
| systemd unit | PREFIX/lib/systemd/system |
| man pages (man/, from `make man`) | PREFIX/share/man/man1, man8 |
| desktop file, AppStream metainfo | PREFIX/share/applications, PREFIX/share/metainfo |
| admin's folders (a README each) | /etc/netwarden/rules.d, /etc/netwarden/blocklists |
"""

import argparse
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.sources import WheelFile

CHECKOUT = Path(__file__).resolve().parents[1]
MANIFEST = "share/netwarden/install-manifest.txt"


def python_paths(prefix: str) -> dict[str, str]:
    """Where the wheel's parts go for `prefix` on this system."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    if "deb_system" in sysconfig.get_scheme_names():  # Debian and its derivatives
        purelib = (
            "/usr/lib/python3/dist-packages"
            if prefix == "/usr"
            else f"{prefix}/lib/python{version}/dist-packages"
        )
    else:
        purelib = sysconfig.get_path("purelib", vars={"base": prefix, "platbase": prefix})
    return {"purelib": purelib, "platlib": purelib, "scripts": f"{prefix}/bin",
            "data": prefix, "headers": f"{prefix}/include"}  # fmt: skip


def system_files(prefix: str) -> list[tuple[Path, str, bool]]:
    """(source, installed path, whether @BINDIR@ is substituted) for the data files."""
    policy_dir = "/usr/share/dbus-1/system.d" if prefix == "/usr" else "/etc/dbus-1/system.d"
    files = [
        (CHECKOUT / "polkit/io.github.netwarden.Helper1.service",
         f"{prefix}/share/dbus-1/system-services/io.github.netwarden.Helper1.service", True),
        (CHECKOUT / "polkit/io.github.netwarden.Helper1.conf",
         f"{policy_dir}/io.github.netwarden.Helper1.conf", False),
        (CHECKOUT / "polkit/io.github.netwarden.policy",
         "/usr/share/polkit-1/actions/io.github.netwarden.policy", False),
        (CHECKOUT / "polkit/netwarden-helper.service",
         f"{prefix}/lib/systemd/system/netwarden-helper.service", True),
        (CHECKOUT / "data/io.github.netwarden.desktop",
         f"{prefix}/share/applications/io.github.netwarden.desktop", False),
        (CHECKOUT / "data/io.github.netwarden.metainfo.xml",
         f"{prefix}/share/metainfo/io.github.netwarden.metainfo.xml", False),
        # The helper watches these from its start: they must exist before an admin's
        # first file arrives.
        (CHECKOUT / "data/etc/rules.d-README", "/etc/netwarden/rules.d/README", False),
        (CHECKOUT / "data/etc/blocklists-README", "/etc/netwarden/blocklists/README", False),
    ]  # fmt: skip
    for manual in sorted((CHECKOUT / "man").glob("*.[1-8]")):
        files.append((manual, f"{prefix}/share/man/man{manual.suffix[1:]}/{manual.name}", False))
    for tree, target in (("qml", "share/netwarden/qml"), ("icons", "share/icons")):
        for source in sorted((CHECKOUT / tree).rglob("*")):
            if source.is_file():
                relative = source.relative_to(CHECKOUT / tree)
                files.append((source, f"{prefix}/{target}/{relative}", False))
    return files


def build_wheel(folder: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(folder),
         str(CHECKOUT)],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    # setuptools leaves its work folders in the checkout
    shutil.rmtree(CHECKOUT / "build", ignore_errors=True)
    shutil.rmtree(CHECKOUT / "netwarden.egg-info", ignore_errors=True)
    (wheel,) = folder.glob("netwarden-*.whl")
    return wheel


def do_install(prefix: str, destdir: str, manifest: bool = True) -> list[str]:
    installed: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        wheel = build_wheel(Path(folder))
        destination = SchemeDictionaryDestination(
            python_paths(prefix), interpreter=sys.executable, script_kind="posix",
            destdir=destdir or None,
        )  # fmt: skip
        with WheelFile.open(wheel) as source:
            install(source, destination, {"INSTALLER": b"netwarden-make-install"})
            dist_info = f"{source.distribution}-{source.version}.dist-info"
    installed += recorded_files(python_paths(prefix)["purelib"], dist_info, destdir)
    for source, target, substitute in system_files(prefix):
        path = Path(destdir + target)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_bytes()
        if substitute:
            text = text.replace(b"/usr/bin/", f"{prefix}/bin/".encode())
        path.write_bytes(text)
        path.chmod(0o644)
        installed.append(target)
    if manifest:  # a package manager keeps its own list
        installed.append(f"{prefix}/{MANIFEST}")
        Path(destdir + f"{prefix}/{MANIFEST}").write_text("\n".join(sorted(set(installed))) + "\n")
    return installed


def recorded_files(purelib: str, dist_info: str, destdir: str) -> list[str]:
    """Every file the wheel installed, from the RECORD the installer wrote."""
    record = Path(destdir + f"{purelib}/{dist_info}/RECORD").read_text()
    return [
        os.path.normpath(f"{purelib}/{line.split(',')[0]}")
        for line in record.splitlines()
        if line.strip()
    ]


def do_uninstall(prefix: str, destdir: str) -> None:
    manifest = Path(destdir + f"{prefix}/{MANIFEST}")
    if not manifest.exists():
        sys.exit(f"nothing to uninstall: {manifest} does not exist")
    folders = set()
    for line in manifest.read_text().splitlines():
        path = Path(destdir + line)
        if path.is_file() or path.is_symlink():
            path.unlink()
        folders.add(path.parent)
        cache = path.parent / "__pycache__"
        if cache.is_dir():
            shutil.rmtree(cache)
    # Only Netwarden's own folders go; shared ones (icons, dbus-1, ...) stay.
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        while _ours(folder) and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
            folder = folder.parent


def _ours(folder: Path) -> bool:
    """A folder within one named after Netwarden (share/netwarden/qml, the packages)."""
    return any("netwarden" in part.lower() for part in folder.parts[-3:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefix", default="/usr/local")
    parser.add_argument("--destdir", default="")
    parser.add_argument("--uninstall", action="store_true")
    parser.add_argument("--no-manifest", action="store_true",
                        help="write no uninstall manifest (for package builds)")  # fmt: skip
    args = parser.parse_args()
    destdir = os.path.abspath(args.destdir) if args.destdir else ""
    if args.uninstall:
        do_uninstall(args.prefix, destdir)
    else:
        count = len(do_install(args.prefix, destdir, manifest=not args.no_manifest))
        print(f"installed {count} files under {destdir or '/'} (prefix {args.prefix})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
