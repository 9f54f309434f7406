"""Where in the world: an offline IP-to-location database (MMDB), kept current like a
blocklist, and look-ups that never leave the machine."""
