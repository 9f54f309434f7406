"""The Flatpak manifest, checked structurally (the KDE runtime cannot be downloaded here):
Flathub's required fields, pinned sources, the exact sandbox holes, files that exist."""

import json
import re
import shlex
import subprocess

import jsonschema

from tests.fixtures.activation import CHECKOUT

MANIFEST = CHECKOUT / "flatpak" / "io.github.netwarden.json"
APP_ID = "io.github.netwarden"
HOLES = {"--share=ipc", "--socket=wayland", "--socket=fallback-x11", "--device=dri",
         "--system-talk-name=io.github.netwarden.Helper1"}  # fmt: skip

SOURCE = {
    "type": "object",
    "required": ["type"],
    "oneOf": [
        {"properties": {"type": {"enum": ["archive", "file"]}}, "required": ["url", "sha256"]},
        {"properties": {"type": {"const": "git"}}, "required": ["url", "commit"]},
        {"properties": {"type": {"const": "dir"}}, "required": ["path"]},
    ],
    "properties": {"sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                   "url": {"type": "string", "pattern": "^https://"}},
}  # fmt: skip
SCHEMA = {
    "type": "object",
    "required": ["id", "runtime", "runtime-version", "sdk", "command", "finish-args",
                 "modules"],
    "properties": {
        "id": {"const": APP_ID},
        "runtime": {"const": "org.kde.Platform"},
        "sdk": {"const": "org.kde.Sdk"},
        "runtime-version": {"type": "string", "pattern": r"^6\.8$"},
        "base": {"const": "io.qt.PySide.BaseApp"},
        "base-version": {"type": "string", "pattern": r"^6\.8$"},
        "command": {"const": "netwarden"},
        "finish-args": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "modules": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["name", "buildsystem", "sources"],
            "properties": {
                "buildsystem": {"enum": ["meson", "simple", "cmake-ninja", "autotools"]},
                "sources": {"type": "array", "minItems": 1, "items": SOURCE},
            },
        }},
    },
}  # fmt: skip


def manifest():
    return json.loads(MANIFEST.read_text())


def test_the_manifest_has_what_flathub_requires():
    jsonschema.validate(manifest(), SCHEMA)


def test_the_only_hole_beyond_a_graphical_app_is_the_helpers_bus_name():
    holes = set(manifest()["finish-args"])
    assert holes == HOLES
    assert not any(h.startswith(("--share=network", "--filesystem", "--talk-name")) for h in holes)


def test_everything_it_installs_exists_in_the_checkout():
    (app,) = [m for m in manifest()["modules"] if m["name"] == "netwarden"]
    for command in app["build-commands"]:
        words = shlex.split(command)
        if words[0] == "install":
            sources = [w for w in words[1:] if not w.startswith("-") and not w.startswith("/app")]
            for source in sources:
                assert list(CHECKOUT.glob(source)), f"{source} is not in the checkout"
    desktop = (CHECKOUT / "data" / f"{APP_ID}.desktop").read_text()
    assert re.search(r"^Exec=netwarden\b", desktop, re.M), "the desktop file runs the command"


def test_the_desktop_file_and_the_metainfo_pass_their_validators():
    data = CHECKOUT / "data"
    for argv in (["desktop-file-validate", str(data / f"{APP_ID}.desktop")],
                 ["appstreamcli", "validate", "--no-net", "--pedantic",
                  str(data / f"{APP_ID}.metainfo.xml")]):  # fmt: skip
        result = subprocess.run(argv, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
