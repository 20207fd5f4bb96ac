"""The read side's one door for the API, the CLI and the metrics: what they show, by name.
Plain selects, no business rules (docs/architecture.md, "The parts").

The selects live in ``hub.store.read`` (one module per subject, which the steward pages read
too) and, for the listings that sit beside the tables they read, in the onboarding,
project-setup and delivery modules; this module names them all, so that the API and the
metrics read the store through it.
"""

from __future__ import annotations

from hub.store.deliveries import get_subscription, list_deliveries, list_subscriptions
from hub.store.deliveries import state as delivery_state
from hub.store.onboarding import list_runs, run_status
from hub.store.project_setup import list_exceptions, list_shells
from hub.store.read.candidates import listing as candidates
from hub.store.read.golden import (
    golden_history,
    golden_per_domain,
    golden_view,
    search_golden,
    xref_view,
)
from hub.store.read.kpis import all_kpis, delivery_latency, integration_failures, setup_cycle
from hub.store.read.operations import backlog, counts, dead_letter, dead_letters, feed

__all__ = [
    "all_kpis",
    "backlog",
    "candidates",
    "counts",
    "dead_letter",
    "dead_letters",
    "delivery_latency",
    "delivery_state",
    "feed",
    "get_subscription",
    "golden_history",
    "golden_per_domain",
    "golden_view",
    "integration_failures",
    "list_deliveries",
    "list_exceptions",
    "list_runs",
    "list_shells",
    "list_subscriptions",
    "run_status",
    "search_golden",
    "setup_cycle",
    "xref_view",
]
