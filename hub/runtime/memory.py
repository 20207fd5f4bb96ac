"""The collector's settings for a process that applies, serves or delivers for a long time.

Python's cyclic collector walks every tracked object of a generation each time it runs. A
hub process holds a few hundred thousand objects from its imports (SQLAlchemy's and
pydantic's schemas, FastAPI's routes, the matcher's tables) that live as long as the process,
and the apply path allocates a few million containers a batch, most freed by reference counts.
With the defaults (a young collection every 700 allocations, the old generation walked again
whenever it grew by a quarter) the collector took 15-25% of an applier's CPU: `concord bench
apply`'s data, 20,000 changes, ~950/s before and ~1,150/s after on SQLite, ~790 → ~1,070/s on
PostgreSQL, with the same peak memory (docs/architecture.md, "Speed").

So, once the process has started: what is alive then is frozen (never walked again; it
would never be freed anyway), and the young generation is collected every 500,000
allocations. Cycles are still collected, only less often; the old generations keep their
default ratios.

Why 500,000 and not the 50,000 first chosen: an applier's candidate cache and a batch's
working set are hundreds of thousands of containers that live for a batch or longer, and
every young collection walked the ones made since the last, every tenth walked them all
again. In an onboarding commit at a million golden clients each applier spent 12-14 s of
its ~110 s in the collector (146 young, 13 middle and one full collection, measured with
``gc.callbacks``); at 500,000 the matching processes' CPU fell from 144-152 s to 128-135 s
and the commit from 121.7-126.9 s to 110.9-116.8 s (one more run stalled on the host at
200 s with the CPU of the others), and ``bench apply``'s peak memory rose from 225 to 245 MB
(docs/benchmarks/onboard-1m-100k-gc-2026-12-06.txt).
"""

from __future__ import annotations

import gc

YOUNG = 500_000
_settled = False


def settle() -> None:
    """After the process has imported and built what it keeps (its hub, its app), before
    its loop starts. Only the first call acts: a command run inside another process (a test
    through Typer's runner) must not freeze that process's short-lived objects for good."""
    global _settled
    if _settled:
        return
    _settled = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, 10, 10)
