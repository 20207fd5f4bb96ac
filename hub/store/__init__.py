"""Persistence: SQLAlchemy tables, the unit of work, inbox, outbox and feed."""
