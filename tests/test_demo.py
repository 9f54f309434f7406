"""`make demo` brings the product up in its sandbox and tears it down again."""

import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtGui import QImage

from tests.fixtures.qml import ARTIFACTS, distinct_colors

DEMO = Path(__file__).resolve().parents[1] / "tools" / "demo.py"


def test_demo_shows_live_traffic_and_a_prompt_naming_a_host_headless(qapp):
    shot = ARTIFACTS / "demo.png"
    shot.unlink(missing_ok=True)
    environment = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    result = subprocess.run(
        [sys.executable, str(DEMO), "--duration", "12"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert (
        "demo: a prompt asks whether browser may connect to ads.tracker.example: answer it in "
        "the prompt window" in lines
    ), result.stdout
    assert any(line.endswith("test-artifacts/demo.png") for line in lines)
    assert "INFO" not in result.stderr and "Traceback" not in result.stderr, "a quiet start"
    image = QImage(str(shot))
    assert not image.isNull()
    assert distinct_colors(image) > 10
    # Everything the demo started is gone: its namespaces and daemons.
    assert subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout == ""
