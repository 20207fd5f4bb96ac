"""How much password hashing the login form may cause (issue 19, item 5).

Every login attempt costs one argon2 verification, by design (an unknown name costs what a
known one does). Without a bound, forty clients posting logins hashed on forty worker threads
at once: the two cores went to argon2 and ``/healthz`` took seconds. So attempts wait on the
event loop for one of a few hashing slots, holding no thread meanwhile, and an address whose
attempts keep failing is told to wait before it costs any hashing at all, whatever names it
tries, so the answer says nothing about which names exist.

The per-address count is per process: it bounds the work one process does for one address;
the per-account lock on the steward's row is what stops guessing across processes.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque

import anyio

HASHING_AT_ONCE = 2  # about the cores a small API host has for it
ADDRESS_FAILURES = 30  # failed attempts per address and window before it must wait
WINDOW_SECONDS = 60.0
ADDRESSES_KEPT = 10_000  # beyond this, the stalest addresses are forgotten


class LoginThrottle:
    def __init__(
        self,
        at_once: int = HASHING_AT_ONCE,
        failures: int = ADDRESS_FAILURES,
        window: float = WINDOW_SECONDS,
    ) -> None:
        self.at_once = at_once
        self.failures = failures
        self.window = window
        self._limiter: anyio.CapacityLimiter | None = None
        self._failed: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    @property
    def hashing(self) -> anyio.CapacityLimiter:
        """Made on first use, inside the running event loop it belongs to."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.at_once)
        return self._limiter

    def retry_after(self, address: str, now: float | None = None) -> int:
        """Seconds the address must wait before its next attempt; 0 when it may go on."""
        now = time.monotonic() if now is None else now
        with self._lock:
            times = self._recent(address, now)
            if len(times) < self.failures:
                return 0
            return max(1, math.ceil(times[0] + self.window - now))

    def failed(self, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._recent(address, now).append(now)
            self._failed[address] = self._failed.pop(address)  # most recent last
            while len(self._failed) > ADDRESSES_KEPT:
                del self._failed[next(iter(self._failed))]

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self._failed.setdefault(address, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times
