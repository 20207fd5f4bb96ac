"""The ``concord`` command line: one module per command group (``main`` holds the
everyday commands and the group itself)."""

from hub.cli.main import app, main

__all__ = ["app", "main"]
