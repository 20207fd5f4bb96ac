"""One onboarding run from start to end: validate, preview, and (unless a dry run) load.

The load goes through the same door as every source's changes: ``AcceptChanges`` into the
inbox, each change carrying the run id, then the apply path. So a committed run is linked,
survived and announced exactly as if the acquired firm's CRM had sent its records over the
API, and its source records and candidates remember the run (for status and rollback).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import multiprocessing as mp
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from queue import Empty
from typing import Any

from sqlalchemy import select

from connectors.inbound.files import FileRows, column_mapping, read_rows
from hub.bootstrap import Hub
from hub.domain.commands import AcceptChanges, ApplyPending, RefreshStatistics
from hub.domain.errors import ConcordError
from hub.domain.model import Change
from hub.domain.onboarding import RecordRun, RowError, Validation, ValidRow, validate_rows
from hub.domain.spec import DomainSpec, SourceSpec
from hub.onboard_report import build_report
from hub.runtime.onboarding_basis import preview_spec, reusable_preview, run_basis
from hub.services.bus import StatisticsSchedule
from hub.services.load_order import neighbourhood_order
from hub.services.onboarding_preview import CHUNK, OnboardingPreview, Preview, merge_previews
from hub.store.onboarding import run_status
from hub.store.tables import SourceSystem
from hub.store.uow import session_factory

Stage = Callable[[str, int, int], None]
"""Called as ``stage(name, done, total)`` so the CLI can draw a progress bar."""

ACCEPT_CHUNK = 1_000
COMMITTED = ("records", "linked", "review", "review_done")
"""What a committed run's report adds from its status once loaded."""

log = logging.getLogger("concord.onboard")


def _quiet(stage: str, done: int, total: int) -> None:
    return None


@dataclass
class RunResult:
    run_id: str
    status: str
    report: dict[str, Any]
    validation: Validation
    loaded: bool
    status_after: dict[str, Any] = field(default_factory=dict)


def _source(hub: Hub, name: str, domain: str) -> SourceSpec:
    with session_factory(hub.engine)() as s:
        row = s.scalars(select(SourceSystem).where(SourceSystem.name == name)).first()
    if row is None:
        raise ConcordError(f"--source {name!r}: no such source system (concord sources add)")
    if domain not in row.domains:
        raise ConcordError(
            f"--source {name!r} may not write {domain!r} (its domains: {', '.join(row.domains)})"
        )
    return SourceSpec(row.name, row.kind, row.rank)


def event_id(run_id: str, key: str) -> str:
    """One event id per row of a run: a resent run is a duplicate, another run is not."""
    return f"onboard:{run_id}:" + hashlib.sha256(key.encode()).hexdigest()[:32]


def start_run(
    hub: Hub,
    *,
    source: str,
    domain: str,
    path: Path,
    maps: list[str],
    id_column: str,
    dry_run: bool,
    skip_invalid: bool,
    actor: str,
    stage: Stage = _quiet,
    workers: int = 1,
) -> RunResult:
    """Validate every row, preview the matching, and load unless ``dry_run`` or refused.

    A commit of a file a dry run previewed, nothing changed since, takes that preview for its
    report instead of matching again (``onboarding_basis``). A file with invalid rows loads
    nothing unless ``skip_invalid``; the run is kept as a dry run either way, so its report
    can be read again with ``concord onboard report``. ``workers`` processes share the
    matching and then the apply (PostgreSQL; SQLite does both in one).
    """
    spec = hub.config.domains.get(domain)
    if spec is None:
        raise ConcordError(f"--domain {domain!r}: known domains: {', '.join(hub.config.domains)}")
    src = _source(hub, source, domain)
    file_rows = read_rows(path, spec, column_mapping(spec, maps), id_column)
    validation = _validate(spec, file_rows, stage)
    run_id = str(uuid.uuid4())
    refused = bool(validation.errors) and not skip_invalid
    loading = not refused and not dry_run
    basis = run_basis(hub, spec, path, maps, id_column)
    earlier = reusable_preview(hub, source, domain, path.name, basis) if loading else None
    rows = [] if refused else _neighbours(hub, spec, src, validation.valid)
    fresh = not refused and earlier is None
    preview = _preview(hub, spec, src, rows, workers, stage) if fresh else None
    meta = {
        "run_id": run_id,
        "source": source,
        "domain": domain,
        "file": path.name,
        "mode": "refused (invalid rows)" if refused else ("dry run" if dry_run else "commit"),
    }
    report = build_report(meta, validation, preview, file_rows.ignored_columns, earlier)
    report["basis"] = basis
    counts: dict[str, Any] = {**report["outcomes"], "rows": report["rows"]}
    result = RunResult(run_id, "committed" if loading else "dry_run", report, validation, loading)
    # Kept before the load starts: a load that stops halfway can still be rolled back.
    hub.bus.handle(
        RecordRun(run_id, source, domain, path.name, result.status, counts, report, actor)
    )
    if loading:
        _load(hub, run_id, source, domain, rows, stage, workers)
        with session_factory(hub.engine)() as s:
            result.status_after = run_status(s, run_id)
        report["committed"] = {k: result.status_after[k] for k in COMMITTED}
        hub.bus.handle(
            RecordRun(run_id, source, domain, path.name, "committed", counts, report, actor)
        )
    return result


def _neighbours(
    hub: Hub, spec: DomainSpec, src: SourceSpec, rows: list[ValidRow]
) -> list[ValidRow]:
    """``rows`` in the order the preview and the load take them: records that reach the same
    golden records one after another, so a batch reads their candidates once for all of them
    (``neighbourhood_order``). References are not resolved yet: a blocking key that needs one
    is missing here, which only makes the order a little less close."""
    matcher = hub.bus.applier.matcher
    return neighbourhood_order(
        rows, lambda row: matcher.blocking_keys(spec.name, spec.match_view(src, row.attributes, {}))
    )


def _validate(spec: DomainSpec, file_rows: FileRows, stage: Stage) -> Validation:
    stage("validate", 0, len(file_rows.rows))
    validation = validate_rows(spec, file_rows.rows)
    validation.errors.extend(RowError(n, "line", why) for n, why in file_rows.broken)
    stage("validate", len(file_rows.rows), len(file_rows.rows))
    return validation


def _preview(
    hub: Hub, spec: DomainSpec, src: SourceSpec, rows: list[ValidRow], workers: int, stage: Stage
) -> Preview:
    """The matching preview, scored as the load will score (``preview_spec``)."""
    previewer = OnboardingPreview(spec, hub.bus.applier.matcher, preview_spec(hub, spec.name), src)
    return preview_rows(hub, previewer, rows, workers, stage)


def preview_rows(
    hub: Hub, previewer: OnboardingPreview, rows: list[ValidRow], workers: int, stage: Stage
) -> Preview:
    """The preview, in ``workers`` processes over consecutive parts of the file.

    Matching is CPU-bound Python (normalising, scoring) and reads only, so processes forked
    after the run is set up share it without any coordination but a queue for progress and
    results; :func:`merge_previews` then links rows to earlier parts' rows as one pass would.
    """
    report = functools.partial(stage, "match")
    parallel = workers > 1 and len(rows) > 2 * CHUNK and hub.engine.dialect.name == "postgresql"
    if not parallel:
        with hub.uow() as uow:  # read only: never committed
            return previewer.run(uow, rows, report)
    size = -(-len(rows) // workers)
    parts = [rows[k : k + size] for k in range(0, len(rows), size)]
    ctx = mp.get_context("fork")
    queue: Any = ctx.Queue()
    procs = [
        ctx.Process(target=_preview_part, args=(hub, previewer, part, k, queue), daemon=True)
        for k, part in enumerate(parts)
    ]
    for p in procs:
        p.start()
    done = [0] * len(parts)
    results: dict[int, Preview] = {}
    try:
        while len(results) < len(parts):
            kind, k, value = queue.get(timeout=3600)
            if kind == "error":
                raise ConcordError(f"preview of part {k + 1} failed: {value}")
            if kind == "done":
                results[k] = value
            else:
                done[k] = value
            report(sum(done), len(rows))
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
    return merge_previews([results[k] for k in range(len(parts))])


def _preview_part(
    hub: Hub, previewer: OnboardingPreview, rows: list[ValidRow], k: int, queue: Any
) -> None:
    hub.engine.dispose(close=False)  # the parent's connections are not this process's
    try:
        with hub.uow() as uow:
            preview = previewer.run(uow, rows, lambda d, t: queue.put(("progress", k, d)))
        queue.put(("done", k, preview))
    except Exception as exc:  # told to the parent, which fails the run with it
        queue.put(("error", k, f"{type(exc).__name__}: {exc}"))


def _load(
    hub: Hub,
    run_id: str,
    source: str,
    domain: str,
    rows: list[ValidRow],
    stage: Stage,
    workers: int,
) -> None:
    now = datetime.now(UTC)
    changes = [
        Change(
            source=source,
            domain=domain,
            key=row.key,
            op="upsert",
            event_id=event_id(run_id, row.key),
            attributes=row.attributes,
            changed_at=now,
            run_id=run_id,
        )
        for row in rows
    ]
    for start in range(0, len(changes), ACCEPT_CHUNK):
        hub.bus.accept(AcceptChanges(source, tuple(changes[start : start + ACCEPT_CHUNK])))
        stage("accept", min(start + ACCEPT_CHUNK, len(changes)), len(changes))
    report = functools.partial(stage, "apply")
    done = 0
    if workers > 1 and len(changes) > 2 * CHUNK and hub.engine.dialect.name == "postgresql":
        done = _apply_in_processes(
            hub, workers, lambda n: report(min(n, len(changes)), len(changes))
        )
    # what is left: all of it in one process, or what a failed applier process left pending
    _apply(hub, lambda step: report(min(done + step, len(changes)), len(changes)))


def _apply(hub: Hub, progress: Callable[[int], None]) -> int:
    """Apply until nothing is pending; returns how many changes moved."""
    done = 0
    schedule = StatisticsSchedule()
    while True:
        applied = hub.bus.apply(ApplyPending(hub.settings.worker_batch))
        step = applied.applied + applied.stale + applied.dead
        if step == 0 and applied.others_hold_work:
            time.sleep(0.02)  # a worker is applying some of those records: wait for it
            continue
        if step == 0:
            return done
        done += step
        progress(done)
        if schedule.due(step):
            hub.bus.handle(RefreshStatistics())


def _apply_in_processes(hub: Hub, workers: int, progress: Callable[[int], None]) -> int:
    """The load applied by ``workers`` applier processes at once (PostgreSQL), as that many
    ``concord worker`` processes would: they split the inbox by partition, so each record's
    changes stay in one process and in order (docs/architecture.md, "Appliers side by
    side"). Returns how many changes they moved; a process that failed is logged and its
    share left pending for the caller."""
    ctx = mp.get_context("fork")
    queue: Any = ctx.Queue()
    procs = [
        ctx.Process(target=_apply_part, args=(hub, k, queue), daemon=True) for k in range(workers)
    ]
    for p in procs:
        p.start()
    moved, running = [0] * workers, workers
    try:
        while running:
            try:
                kind, k, value = queue.get(timeout=1.0)
            except Empty:  # a process killed outright says nothing: stop waiting for it
                if any(p.is_alive() for p in procs):
                    continue
                break
            if kind == "progress":
                moved[k] = value
                progress(sum(moved))
                continue
            running -= 1
            if kind == "error":
                log.error("an applier process of the load failed: %s", value)
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
    return sum(moved)


def _apply_part(hub: Hub, k: int, queue: Any) -> None:
    hub.engine.dispose(close=False)  # the parent's connections are not this process's
    hub.bus.applier.id = str(uuid.uuid4())  # appliers count each other by id
    try:
        _apply(hub, lambda done: queue.put(("progress", k, done)))
        queue.put(("done", k, 0))
    except Exception as exc:  # told to the parent, which applies what is left itself
        queue.put(("error", k, f"{type(exc).__name__}: {exc}"))
