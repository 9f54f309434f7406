"""The app without its helper: every page says plainly that it is not connected and what
to do, instead of empty lists, raw D-Bus errors or an empty graph."""

from netwarden.client.helper_state import HelperState
from netwarden.main import load_main_window, page_models
from tests.fixtures.qml import find_all, text_of
from tests.test_app_pages import trigger

PAGES = ("monitor", "rules", "alerts", "blocklists", "history", "settings")


def shown_texts(item):
    return [
        text_of(i)
        for i in find_all(
            item, "i => i.visible && i.width > 0 && typeof i.text === 'string' && i.text !== ''"
        )
    ]


def test_every_page_says_the_helper_is_not_running_and_how_to_start_it(
    system_bus, qml_engine, app_client, qtbot
):
    client = app_client()
    state = HelperState(client, parent=qml_engine)
    window = load_main_window(qml_engine, state, page_models(client, qml_engine))
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: state.state == "absent", timeout=10_000)
    content = window.contentItem()
    for page in PAGES:
        trigger(window, f"{page}Action")
        qtbot.waitUntil(lambda page=page: window.property("currentPage") == page, timeout=5_000)
        qtbot.wait(300)  # the page's own calls fail meanwhile
        messages = find_all(content, "i => i.objectName === 'notConnected' && i.visible")
        assert len(messages) == 1, page
        (message,) = messages
        assert text_of(message) == "Not connected: the Netwarden helper is not running"
        assert "systemctl start netwarden-helper" in message.property("explanation")
        texts = shown_texts(content)
        for wrong in (
            "No rules yet",
            "No open connections",
            "No alerts",
            "No blocklists",
            "00:00",
            "org.freedesktop",
            "Nothing in this range",
            "Received 0 B",
        ):
            assert not any(wrong in text for text in texts), (page, wrong, texts)
