"""FastAPI routers for machines: ingest, golden records, xref, feed, health."""
