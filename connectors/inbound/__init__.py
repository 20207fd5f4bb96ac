"""Inbound connectors: source changes into the hub's inbox (Debezium, PostgreSQL logical decoding).

Each connector turns a source row into the hub's ``Change`` through a YAML mapping
(``mappings``) and hands a batch to the bus as ``AcceptChanges``, the same door the HTTP API uses.
"""
