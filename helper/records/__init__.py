"""What happened: decided flows and bytes into the history database, conntrack accounting,
the systemd journal."""
