"""`python3 -m netwarden_helper` runs the helper, like the `netwarden-helper` command."""

from netwarden_helper.main import main

raise SystemExit(main())
