"""The man pages in man/ say what the programs' --help says."""

import subprocess
import sys

from tests.fixtures.activation import CHECKOUT


def test_the_man_pages_are_generated_from_the_current_parsers():
    result = subprocess.run([sys.executable, "tools/manpages.py", "--check"], cwd=CHECKOUT,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_a_man_page_renders_with_every_option():
    rendered = subprocess.run(["man", "-l", str(CHECKOUT / "man/netwarden-helper.8")],
                              capture_output=True, text=True, check=True,
                              env={"MANWIDTH": "100", "PATH": "/usr/bin:/bin"}).stdout  # fmt: skip
    for option in ("--state-dir", "--flow-queue", "--remove-rules", "--version"):
        assert option in rendered.replace("‐", "-")
