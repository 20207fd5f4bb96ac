"""Use cases: the message bus, its handlers and the ports they need."""
