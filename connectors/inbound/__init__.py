"""Inbound connectors: files and streams turned into the hub's changes (CSV and JSON lines for
onboarding runs, Debezium, PostgreSQL logical decoding).

Each connector turns a source row into the hub's ``Change`` (through a YAML mapping for the CDC
ones, ``mappings``) and hands a batch to the bus as ``AcceptChanges``, the same door the HTTP
API uses.
"""
