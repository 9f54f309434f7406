"""`netwarden`: the desktop app's entry point (QApplication, QML engine, main window)."""

import argparse
import os
import sys
from pathlib import Path

import dbus
from PySide6.QtCore import QAbstractEventDispatcher, QObject
from PySide6.QtGui import QIcon
from PySide6.QtQml import QQmlApplicationEngine
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from netwarden import __version__
from netwarden.client.helper_client import HelperClient
from netwarden.client.helper_state import HelperState
from netwarden.desktop import translations
from netwarden.desktop.notifications import Notifier, session_bus
from netwarden.desktop.prompt_window import PromptWindowController
from netwarden.desktop.tray import Tray
from netwarden.models.alerts import AlertModel
from netwarden.models.blocklists import BlocklistModel
from netwarden.models.connection_map import ConnectionMap
from netwarden.models.connections import ConnectionsModel
from netwarden.models.locations import LocationDatabase
from netwarden.models.preferences import Preferences
from netwarden.models.profile_switches import ProfileSwitchesModel
from netwarden.models.profiles import ProfilesModel
from netwarden.models.prompts import PromptModel
from netwarden.models.rules import RulesModel
from netwarden.models.settings import SettingsModel
from netwarden.models.silent import SilentModel
from netwarden.models.sort_filter import SortFilterModel  # noqa: F401 (a QML type the pages use)
from netwarden.models.traffic import TrafficHistory, TrafficTimeline
from netwarden.models.world_map import WorldMap

APP_ID = "io.github.netwarden"


def qml_import_dir() -> Path:
    """The folder holding the `Netwarden` QML module: the checkout's or the installed one."""
    here = Path(__file__).resolve()
    # PREFIX/lib/python3/dist-packages/netwarden/main.py -> PREFIX (a Flatpak's /app too)
    prefix = here.parents[4] if len(here.parents) > 4 else Path(sys.prefix)
    candidates = [
        here.parent.parent / "qml",  # running from the checkout
        prefix / "share" / "netwarden" / "qml",  # where the package is installed
        Path(sys.prefix) / "share" / "netwarden" / "qml",  # make install PREFIX=/usr
        Path("/usr/local/share/netwarden/qml"),  # make install (default PREFIX)
    ]
    for candidate in candidates:
        if (candidate / "Netwarden" / "qmldir").is_file():
            return candidate
    return candidates[1]


def use_own_icon() -> None:
    """Let Netwarden's icon be found when the app runs from the checkout (installed, the
    hicolor theme has it; from the checkout the window and sidebar would show a blank)."""
    own = Path(__file__).resolve().parent.parent / "icons" / "hicolor" / "scalable" / "apps"
    if own.is_dir() and str(own) not in QIcon.fallbackSearchPaths():
        QIcon.setFallbackSearchPaths([*QIcon.fallbackSearchPaths(), str(own)])


def load_window(engine: QQmlApplicationEngine, name: str, properties: dict) -> QObject:
    """Load window `name` of the Netwarden QML module into `engine`; return it."""
    engine.addImportPath(os.fspath(qml_import_dir()))
    translations.install(engine)
    use_own_icon()
    before = len(engine.rootObjects())
    engine.setInitialProperties(properties)
    engine.loadFromModule("Netwarden", name)
    if len(engine.rootObjects()) == before:
        raise RuntimeError(f"the QML of {name} failed to load; see the messages above")
    return engine.rootObjects()[-1]


def open_prompt_window(
    engine: QQmlApplicationEngine, prompts: PromptModel, preferences: Preferences | None = None
) -> QObject:
    """Load the prompt window for `prompts`; it shows itself when a prompt arrives.
    `preferences` says whether "Only this version" starts checked (default: it does)."""
    window = load_window(engine, "PromptWindow", {"prompts": prompts, "preferences": preferences})
    PromptWindowController(window, prompts)
    return window


def page_models(
    client: HelperClient, parent: QObject, preferences: Preferences | None = None
) -> dict[str, QObject]:
    """The models of the main window's pages, by the window's property names."""
    connections = ConnectionsModel(client, parent)
    locations = LocationDatabase(client, parent)
    return {
        "connections": connections,
        "connectionMap": ConnectionMap(client, connections, parent),
        "worldMap": WorldMap(client, connections, locations, parent),
        "locationDatabase": locations,
        "timeline": TrafficTimeline(client, parent),
        "rules": RulesModel(client, parent),
        "history": TrafficHistory(client, parent),
        "settings": SettingsModel(client, parent),
        "alerts": AlertModel(client, parent),
        "blocklists": BlocklistModel(client, parent),
        "silent": SilentModel(client, parent),
        "profiles": ProfilesModel(client, parent),
        "profileSwitches": ProfileSwitchesModel(client, parent),
        "preferences": preferences or Preferences(parent),
    }


def load_main_window(
    engine: QQmlApplicationEngine, helper: HelperState, models: dict[str, QObject] | None = None
) -> QObject:
    """Load the main window into `engine`, showing `helper` and the pages of `models`
    (`page_models`); without models only the Status page is there."""
    return load_window(engine, "Main", {"helper": helper, **(models or {})})


def build_parser() -> argparse.ArgumentParser:
    """The app's command line (Qt's own options, like -platform, are also accepted)."""
    parser = argparse.ArgumentParser(
        prog="netwarden",
        description="Netwarden: see and decide which programs may connect to the network. "
        "The app talks to netwarden-helper over the system bus; it shows the connections, "
        "asks about new ones, and manages rules, alerts and the traffic history.",
    )
    parser.add_argument(
        "--hidden",
        action="store_true",
        help="start in the tray without opening the window (how it starts at login); "
        "the window opens anyway when there is no tray",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the app until its window closes."""
    argv = sys.argv if argv is None else argv
    args, _ = build_parser().parse_known_args(argv[1:])  # Qt takes its own options itself.

    os.environ.setdefault("QT_QUICK_CONTROLS_STYLE", "org.kde.desktop")
    app = QApplication(argv)
    app.setApplicationName("netwarden")
    app.setApplicationDisplayName("Netwarden")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(APP_ID)
    use_own_icon()
    app.setWindowIcon(QIcon.fromTheme(APP_ID))
    if not QAbstractEventDispatcher.instance().inherits("QEventDispatcherGlib"):
        print("netwarden: Qt must run its GLib event loop (unset QT_NO_GLIB)", file=sys.stderr)
        return 1

    try:
        client = HelperClient.on_system_bus()
    except dbus.DBusException as exc:
        print(f"netwarden: cannot reach the system bus: {exc.get_dbus_message()}", file=sys.stderr)
        return 1
    helper = HelperState(client)
    prompts = PromptModel(client)
    preferences = Preferences(app)
    engine = QQmlApplicationEngine()
    try:
        models = {**page_models(client, app, preferences), "prompts": prompts}
        window = load_main_window(engine, helper, models)
        open_prompt_window(engine, prompts, preferences)
    except RuntimeError as exc:
        print(f"netwarden: {exc}", file=sys.stderr)
        return 1
    try:
        Notifier(client, session_bus(), lambda: preferences.notifications, parent=app)
    except dbus.DBusException as exc:  # no session bus: no notifications, all else works
        print(f"netwarden: no desktop notifications: {exc.get_dbus_message()}", file=sys.stderr)

    def show_window() -> None:
        window.show()
        window.raise_()

    settings = models["settings"]
    assert isinstance(settings, SettingsModel)
    profiles = models["profiles"]
    assert isinstance(profiles, ProfilesModel)
    Tray(helper, prompts, settings, show_window, app.quit, parent=app, profiles=profiles)
    show_main_window(app, window, args.hidden)
    return app.exec()


def show_main_window(app: QApplication, window: QObject, hidden: bool) -> None:
    """Show `window`, unless `hidden` and the desktop shows tray icons. With a tray,
    closing the window keeps the app there to ask about connections; without one (GNOME
    without the AppIndicator extension) closing the window quits, and the window itself
    offers what the tray's menu would (pause prompts, quit)."""
    has_tray = QSystemTrayIcon.isSystemTrayAvailable()
    window.setProperty("hasTray", has_tray)
    app.setQuitOnLastWindowClosed(not has_tray)
    if hidden and has_tray:
        window.hide()
    else:
        window.show()
