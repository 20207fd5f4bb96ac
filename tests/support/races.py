"""One way to stage a race between an apply batch and another write path: the first time the
batch (on the main thread) reaches a chosen method, the other action starts in a thread and
the batch waits a moment for it before it goes on. The action either commits then (it needs
nothing the batch holds) or waits for the batch's locks, which is what each race test checks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest


@dataclass
class Interleaved:
    """The other action's thread, what it returned and what it raised (a failed action is
    reported by the test, not lost in the thread)."""

    threads: list[threading.Thread] = field(default_factory=list)
    returned: list[Any] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    restore: Callable[[], None] = lambda: None  # the method as it was, before the test ends

    def join(self, timeout: float = 30) -> None:
        for thread in self.threads:
            thread.join(timeout)

    @property
    def ran(self) -> bool:
        return bool(self.threads)


def when_batch_reaches(
    monkeypatch: pytest.MonkeyPatch,
    owner: type,
    method: str,
    action: Callable[[], Any],
    wait: float = 3,
) -> Interleaved:
    """Run ``action`` in a thread when the batch first calls ``owner.method``; the batch
    waits up to ``wait`` seconds for it, then calls the method as it would have."""
    original = getattr(owner, method)
    out = Interleaved()

    def run() -> None:
        try:
            out.returned.append(action())
        except BaseException as exc:
            out.errors.append(exc)

    def interleaved(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not out.threads and threading.current_thread() is threading.main_thread():
            thread = threading.Thread(target=run)
            out.threads.append(thread)
            thread.start()
            thread.join(timeout=wait)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(owner, method, interleaved)
    out.restore = lambda: monkeypatch.setattr(owner, method, original)
    return out
