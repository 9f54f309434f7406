"""The helper's SQLite store: rules, settings, alerts, subscriptions."""
