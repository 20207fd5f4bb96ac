"""Test harnesses: the Kafka-protocol broker, throwaway PostgreSQL
clusters, the steward page's helpers."""
