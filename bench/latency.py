"""Single-record latency: one record's blocking keys, index lookup and scoring, as on ingest.

Resources: synthetic people with realistic collisions (common names, shared postcodes), each
probe a golden person with a typo in the family name and no e-mail or employee id. Clients: the
generated companies of :mod:`bench.companies`, each probe a row of the acquired firm's list
(copies with noise, and new firms). Golden records are indexed first (not timed).
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.companies import generate
from bench.company_parts import typo
from hub.services.linking import MAX_CANDIDATES
from matching import BlockingIndex, FellegiSunterMatcher

__all__ = ["Latency", "measure", "synthetic_people"]

_GIVEN = "james mary john patricia robert jennifer michael linda william elizabeth david barbara "
_GIVEN += "richard susan joseph jessica thomas sarah charles karen olivia liam noah emma ava mia"
_FAMILY = "smith jones williams brown taylor davies wilson evans thomas johnson roberts walker "
_FAMILY += "wright robinson thompson white hughes edwards green hall wood harris lewis martin"

Record = dict[str, object]


@dataclass(frozen=True)
class Latency:
    """Milliseconds per record.

    Attributes:
        domain: ``resource`` or ``client``.
        golden: Golden records indexed.
        probes: Records timed.
        p50: Median.
        p95: 95th percentile.
        candidates: Mean candidates scored per probe.
    """

    domain: str
    golden: int
    probes: int
    p50: float
    p95: float
    candidates: float


def synthetic_people(n: int, seed: int = 7) -> list[Record]:
    """``n`` golden resources with realistic collisions (common names, shared postcodes)."""
    rng = random.Random(seed)
    given, family = _GIVEN.split(), _FAMILY.split()
    people: list[Record] = []
    for k in range(n):
        g, f = rng.choice(given), rng.choice(family) + rng.choice(["", "", "", "son", "ley", "s"])
        people.append(
            {
                "given_name": g,
                "family_name": f,
                "email": f"{g}.{f}{k}@example.com",
                "date_of_birth": f"{rng.randint(1950, 2000)}-{rng.randint(1, 12):02d}-"
                f"{rng.randint(1, 28):02d}",
                "postcode": str(rng.randint(1000, 9999)),
                "city": f"town{rng.randint(1, 400)}",
                "employee_id": f"E{k:07d}",
            }
        )
    return people


def _people(n: int, probes: int) -> tuple[list[Record], list[Record]]:
    golden = synthetic_people(n)
    rng = random.Random(3)
    out = []
    for _ in range(probes):
        base = dict(golden[rng.randrange(n)])
        base["family_name"] = typo(str(base["family_name"]), rng)
        base["email"] = None
        base["employee_id"] = None
        out.append(base)
    return golden, out


def _companies(n: int, probes: int) -> tuple[list[Record], list[Record]]:
    s = generate(n, probes, seed=5)
    return [dict(r) for r in s.golden], [dict(r) for r in s.acquired]


DATA: dict[str, Callable[[int, int], tuple[list[Record], list[Record]]]] = {
    "resource": _people,
    "client": _companies,
}


def measure(domain: str, n: int, probes: int = 1000) -> Latency:
    """p50/p95 of matching one record against ``n`` golden records of ``domain``."""
    matcher = FellegiSunterMatcher()
    golden, queries = DATA[domain](n, probes)
    index = BlockingIndex()
    for gid, attrs in enumerate(golden):
        index.put(str(gid), matcher.blocking_keys(domain, attrs))
    times: list[float] = []
    scored = 0
    for probe in queries:
        start = time.perf_counter()
        # as the hub links: at most MAX_CANDIDATES, those sharing the most blocking keys
        ids = index.closest(matcher.blocking_keys(domain, probe), MAX_CANDIDATES)
        matcher.score(domain, probe, [(i, golden[int(i)]) for i in ids])
        times.append((time.perf_counter() - start) * 1000)
        scored += len(ids)
    q = statistics.quantiles(times, n=100)
    return Latency(domain, n, len(times), q[49], q[94], scored / len(times))
