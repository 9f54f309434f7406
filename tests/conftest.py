"""Fixtures with real components; see docs/ARCHITECTURE.md, "Test tiers".

The suite runs as root inside the reference rootfs (`make test`), in namespaces of its
own; nothing here touches the host's network, buses or files.
"""

import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

# Qt reads these when it starts: set them before any test imports PySide6.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_QUICK_CONTROLS_STYLE", "org.kde.desktop")
os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="netwarden-xdg-"))

from netwarden_helper.data_plane.plane import OBJECT
from netwarden_helper.policy.settings import updated
from netwarden_helper.storage.store import Store
from tests.fixtures import netns as netns_fixture
from tests.fixtures import polkit as polkit_fixture
from tests.fixtures.api import ApiClient
from tests.fixtures.helper import running_helper
from tests.fixtures.inprocess import HelperThread
from tests.fixtures.packaging import build_deb
from tests.fixtures.routing import Routed, routed_client
from tests.fixtures.system_bus import SystemBus
from tests.fixtures.system_bus import system_bus as start_system_bus
from tests.fixtures.users import effective_user


@pytest.fixture
def netns() -> Iterator[netns_fixture.Sandbox]:
    """A host namespace and a peer namespace joined by veth (see fixtures/netns.py)."""
    with netns_fixture.sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def routed(netns: netns_fixture.Sandbox) -> Iterator[Routed]:
    """A client namespace whose traffic `netns.host` forwards to the peer (see
    fixtures/routing.py)."""
    with routed_client(netns) as client:
        yield client


@pytest.fixture
def system_bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[SystemBus]:
    """A private system bus; DBUS_SYSTEM_BUS_ADDRESS points at it during the test."""
    with start_system_bus() as bus:
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address)
        yield bus


@pytest.fixture
def polkitd(system_bus: SystemBus) -> Iterator[Callable[..., subprocess.Popen]]:
    """Start the real polkitd: `polkitd(grant=[actions], deny=[actions], slow=seconds)`."""
    with ExitStack() as stack:

        def start(
            grant: tuple[str, ...] = (), deny: tuple[str, ...] = (), slow: float = 0
        ) -> subprocess.Popen:
            rules_js = polkit_fixture.rules(grant, deny, slow)
            return stack.enter_context(polkit_fixture.polkitd(system_bus, rules_js))

        yield start


@pytest.fixture(scope="session")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make deb`'s package, built once for the tests that install it."""
    return build_deb(tmp_path_factory.mktemp("dist"))


@pytest.fixture
def rules_d(tmp_path: Path) -> Path:
    """The administrator's rules folder the `helper` watches (the rootfs's /etc is not)."""
    folder = tmp_path / "etc" / "rules.d"
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def blocklists_dir(tmp_path: Path) -> Path:
    """The folder the `helper` reads local blocklists from (the rootfs's /etc is not)."""
    folder = tmp_path / "etc" / "blocklists"
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def helper(
    system_bus: SystemBus,
    netns: netns_fixture.Sandbox,
    tmp_path: Path,
    rules_d: Path,
    blocklists_dir: Path,
) -> Iterator[subprocess.Popen]:
    """netwarden-helper running in the `netns` host namespace on the private system bus."""
    with running_helper(system_bus, netns.host, tmp_path / "state", f"--rules-dir={rules_d}",
                        f"--blocklists-dir={blocklists_dir}") as process:  # fmt: skip
        yield process


@pytest.fixture
def helper_thread(
    netns: netns_fixture.Sandbox, tmp_path: Path
) -> Iterator[Callable[..., HelperThread]]:
    """Start a real Helper in a thread inside `netns.host`: `helper_thread(prompter=True,
    resolv_conf=None, bpf_cgroup=None, bpf_object=OBJECT, **settings)` (`resolv_conf`: the
    system's DNS servers, none by default; `bpf_cgroup`: a cgroup of the test's own for the
    eBPF data plane, else /proc attribution); stopped (netfilter rules removed) after."""
    started: list[HelperThread] = []

    def start(
        prompter: bool = True,
        resolv_conf: Path | None = None,
        bpf_cgroup: Path | None = None,
        bpf_object: Path = OBJECT,
        **settings: object,
    ) -> HelperThread:
        state_dir = tmp_path / "state"
        store = Store(state_dir)
        store.save_settings(updated(store.settings(), settings))
        store.close()
        thread = HelperThread(
            netns.host, state_dir, prompter, resolv_conf, bpf_cgroup, bpf_object
        ).start()
        started.append(thread)
        return thread

    yield start
    for thread in started:
        thread.stop()


@pytest.fixture
def qml_engine(qapp: object) -> Iterator[object]:
    """A QQmlApplicationEngine (offscreen, org.kde.desktop style) that finds our QML module."""
    from PySide6.QtQml import QQmlApplicationEngine

    from netwarden.main import qml_import_dir

    engine = QQmlApplicationEngine()
    engine.addImportPath(os.fspath(qml_import_dir()))
    yield engine
    for window in engine.rootObjects():
        window.close()
    engine.deleteLater()


@pytest.fixture
def root(system_bus: SystemBus, helper: subprocess.Popen) -> Iterator[ApiClient]:
    """A root connection to the running helper (polkitd authorizes root for everything)."""
    client = ApiClient(system_bus, uid=0)
    yield client
    client.close()


@pytest.fixture
def app_client() -> Iterator[Callable[[], object]]:
    """Connect like the app in a user session (as nobody) to the private system bus;
    every connection is closed after the test, so no late bus callback reaches a window
    that is gone."""
    from netwarden.client.helper_client import HelperClient

    clients = []

    def connect() -> HelperClient:
        with effective_user():
            clients.append(HelperClient.on_system_bus())
        return clients[-1]

    yield connect
    for client in clients:
        client.close()


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind() -> Iterator[None]:
    """After the suite: no network namespace, bus or polkitd of ours is still there."""
    yield
    leftovers = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not leftovers.strip(), f"network namespaces left behind: {leftovers}"
    daemons = subprocess.run(
        ["pgrep", "-a", "-x", "dbus-daemon|polkitd"], capture_output=True, text=True
    ).stdout
    assert not daemons.strip(), f"daemons left behind: {daemons}"
