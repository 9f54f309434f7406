"""`LiveSettings`: the settings in force, and changing them (validated, stored, told)."""

from collections.abc import Mapping
from typing import Any

from netwarden_helper.policy.settings import Settings, updated
from netwarden_helper.runtime.events import Event
from netwarden_helper.storage.store import Store


class LiveSettings:
    """The current `Settings`; parts read `current` when they need a value."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.current: Settings = store.settings()
        self.changed: Event[[Settings]] = Event()

    def update(self, values: Mapping[str, Any]) -> Settings:
        """Validate, store and apply new values (`SettingsError` changes nothing)."""
        settings = updated(self.current, values)
        self._store.save_settings(settings)
        self.current = settings
        self.changed.emit(settings)
        return settings
