"""``concord bench apply``: the apply stage alone, and how it scales with appliers.

The inbox is filled first (not timed) with ``concord bench ingest``'s mixed data (new clients,
ERP copies that link by tax id, ~10% misspelt names without a key that the matcher scores,
~40% updates); then 1, 2 and 4 applier processes drain it at once on PostgreSQL, each as
``concord worker`` runs (the bus, batches of ``worker_batch``), and the figures are compared
as ratios within one run. ``--profile`` prints where one in-process applier spends its time.
``--updates`` applies that data first (not timed) and times N updates of the records it made,
the issue 14 goal "updates of known records".

Afterwards the invariants the scale-out must keep are checked: every change applied or stale,
no dead letters, every live record on an active golden record, one golden record per tax id
(no double golden record), and one outbox event for each version of each golden record.
"""

from __future__ import annotations

import cProfile
import json
import multiprocessing as mp
import pstats
import random
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import typer
from rich.console import Console
from sqlalchemy import func, select

from bench.chaos_checks import version_gaps
from bench.datasets import INDUSTRIES, as_change, build_batches
from bench.ingest import Deadline, bench_hub, load_average, machine
from hub.bootstrap import Hub, bootstrap
from hub.config import Settings
from hub.domain.commands import AcceptChanges, ApplyPending, RefreshStatistics
from hub.runtime import memory
from hub.services.apply import ApplyReport
from hub.services.bus import StatisticsSchedule
from hub.store import access
from hub.store.tables import DeadLetter, GoldenRecordRow, InboxRow, SourceRecordRow
from hub.store.uow import admin_session


@contextmanager
def filled_hub(
    kind: str,
    n: int,
    batch: int = 500,
    updates: bool = False,
    keyed: float = 1.0,
    check: Callable[[], None] = lambda: None,
) -> Iterator[tuple[Hub, str]]:
    """A migrated hub on a throwaway database whose inbox holds ``n`` pending changes: the
    mixed data, or (``updates``) that data applied first and then ``n`` updates of the records
    it made, the case of a CRM's mass update or a month-end reload; a ``keyed`` share of those
    changes a field the matcher reads as well. ``check`` runs before each batch is queued,
    so a caller's time limit (it raises) covers the filling too."""
    with bench_hub(kind) as (hub, _):
        with admin_session(hub.engine) as s:
            for src in ("crm", "erp"):
                access.add_source(s, src, ["client"], None, None, {"client"})
        now = datetime.now(UTC)
        for source, body in build_batches(n, batch):
            check()
            _accept(hub, source, json.loads(body)["changes"], now)
        if updates:
            hub.bus.drain(batch)
            _queue_updates(hub, n, batch, now, keyed)
        memory.settle()  # as a worker process does before it applies
        yield hub, hub.settings.database_url


def _accept(hub: Hub, source: str, changes: list[dict[str, object]], now: datetime) -> None:
    hub.bus.accept(AcceptChanges(source, tuple(as_change(source, c, now) for c in changes)))


def _queue_updates(hub: Hub, n: int, batch: int, now: datetime, keyed: float) -> None:
    """``n`` updates of stored records, each a newer image with another industry (golden
    records change); a ``keyed`` share has another phone too, so the key index changes as well
    (a phone is evidence the matcher counts), while the others change no field a key reads, as
    most of a CRM's mass update (a status, an industry, an owner) does not."""
    with hub.engine.connect() as c:
        stored = c.execute(
            select(SourceRecordRow.source, SourceRecordRow.source_key, SourceRecordRow.attributes)
        ).all()
    rng = random.Random(2)
    by_source: dict[str, list[dict[str, object]]] = {}
    for i in range(n):
        source, key, attrs = rng.choice(stored)
        image = {**attrs, "industry": rng.choice(INDUSTRIES)}
        if rng.random() < keyed:
            image["phone"] = f"+44 20 7946 {i:05d}"
        by_source.setdefault(source, []).append(
            {"key": key, "sequence": 10_000_000 + i, "attributes": image}
        )
    for source, changes in by_source.items():
        for i in range(0, len(changes), batch):
            _accept(hub, source, changes[i : i + batch], now)


def _check_each_batch(hub: Hub, stage: str, n: int, deadline: Deadline) -> None:
    """The bus checks the deadline before each batch it applies, so ``drain`` is timed as it
    is, with no loop of the bench's own, and still stops within a batch of the limit."""
    apply, done, began = hub.bus.apply, [0], time.perf_counter()

    def so_far() -> str:
        return f"{done[0]:,} of {n:,} changes applied in {time.perf_counter() - began:.1f} s"

    def checked(command: ApplyPending) -> ApplyReport:
        deadline.check(stage, so_far)
        report = apply(command)
        done[0] += report.applied + report.stale
        return report

    # this hub's bus only, thrown away with it: drain calls self.apply
    hub.bus.apply = checked  # type: ignore[method-assign, assignment]


def apply_stage_alone(kind: str, n: int, batch: int, console: Console, deadline: Deadline) -> float:
    """``concord bench ingest``'s apply stage alone, in this process: the inbox is filled
    first, then drained by the same bus the worker uses. Separates the apply path's cost from
    HTTP and parsing; within the ingest bench's deadline, which it checks between batches."""
    stage = f"{kind} apply stage alone"
    filling = f"{stage} (filling the inbox)"
    with filled_hub(kind, n, batch, check=lambda: deadline.check(filling)) as (hub, _):
        _check_each_batch(hub, stage, n, deadline)
        start = time.perf_counter()
        report = hub.bus.drain(hub.settings.worker_batch)
        took = time.perf_counter() - start
    done = report.applied + report.stale
    console.print(
        f"{kind:<9} {done:>8} changes  apply stage alone (in-process, batches of "
        f"{hub.settings.worker_batch}): {took:6.1f} s ({done / took:>8,.0f}/s)"
    )
    return done / took


def _applier(
    url: str,
    batch: int,
    cache: tuple[int, int],
    start: mp.synchronize.Event,
    out: mp.Queue[tuple[int, float, int, tuple[int, int], tuple[int, int], float]],
) -> None:
    """One applier process: drains the shared inbox until nothing is left to claim; reports
    how many changes it applied, the wall-clock time its last productive batch ended, and
    the CPU time it spent until then: on a shared machine the CPU per change varies less
    than the wall clock, which waits on the database and on everything else running."""
    hub = bootstrap(
        Settings(database_url=url, apply_cache_size=cache[0], apply_key_cache_size=cache[1])
    )
    memory.settle()  # as `concord apply --follow` does
    start.wait()
    cpu_began = time.process_time()
    done, last, idle, deferred, cpu = 0, time.time(), 0, 0, 0.0
    statistics = StatisticsSchedule()  # as every applier refreshes them (hub/runtime/worker.py)
    try:
        while idle < 3:  # others may still hold rows they could give back
            r = hub.bus.apply(ApplyPending(batch))
            moved = r.applied + r.stale + r.dead
            deferred += r.deferred
            if moved:
                done, last, idle = done + moved, time.time(), 0
                cpu = time.process_time() - cpu_began
                if statistics.due(r.applied + r.stale):
                    hub.bus.handle(RefreshStatistics())
            elif r.others_hold_work:  # another applier holds those records; not idle
                time.sleep(0.01)
            else:
                idle += 1
                time.sleep(0.05)
    finally:
        hub.close()
        kept, keys = hub.bus.applier.context.cache, hub.bus.applier.context.key_cache
        out.put((done, last, deferred, (kept.hits, kept.misses), (keys.hits, keys.misses), cpu))


def _scale(url: str, appliers: int, batch: int, cache: tuple[int, int]) -> float:
    """Changes/s of ``appliers`` processes draining the inbox together."""
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_applier, args=(url, batch, cache, start, out)) for _ in range(appliers)
    ]
    for p in procs:
        p.start()
    time.sleep(3.0)  # every process has bootstrapped; timing starts when they all go
    began = time.time()
    start.set()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    total: int = sum(r[0] for r in results)
    took: float = max(r[1] for r in results) - began
    for done, _, deferred, candidates, keys, cpu in results:
        print(
            f"    an applier: {done:,} applied, {deferred:,} deferred (another held a record),"
            f" candidate cache hits {_share(*candidates)}, key cache hits {_share(*keys)};"
            f" CPU {cpu:.2f} s = {1000 * cpu / max(done, 1):.3f} ms a change"
        )
    print(
        f"  {appliers} applier(s), cache {cache[0]:,}, key cache {cache[1]:,}: {total:,} changes"
        f" in {took:6.1f} s = {total / took:8,.0f}/s"
    )
    return total / took


KEY_COSTS = (
    ("index reads", "match_keys.py", ("find", "count")),
    ("index writes", "match_keys.py", ("replace",)),
    ("log writes", "key_log.py", ("log_change",)),
    ("log reads and prunes", "key_log.py", ("changes_since", "prune")),
    ("cache lookups", "key_cache.py", ("find", "count")),
    ("cache upkeep", "key_cache.py", ("committed",)),
)


def _key_costs(stats: pstats.Stats, hub: Hub) -> str:
    """The key index's share of the profiled time (cumulative seconds, so "cache lookups"
    include the index reads they make), and the key cache's hits."""
    found = stats.stats  # type: ignore[attr-defined]
    parts = []
    for label, module, names in KEY_COSTS:
        took = sum(
            v[3] for (path, _, fn), v in found.items() if fn in names and path.endswith(module)
        )
        parts.append(f"{label} {took:.2f} s")
    kc = hub.bus.applier.context.key_cache
    return f"  key index: {', '.join(parts)}; key cache hits {_share(kc.hits, kc.misses)}"


def _share(hits: int, misses: int) -> str:
    return f"{hits / (hits + misses) if hits + misses else 0.0:.0%} of {hits + misses:,}"


def check_invariants(hub: Hub) -> list[str]:
    """What a scale-out must never break; each finding is one line."""
    with hub.engine.connect() as c:
        statuses = {
            s: n
            for s, n in c.execute(select(InboxRow.status, func.count()).group_by(InboxRow.status))
        }
        dead = c.execute(select(func.count()).select_from(DeadLetter)).scalar_one()
        stranded = c.execute(
            select(func.count())
            .select_from(SourceRecordRow)
            .join(GoldenRecordRow, GoldenRecordRow.id == SourceRecordRow.golden_id, isouter=True)
            .where(SourceRecordRow.deleted.is_(False))
            .where((GoldenRecordRow.status != "active") | GoldenRecordRow.id.is_(None))
        ).scalar_one()
        tax = c.execute(
            select(SourceRecordRow.attributes["tax_id"].as_string(), SourceRecordRow.golden_id)
            .join(GoldenRecordRow, GoldenRecordRow.id == SourceRecordRow.golden_id)
            .where(GoldenRecordRow.status == "active")
        ).all()
    out = []
    if set(statuses) - {"applied", "stale"}:
        out.append(f"inbox not drained: {statuses}")
    if dead:
        out.append(f"{dead} dead letters")
    if stranded:
        out.append(f"{stranded} live source records on no active golden record")
    # Outbox numbers come from a sequence taken under the outbox lock: a batch rolled back
    # after taking some leaves a gap, which no reader can tell from a number never given.
    # What must hold is one event per golden version, each version once.
    out += version_gaps(hub.engine)[:5]
    by_tax: dict[str, set[str]] = {}
    for tax_id, gid in tax:
        if tax_id:
            by_tax.setdefault(tax_id, set()).add(gid)
    doubles = sum(len(g) > 1 for g in by_tax.values())
    if doubles:
        out.append(f"{doubles} tax ids on more than one active golden record")
    return out


def main(
    n: int,
    appliers: str,
    database: str,
    batch: int,
    profile: bool,
    updates: bool,
    keyed: float,
    cache: str | None,
    key_cache: str | None,
) -> None:
    """The apply stage alone: changes/s with 1, 2 and 4 appliers, and the invariants. The
    cache sizes default to the settings' (``CONCORD_APPLY_CACHE_SIZE`` and
    ``CONCORD_APPLY_KEY_CACHE_SIZE``)."""
    settings = Settings()
    cache = cache if cache is not None else str(settings.apply_cache_size)
    key_cache = key_cache if key_cache is not None else str(settings.apply_key_cache_size)
    shape = (
        f"updates of known records (after the mixed data; {keyed:.0%} change a keyed field)"
        if updates
        else "mixed changes"
    )
    print(f"concord bench apply: {n:,} {shape}, batches of {batch}, {database}")
    print(f"machine: {machine()}; load average {load_average()}")
    if profile:
        with filled_hub(database, n, updates=updates, keyed=keyed) as (hub, _):
            prof = cProfile.Profile()
            began = time.perf_counter()
            prof.enable()
            r = hub.bus.drain(batch)
            prof.disable()
            took = time.perf_counter() - began
            print(f"  in process: {r.applied + r.stale:,} in {took:.1f} s (profiled)")
            stats = pstats.Stats(prof, stream=sys.stdout)
            stats.sort_stats("cumulative").print_stats(30)
            stats.sort_stats("tottime").print_stats(25)  # where the time is spent, not passed on
            print(_key_costs(stats, hub))
        print(f"load average after: {load_average()}")
        return
    rates: list[tuple[str, float]] = []
    failures: list[str] = []
    for count in [int(a) for a in appliers.split(",")]:  # "1,2,4,1": a repeat shows drift
        for sizes in [(int(c), int(k)) for c in cache.split(",") for k in key_cache.split(",")]:
            with filled_hub(database, n, updates=updates, keyed=keyed) as (hub, url):
                rates.append((f"{count}/{sizes[0]}/{sizes[1]}", _scale(url, count, batch, sizes)))
                failures += [f"{count} appliers: {f}" for f in check_invariants(hub)]
                print(f"    load average now {load_average()}")
    base = rates[0][1]
    print(
        f"  ratio to the first run (appliers/cache/key cache {rates[0][0]}): "
        + ", ".join(f"{k}: {v / base:.2f}" for k, v in rates)
    )
    print(f"load average after: {load_average()}")
    print("invariants: " + ("ok" if not failures else "; ".join(failures)))
    raise typer.Exit(1 if failures else 0)
