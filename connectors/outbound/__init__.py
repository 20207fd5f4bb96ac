"""Outbound connectors: golden-record changes out to subscribers (webhooks; Kafka later)."""
