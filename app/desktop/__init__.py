"""The desktop around the window: the prompt window, the tray icon, notifications."""
