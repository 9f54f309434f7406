"""Hash pins: changed binaries noticed (at a connection or on disk), alerts, package
verification."""
