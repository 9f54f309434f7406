"""Blocklist subscriptions: what they are, where lists come from, and their updates."""
