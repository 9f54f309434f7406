"""`HelperBound`: the base of the app's objects that follow the helper on the bus.

Such an object loads what it shows from the helper whenever the helper appears (at the
start, and again after each restart) and drops it when the helper goes away. The watch
on the helper's bus name that tells it so is kept here, once.
"""

from netwarden.client.helper_client import HelperClient


class HelperBound:
    """Mixed into a QObject that follows the helper.

    The object calls `_bind_helper(client)` last in its `__init__`; from then on
    `_helper_appeared()` runs each time the helper appears and `_helper_gone()` each time
    it goes, with `_helper_running` already telling which.
    """

    _client: HelperClient
    _helper_running = False

    def _bind_helper(self, client: HelperClient) -> None:
        """Talk to the helper through `client` and follow it from now on."""
        self._client = client
        client.watch_helper(self._on_helper_presence)

    def _on_helper_presence(self, running: bool) -> None:
        self._helper_running = running
        if running:
            self._helper_appeared()
        else:
            self._helper_gone()

    def _helper_appeared(self) -> None:
        """The helper is there, for the first time or again: load from it."""
        raise NotImplementedError

    def _helper_gone(self) -> None:
        """The helper went away: drop what came from it (by default, keep it all)."""
