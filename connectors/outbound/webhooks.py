"""One webhook attempt: signed, aimed at a checked address, under one deadline.

``WebhookSender`` keeps, per subscription and slot of its window, one kept-alive connection:
plain ``http://`` receivers through the lean client of ``connectors.outbound.http1``, TLS ones
through an ``httpx.AsyncClient`` (HTTP/2 where the receiver offers it); so one receiver's
connections, slow or dead, are never another's. Each request runs under one
deadline that covers connect, send and read together (``asyncio.timeout``): httpx's own
timeouts count per phase and per chunk, so a receiver that drips its answer a byte at a time
could hold a request for ever. Whatever fails while a request is built or sent is that
delivery's failed attempt, never the worker's. The worker that feeds the sender is
``connectors.outbound.worker``.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import random
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx

from connectors.outbound import routing, signing, targets
from connectors.outbound.http1 import Http1Slot
from hub import __version__
from hub.config import Settings
from hub.services.delivery_ports import RESPONSE_KEPT, Due, Outcome, Subscription

log = logging.getLogger("concord.webhooks")
USER_AGENT = f"concord/{__version__}"
LOOKUPS = 2  # threads per subscription resolving its host name (``WebhookSender.lookups``)

Answer = tuple[int | None, str | None, str]  # HTTP status, Retry-After, start of the body


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


@functools.lru_cache(maxsize=1024)
def _pinned_without_dns(url: str, policy: targets.Policy) -> targets.Pinned | None:
    """The checked target of a URL whose host is an address, kept: with no lookup the answer
    depends on the text and the policy alone, and working it out again cost each request a
    URL parse and an address check. None: a name, resolved (on the subscription's own
    threads, ``WebhookSender.lookups``) and checked again at every request: its addresses may
    change. A refused URL raises each time (``lru_cache`` keeps no exception)."""
    if _numeric_host(url):
        return targets.pin(url, policy)
    return None


def _numeric_host(url: str) -> bool:
    """Whether the URL's host is an address already, so checking it needs no DNS lookup."""
    try:
        ipaddress.ip_address(urlsplit(url).hostname or "")
    except ValueError:
        return False
    return True


class WebhookSender:
    """Sends one delivery at a time per call; many calls run at once on one event loop."""

    def __init__(self, settings: Settings, personal_fields: Mapping[str, frozenset[str]]) -> None:
        self.settings = settings
        self.personal_fields = personal_fields
        self.deadline = settings.webhook_timeout_seconds
        self.policy = settings.webhook_policy
        self._tls: dict[tuple[str, int], httpx.AsyncClient] = {}
        self._plain: dict[tuple[str, int], Http1Slot] = {}
        self._lookups: dict[str, ThreadPoolExecutor] = {}

    def client(self, sub: Subscription, slot: int) -> httpx.AsyncClient:
        """The TLS connection of one slot of the subscription's window, kept alive."""
        client = self._tls.get((sub.id, slot))
        if client is None:
            client = httpx.AsyncClient(
                http2=True,
                timeout=self.deadline,
                follow_redirects=False,
                limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                headers={"user-agent": USER_AGENT, "content-type": "application/json"},
            )
            self._tls[(sub.id, slot)] = client
        return client

    def plain(self, sub: Subscription, slot: int) -> Http1Slot:
        """The plain-HTTP connection of one slot of the subscription's window, kept alive."""
        return self._plain.setdefault((sub.id, slot), Http1Slot(USER_AGENT))

    def lookups(self, sub: Subscription) -> ThreadPoolExecutor:
        """The threads that resolve the subscription's host name: its own, not the event
        loop's shared pool. A lookup blocks its thread, and one that hangs keeps it past the
        request's deadline: on the shared pool (six threads on two cores) a receiver whose DNS
        hangs took every thread, and every other subscriber with a host name timed out."""
        pool = self._lookups.get(sub.id)
        if pool is None:
            pool = self._lookups[sub.id] = ThreadPoolExecutor(LOOKUPS, f"concord-dns-{sub.name}")
        return pool

    async def forget(self, sub_id: str) -> None:
        """Close a subscription's connections (it was paused, disabled or deleted)."""
        # before the first await: a request of the subscription, back meanwhile, gets a new
        # pool rather than one shut down under it; a lookup queued here still runs and ends
        pool = self._lookups.pop(sub_id, None)
        if pool is not None:  # a hung lookup's thread ends when the lookup does
            pool.shutdown(wait=False)
        for key in [k for k in self._plain if k[0] == sub_id]:
            self._plain.pop(key).close()
        for key in [k for k in self._tls if k[0] == sub_id]:
            await self._tls.pop(key).aclose()

    async def close(self) -> None:
        for sub_id in {k[0] for k in [*self._plain, *self._tls]} | set(self._lookups):
            await self.forget(sub_id)

    async def send(self, item: Due, slot: int = 0) -> Outcome:
        """One attempt of one delivery, and what it came to."""
        started = datetime.now(UTC)
        try:
            async with asyncio.timeout(self.deadline):
                status, retry_after, response = await self._post(item, slot, started)
        except TimeoutError:
            status, retry_after = None, None
            response = f"no answer within {self.deadline:g} s (connect, send and read together)"
        except Exception as exc:
            status, retry_after, response = None, None, f"{type(exc).__name__}: {exc}"
        return self.outcome(item, started, status, retry_after, response)

    async def _post(self, item: Due, slot: int, now: datetime) -> Answer:
        sub = item.subscription
        target = _pinned_without_dns(sub.url, self.policy)
        if target is None:  # a DNS lookup blocks: off the event loop, inside the deadline
            loop = asyncio.get_running_loop()
            target = await loop.run_in_executor(
                self.lookups(sub), targets.pin, sub.url, self.policy
            )
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
        if target.url.startswith("http://"):
            answer = await self.plain(sub, slot).post(
                target.url, headers.pop("host", None), headers, body
            )
            return answer.status, answer.headers.get("retry-after"), answer.text
        extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else None
        try:
            async with self.client(sub, slot).stream(
                "POST", target.url, content=body, headers=headers, extensions=extensions
            ) as r:
                return r.status_code, r.headers.get("retry-after"), await _read_some(r)
        except httpx.HTTPError as exc:
            return None, None, f"{type(exc).__name__}: {exc}"

    def outcome(
        self,
        item: Due,
        started: datetime,
        status: int | None,
        retry_after: str | None,
        response: str,
    ) -> Outcome:
        """Delivered (2xx), gone (410), or failed: retried on the schedule, dead after it."""
        sub, s = item.subscription, self.settings
        at = datetime.now(UTC)
        kind, retry_at = "delivered", None
        if status is not None and 200 <= status < 300:
            pass
        elif status == 410:
            kind = "gone"
        else:
            delay = next_delay(
                item.attempts + 1,
                s.retry_delays,
                s.webhook_retry_jitter,
                retry_after_seconds(retry_after, at),
                s.webhook_retry_after_max_seconds,
            )
            kind = "dead" if delay is None else "pending"
            retry_at = None if delay is None else at + timedelta(seconds=delay)
        _log(item, kind, status, (at - started).total_seconds())
        return Outcome(item.delivery_id, sub.id, kind, status, response, at, retry_at)


def _log(item: Due, kind: str, status: int | None, seconds: float) -> None:
    sub = item.subscription
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
            "ms": round(seconds * 1000, 1),
        },
    )


async def _read_some(response: httpx.Response) -> str:
    """The start of a receiver's answer: enough to see why it failed, never all of a huge one."""
    kept = b""
    async for chunk in response.aiter_bytes():
        kept += chunk
        if len(kept) >= RESPONSE_KEPT:
            break
    return kept[:RESPONSE_KEPT].decode("utf-8", "replace")
