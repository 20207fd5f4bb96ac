"""Prometheus metrics: what operations watch to know the hub keeps up and loses nothing.

Counters are fed by the entry points (ingest, the worker) from what the bus returns, so the
services know nothing of Prometheus. Gauges that describe the store (inbox depth, the age of
the oldest pending change, pending candidates, dead letters) are read from the database when
scraped, so they are right whichever process did the work.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from hub.services.apply import ApplyReport
from hub.store import queries
from hub.store.uow import session_factory


class StoreGauges(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with session_factory(self.engine, readonly=True)() as s:
            depth, oldest, candidates, dead = queries.backlog(s)
        lag = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
        yield GaugeMetricFamily("concord_inbox_depth", "Changes waiting to be applied", depth)
        yield GaugeMetricFamily(
            "concord_inbox_lag_seconds", "Age of the oldest change waiting to be applied", lag
        )
        yield GaugeMetricFamily(
            "concord_match_candidates_pending", "Match candidates waiting for a steward", candidates
        )
        yield GaugeMetricFamily("concord_dead_letters", "Dead letters not replayed yet", dead)


class DeliveryGauges(Collector):
    """Per subscription, from the delivery table: what a subscriber has not received yet."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with session_factory(self.engine, readonly=True)() as s:
            states = queries.delivery_state(s)
        families = {
            "lag": GaugeMetricFamily(
                "concord_subscription_lag_events",
                "Events a subscription has not received yet",
                labels=["subscription"],
            ),
            "dead": GaugeMetricFamily(
                "concord_subscription_dead_deliveries",
                "Deliveries that gave up after the last try (replay them)",
                labels=["subscription"],
            ),
            "failed_attempts": GaugeMetricFamily(
                "concord_subscription_failed_attempts",
                "Failed delivery attempts since the subscription was made",
                labels=["subscription"],
            ),
            "last_success": GaugeMetricFamily(
                "concord_subscription_last_success_timestamp_seconds",
                "When a delivery last succeeded (0: never)",
                labels=["subscription"],
            ),
            "active": GaugeMetricFamily(
                "concord_subscription_active",
                "1 when the subscription is sending, 0 when paused or disabled",
                labels=["subscription"],
            ),
        }
        for st in states.values():
            name = [st["name"]]
            families["lag"].add_metric(name, st["lag"])
            families["dead"].add_metric(name, st["dead"])
            families["failed_attempts"].add_metric(name, st["failed_attempts"])
            last = st["last_success_at"]
            families["last_success"].add_metric(name, last.timestamp() if last else 0)
            families["active"].add_metric(name, 1 if st["status"] == "active" else 0)
        yield from families.values()


class KpiGauges(Collector):
    """The business KPIs of the last week (setup cycle) and day (deliveries, failures), from
    the same queries as ``GET /api/v1/kpis`` (:mod:`hub.store.read.kpis`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = datetime.now(UTC)
        with session_factory(self.engine, readonly=True)() as s:
            cycle = queries.setup_cycle(s, now - timedelta(days=7))
            latency = queries.delivery_latency(s, now - timedelta(days=1))
            failures = queries.integration_failures(s, now - timedelta(days=1))
        setup = GaugeMetricFamily(
            "concord_project_setup_seconds",
            "Contracted deal -> shell made, published, joined by PSA (last 7 days)",
            labels=["step", "quantile"],
        )
        for step in ("shell", "published", "linked"):
            for q, label in (("50", "0.5"), ("90", "0.9")):
                # the worst week's of the window: a slow week must show, not be averaged away
                found = [w[f"{step}_p{q}_seconds"] for w in cycle]
                values = [v for v in found if v is not None]
                if values:
                    setup.add_metric([step, label], max(values))
        yield setup
        delivered = GaugeMetricFamily(
            "concord_delivery_latency_ms",
            "Golden change committed -> delivered, per subscription (last 24 h)",
            labels=["subscription", "quantile"],
        )
        for row in latency:
            delivered.add_metric([row["subscription"], "0.5"], row["p50_ms"])
            delivered.add_metric([row["subscription"], "0.99"], row["p99_ms"])
        yield delivered
        dead = GaugeMetricFamily(
            "concord_dead_letter_rate",
            "Dead letters over changes received, per source (last 24 h)",
            labels=["source"],
        )
        totals: dict[str, list[int]] = {}
        for row in failures["sources"]:
            t = totals.setdefault(row["source"], [0, 0])
            t[0] += row["dead_letters"]
            t[1] += row["changes"]
        for source, (n, of) in sorted(totals.items()):
            dead.add_metric([source], n / of if of else 0.0)
        yield dead


class HubMetrics:
    """One registry per app, so building two apps (tests) never clashes."""

    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry()
        self.received = Counter(
            "concord_changes_received",
            "Changes accepted into the inbox",
            ["source"],
            registry=self.registry,
        )
        self.duplicates = Counter(
            "concord_changes_duplicate",
            "Changes acknowledged as duplicates",
            ["source"],
            registry=self.registry,
        )
        self.outcomes = Counter(
            "concord_changes_processed",
            "Changes taken from the inbox, by outcome (applied, stale, dead)",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "concord_apply_batch_seconds",
            "Time to apply one batch of the inbox",
            registry=self.registry,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.registry.register(StoreGauges(engine))
        self.registry.register(DeliveryGauges(engine))
        self.registry.register(KpiGauges(engine))

    def accepted(self, source: str, accepted: int, duplicates: int) -> None:
        self.received.labels(source).inc(accepted)
        if duplicates:
            self.duplicates.labels(source).inc(duplicates)

    def applied(self, report: ApplyReport, seconds: float) -> None:
        for (source, outcome), n in report.by_source.items():
            self.outcomes.labels(source, outcome).inc(n)
        if report.by_source:
            self.batch_seconds.observe(seconds)
