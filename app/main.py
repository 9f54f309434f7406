"""`netwarden`: the desktop app's entry point (QApplication, QML engine, main window)."""

import argparse
import os
import sys
from pathlib import Path

from PySide6.QtCore import QAbstractEventDispatcher
from PySide6.QtGui import QIcon
from PySide6.QtQml import QQmlApplicationEngine
from PySide6.QtWidgets import QApplication

from netwarden import __version__
from netwarden.helper_client import HelperClient
from netwarden.helper_state import HelperState

APP_ID = "io.github.netwarden"


def qml_import_dir() -> Path:
    """The folder holding the `Netwarden` QML module: the checkout's or the installed one."""
    candidates = [
        Path(__file__).resolve().parent.parent / "qml",  # running from the checkout
        Path(sys.prefix) / "share" / "netwarden" / "qml",  # make install PREFIX=/usr
        Path("/usr/local/share/netwarden/qml"),  # make install (default PREFIX)
    ]
    for candidate in candidates:
        if (candidate / "Netwarden" / "qmldir").is_file():
            return candidate
    return candidates[1]


def load_main_window(engine: QQmlApplicationEngine, helper: HelperState) -> None:
    """Load the main window into `engine`, showing `helper`."""
    engine.addImportPath(os.fspath(qml_import_dir()))
    engine.setInitialProperties({"helper": helper})
    engine.loadFromModule("Netwarden", "Main")
    if not engine.rootObjects():
        raise RuntimeError("the main window's QML failed to load; see the messages above")


def main(argv: list[str] | None = None) -> int:
    """Run the app until its window closes."""
    argv = sys.argv if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="netwarden",
        description="Netwarden: see and decide which programs may connect to the network.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.parse_known_args(argv[1:])  # Qt takes its own options (-platform, ...) itself.

    os.environ.setdefault("QT_QUICK_CONTROLS_STYLE", "org.kde.desktop")
    app = QApplication(argv)
    app.setApplicationName("netwarden")
    app.setApplicationDisplayName("Netwarden")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(APP_ID)
    app.setWindowIcon(QIcon.fromTheme(APP_ID))
    if not QAbstractEventDispatcher.instance().inherits("QEventDispatcherGlib"):
        print("netwarden: Qt must run its GLib event loop (unset QT_NO_GLIB)", file=sys.stderr)
        return 1

    helper = HelperState(HelperClient.on_system_bus())
    engine = QQmlApplicationEngine()
    try:
        load_main_window(engine, helper)
    except RuntimeError as exc:
        print(f"netwarden: {exc}", file=sys.stderr)
        return 1
    return app.exec()
