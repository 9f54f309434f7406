"""The D-Bus API: one exported object assembled from one class per concern, the polkit
authorization decorator, errors and peers."""
