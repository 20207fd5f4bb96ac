"""Inbound connectors: files and streams turned into the hub's changes."""
