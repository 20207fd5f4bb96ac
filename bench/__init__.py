"""Concord's benchmarks that measure matching quality: kept in the repository, not the product.

Nothing in ``hub``, ``matching``, ``stewardship``, ``connectors`` or ``migrations`` imports this
package at import time; ``concord bench match`` and ``concord bench onboard`` import it when they
run, from a checkout (an installed wheel does not ship it).
"""
