"""What a serving hub says of its own work on ``/metrics``, for the benchmarks that drive it."""

from __future__ import annotations

import httpx


def served_batches(base: str) -> tuple[float, float]:
    """Apply batches a serving hub has counted so far, and the seconds they took (its
    ``/metrics``; zero where its appliers run apart and report nowhere)."""
    found = {"count": 0.0, "sum": 0.0}
    for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        name, _, value = line.partition(" ")
        for part in found:
            if name == f"concord_apply_batch_seconds_{part}":
                found[part] = float(value)
    return found["count"], found["sum"]


def batches_since(before: tuple[float, float], base: str) -> tuple[float, float]:
    """The batches, and their seconds, counted since ``before``."""
    count, seconds = served_batches(base)
    return count - before[0], seconds - before[1]
