"""The test harness's real components work, and would fail without them."""

import socket

import dbus
import pytest

from tests.fixtures.qml import distinct_colors, screenshot

POLKIT = ("org.freedesktop.PolicyKit1", "/org/freedesktop/PolicyKit1/Authority")


def test_netns_is_isolated_and_reaches_its_peer(netns):
    # A fresh namespace has its own empty firewall...
    assert "-A " not in netns.host.run("iptables-save").stdout
    assert netns.host.run("nft", "list", "ruleset").stdout.strip() == ""
    # ...and its veth link carries IPv4 and IPv6 to the peer.
    netns.host.run("ping", "-c1", "-W2", netns.peer_v4)
    netns.host.run("ping", "-6", "-c1", "-W2", netns.peer_v6)
    # The namespace's addresses exist only inside it.
    with pytest.raises(OSError):
        socket.create_server((netns.host_v4, 0))


def test_netns_runs_python_callables_inside(netns):
    def bound_address(address):
        with socket.create_server((address, 0)) as server:
            return server.getsockname()[0]

    assert netns.host.call(bound_address, netns.host_v4) == netns.host_v4
    with netns.peer.entered():
        server = socket.create_server((netns.peer_v4, 0))
    # The socket stays in the peer namespace after the thread has left it.
    assert server.getsockname()[0] == netns.peer_v4
    server.close()


def _check(bus, action):
    connection = bus.connect()
    authority = dbus.Interface(
        connection.get_object(*POLKIT), "org.freedesktop.PolicyKit1.Authority"
    )
    subject = (
        "system-bus-name",
        {"name": dbus.String(connection.get_unique_name(), variant_level=1)},
    )
    granted, _challenge, _details = authority.CheckAuthorization(
        subject, action, dbus.Dictionary({}, signature="ss"), 0, ""
    )
    connection.close()
    return bool(granted)


def test_polkitd_grants_and_denies_by_the_test_rules(system_bus, polkitd):
    polkitd(grant=["io.github.netwarden.monitor"], deny=["io.github.netwarden.settings"])
    assert _check(system_bus, "io.github.netwarden.monitor") is True
    assert _check(system_bus, "io.github.netwarden.settings") is False


def test_system_bus_without_polkitd_cannot_authorize(system_bus):
    with pytest.raises(dbus.DBusException) as error:
        _check(system_bus, "io.github.netwarden.monitor")
    assert error.value.get_dbus_name() == "org.freedesktop.DBus.Error.ServiceUnknown"


def test_kirigami_window_renders_offscreen(qml_engine, qtbot):
    qml_engine.loadData(
        b"""
        import QtQuick
        import QtQuick.Controls as Controls
        import org.kde.kirigami as Kirigami
        Kirigami.ApplicationWindow {
            width: 480; height: 320; visible: true
            pageStack.initialPage: Kirigami.Page {
                title: "Fixture"
                Controls.Button { text: "Hello"; anchors.centerIn: parent }
            }
        }
        """
    )
    (window,) = qml_engine.rootObjects()
    qtbot.waitExposed(window)
    image = screenshot(window, "fixture-kirigami")
    assert image.width() == 480
    assert distinct_colors(image) > 10
