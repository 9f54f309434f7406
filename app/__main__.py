"""`python3 -m netwarden` runs the app, like the `netwarden` command."""

from netwarden.main import main

raise SystemExit(main())
