"""What the two web entry points share (the HTTP API in ``hub.api`` and the steward site in
``stewardship``): the hub of the running app, read sessions, path types. Neither imports the
other (docs/architecture.md, "The parts")."""
