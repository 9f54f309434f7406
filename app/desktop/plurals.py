"""`EnglishPlurals`: the singular of the app's texts that count something, in English.

A QML text that counts is a numerus text, `qsTr("%n connections written to %1", "", n)`:
a translation gives its forms for each number. Netwarden ships no translation, so
without this the source text would show for every number ("1 connections"). Installed
on the application, this translator gives the singular form for n = 1 (what an English
catalogue made with `lupdate -pluralonly` would); Qt then puts the number for %n.
"""

from PySide6.QtCore import QCoreApplication, QTranslator

SINGULAR = {  # source text (plural) -> its singular
    "%n connections written to %1": "%n connection written to %1",
    "%n rules allowed the old binary": "%n rule allowed the old binary",
    "%1 to %2 %3 (%n hits)": "%1 to %2 %3 (%n hit)",
    "%1 · %n connections": "%1 · %n connection",
    "%n times, last %1": "once, last %1",
}


class EnglishPlurals(QTranslator):
    """Singular forms of `SINGULAR`'s texts; every other text is left as it is."""

    def translate(
        self, context: str, source: str, disambiguation: str | None = None, n: int = -1
    ) -> str | None:
        """The singular of `source` for n = 1; None (a null QString: "not translated
        here", unlike "") for every other text."""
        return SINGULAR.get(source) if n == 1 else None

    def isEmpty(self) -> bool:
        return False


def install() -> None:
    """Install the translator on the running application (once)."""
    app = QCoreApplication.instance()
    if app is not None and app.findChild(EnglishPlurals) is None:
        app.installTranslator(EnglishPlurals(app))
