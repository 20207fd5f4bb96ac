"""The hub's domain: plain Python, no framework, nothing else of the project."""
