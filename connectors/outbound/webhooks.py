"""The webhook delivery worker: a thread inside ``concord serve`` that sends the deliveries.

Each turn: fan the new outbox rows out into deliveries (one short write transaction), read the
due heads (at most one per golden record and subscription), send them concurrently with one
httpx client, and write the outcomes (one short write transaction). All state is in the
database, so a worker killed at any point resumes from it: what was sent but not recorded is
sent again with the same ``webhook-id``.

On PostgreSQL several ``concord serve`` processes may run; one of them delivers (it holds a
session advisory lock, released when its connection dies), the others stand by, because two
senders could overtake each other on the same record. The leader re-checks its lock before
each round and before it writes (``connectors.outbound.leader``).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from sqlalchemy import Engine, func, select

from connectors.outbound import routing, signing, targets
from connectors.outbound.kafka import KafkaPublisher
from connectors.outbound.leader import DeliveryLeader
from hub import __version__
from hub.config import Settings, config_path, load_config
from hub.runtime.background import BackgroundLoop
from hub.store import deliveries
from hub.store.deliveries import Due, Outcome
from hub.store.tables import OutboxRow, SubscriptionRow
from hub.store.uow import session_factory

log = logging.getLogger("concord.webhooks")


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds: a number of seconds or an HTTP date; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def next_delay(
    attempts: int,
    schedule: Sequence[float],
    jitter: float,
    retry_after: float | None = None,
    retry_after_max: float = 86_400,
) -> float | None:
    """Seconds to wait after the ``attempts``-th failed try, or None when it was the last.

    The schedule's entry is spread by ±``jitter`` so receivers that come back are not hit by
    every subscriber's retries in the same second; a ``Retry-After`` longer than that wins
    (capped, so a receiver cannot park a delivery for a year).

    Examples:
        >>> next_delay(1, (5, 30), 0)
        5.0
        >>> next_delay(3, (5, 30), 0) is None
        True
    """
    if attempts > len(schedule):
        return None
    delay = float(schedule[attempts - 1]) * random.uniform(1 - jitter, 1 + jitter)
    if retry_after is not None:
        delay = max(delay, min(retry_after, retry_after_max))
    return delay


def _skip(sub: SubscriptionRow, event: dict[str, Any]) -> bool:
    return sub.source is not None and not sub.echo and routing.is_echo(event, sub.source)


class WebhookWorker(BackgroundLoop):
    name = "concord-deliveries"

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        personal_fields: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        """``personal_fields``: per domain, what only subscriptions granted personal fields
        get (default: from the hub's ``concord.yaml``)."""
        super().__init__(settings.delivery_idle_seconds)
        if personal_fields is None:
            personal_fields = load_config(config_path(settings)).personal_fields
        self.personal_fields = personal_fields
        self.engine = engine
        self.settings = settings
        self.schedule = settings.retry_delays
        self.policy = settings.webhook_policy
        self._write = session_factory(engine)
        self._read = session_factory(engine, readonly=True)
        grace = settings.delivery_takeover_seconds
        self.leader = DeliveryLeader(
            engine, settings.webhook_timeout_seconds + 1 if grace is None else grace, self._stop
        )
        self.client = httpx.Client(
            timeout=settings.webhook_timeout_seconds,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=settings.webhook_concurrency * 2),
            headers={"user-agent": f"concord/{__version__}", "content-type": "application/json"},
        )
        self.pool = ThreadPoolExecutor(settings.webhook_concurrency, "concord-webhook")
        # kafka subscriptions; connects on first use
        self.kafka = KafkaPublisher(settings, personal_fields)

    def closed(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()
        self.kafka.close()
        self.leader.release()

    def turn(self) -> int:
        return self.run_once()

    def run_once(self) -> int:
        """One round: fan out, send what is due, record. How many rows were made or sent.

        Only the process holding the leader lock delivers; the others idle and try again.
        """
        if not self.leader.lead():
            return 0
        made = 0
        if self._behind():
            with self._write() as s:
                made = deliveries.fan_out(s, _skip, self.settings.delivery_batch)
                if not self.leader.still_leading():  # a deposed leader moves no cursor
                    s.rollback()
                    return 0
                s.commit()
        with self._read() as s:
            todo = deliveries.due(s, datetime.now(UTC), self.settings.delivery_batch)
        if not todo or not self.leader.still_leading():
            return made
        hooks = [t for t in todo if t.subscription.kind != "kafka"]
        outcomes = list(self.pool.map(self.send, hooks))
        outcomes += self.kafka.send([t for t in todo if t.subscription.kind == "kafka"])
        if not self.leader.still_leading():
            # What was sent was sent: recording it spares the new leader a second send; the
            # retries are the new leader's to schedule.
            outcomes = [o for o in outcomes if o.status == "delivered"]
        with self._write() as s:
            deliveries.record(s, outcomes)
            s.commit()
        return made + len(todo)

    def _behind(self) -> bool:
        """Whether any subscription's cursor is behind the outbox (read-only, so an idle worker
        does not take SQLite's write lock every turn)."""
        with self._read() as s:
            low = s.scalar(select(func.min(SubscriptionRow.cursor)))
            top = s.scalar(select(func.max(OutboxRow.seq)))
        return low is not None and top is not None and top > low

    def send(self, item: Due) -> Outcome:
        """One attempt of one delivery, and what it came to.

        Whatever goes wrong while building or sending this request (a URL a check missed, a
        refused address, a receiver that breaks the client) is this delivery's failed attempt:
        an exception here used to fail the whole round, so every other subscriber's deliveries
        of that round went out again on the next one.
        """
        started = datetime.now(UTC)
        try:
            status, retry_after, response = self._post(item, started)
        except Exception as exc:
            status, retry_after, response = None, None, f"{type(exc).__name__}: {exc}"
        return self._outcome(item, started, status, retry_after, response)

    def _post(self, item: Due, now: datetime) -> tuple[int | None, str | None, str]:
        sub = item.subscription
        target = targets.pin(sub.url, self.policy)
        hidden = routing.hidden_fields(item.payload, sub.personal, self.personal_fields)
        body = routing.body(item.payload, sub.source, hidden)
        secrets = [sub.secret]
        if sub.previous_secret and sub.previous_secret_until and sub.previous_secret_until > now:
            secrets.append(sub.previous_secret)
        headers = signing.headers(secrets, item.event_id, now, body)
        if item.correlation_id:
            headers["x-correlation-id"] = item.correlation_id
        if target.host_header:
            headers["host"] = target.host_header
        extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else None
        try:
            with self.client.stream(
                "POST", target.url, content=body, headers=headers, extensions=extensions
            ) as r:
                return r.status_code, r.headers.get("retry-after"), _read_some(r)
        except httpx.HTTPError as exc:
            return None, None, f"{type(exc).__name__}: {exc}"

    def _outcome(
        self,
        item: Due,
        now: datetime,
        status: int | None,
        retry_after: str | None,
        response: str,
    ) -> Outcome:
        sub = item.subscription
        at = datetime.now(UTC)
        kind = "delivered"
        retry_at = None
        if status is not None and 200 <= status < 300:
            pass
        elif status == 410:
            kind = "gone"
        else:
            delay = next_delay(
                item.attempts + 1,
                self.schedule,
                self.settings.webhook_retry_jitter,
                retry_after_seconds(retry_after, at),
                self.settings.webhook_retry_after_max_seconds,
            )
            kind = "dead" if delay is None else "pending"
            retry_at = None if delay is None else at + timedelta(seconds=delay)
        log.log(
            logging.INFO if kind == "delivered" else logging.WARNING,
            "delivery %s of %s to %r: %s (HTTP %s), attempt %d",
            item.event_id,
            sub.name,
            sub.url,
            kind,
            status,
            item.attempts + 1,
            extra={
                "correlation_id": item.correlation_id,
                "event_id": item.event_id,
                "golden_id": item.golden_id,
                "subscription": sub.name,
                "outcome": kind,
                "http_status": status,
                "attempt": item.attempts + 1,
                "ms": round((at - now).total_seconds() * 1000, 1),
            },
        )
        return Outcome(item.delivery_id, sub.id, kind, status, response, at, retry_at)


def _read_some(response: httpx.Response) -> str:
    """The start of a receiver's answer: enough to see why it failed, never all of a huge one."""
    kept = b""
    for chunk in response.iter_bytes():
        kept += chunk
        if len(kept) >= deliveries.RESPONSE_KEPT:
            break
    return kept[: deliveries.RESPONSE_KEPT].decode("utf-8", "replace")
