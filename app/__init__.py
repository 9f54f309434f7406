"""netwarden: the desktop app of Netwarden (PySide6 + QML/Kirigami).

It runs unprivileged and does everything through the helper's D-Bus API.
"""

__version__ = "0.1.0"
