"""Concord: a change-data-capture master data hub."""

__version__ = "0.1.0"
