"""What a flow gets: the rules engine and rule book, answers turned into rules, settings,
the administrator's rules.d and blocklist name matching."""
