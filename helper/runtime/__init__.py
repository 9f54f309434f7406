"""The runtime every stage schedules on: the GLib loop and inotify folder watches."""
