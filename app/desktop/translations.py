"""`LocalizedContext`: the i18n functions KDE's QML components call (`i18n`, `i18nc`,
`i18nd`, `i18ndc`, `i18ndp`), as KI18n's `KLocalizedContext` provides them to C++ apps.

Kirigami Addons' FormCard calls them unqualified; without them each call is a
ReferenceError and the text stays empty. Netwarden ships no translations, so the texts
are given back in English with their `%1`, `%2`, ... arguments filled in (and for the
plural form, the number choosing singular or plural).
"""

from typing import Any

from PySide6.QtCore import QObject, Slot
from PySide6.QtQml import QQmlEngine

_NOTHING = object()


def filled(text: str, *args: Any) -> str:
    """`text` with %1, %2, ... replaced by `args` (the highest number first, so %1 does
    not eat the start of %10)."""
    values = [arg for arg in args if arg is not _NOTHING]
    for number in range(len(values), 0, -1):
        text = text.replace(f"%{number}", str(values[number - 1]))
    return text


class LocalizedContext(QObject):
    """Set as the root context object: its slots are callable from any QML file."""

    @Slot(str, result=str)
    @Slot(str, "QVariant", result=str)
    @Slot(str, "QVariant", "QVariant", result=str)
    def i18n(self, text: str, a: Any = _NOTHING, b: Any = _NOTHING) -> str:
        return filled(text, a, b)

    @Slot(str, str, result=str)
    @Slot(str, str, "QVariant", result=str)
    @Slot(str, str, "QVariant", "QVariant", result=str)
    def i18nc(self, _context: str, text: str, a: Any = _NOTHING, b: Any = _NOTHING) -> str:
        return filled(text, a, b)

    @Slot(str, str, result=str)
    @Slot(str, str, "QVariant", result=str)
    @Slot(str, str, "QVariant", "QVariant", result=str)
    def i18nd(self, _domain: str, text: str, a: Any = _NOTHING, b: Any = _NOTHING) -> str:
        return filled(text, a, b)

    @Slot(str, str, str, result=str)
    @Slot(str, str, str, "QVariant", result=str)
    @Slot(str, str, str, "QVariant", "QVariant", result=str)
    def i18ndc(
        self, _domain: str, _context: str, text: str, a: Any = _NOTHING, b: Any = _NOTHING
    ) -> str:
        return filled(text, a, b)

    @Slot(str, str, str, int, result=str)
    @Slot(str, str, str, int, "QVariant", result=str)
    def i18ndp(
        self, _domain: str, singular: str, plural: str, count: int, a: Any = _NOTHING
    ) -> str:
        return filled(singular if count == 1 else plural, count, a)


def install(engine: QQmlEngine) -> None:
    """Give `engine`'s QML the i18n functions (once)."""
    context = engine.rootContext()
    if context.contextObject() is None:
        context.setContextObject(LocalizedContext(engine))
