"""Onboarding runs: keep a run, and roll a committed one back.

A committed run's rows went through the normal ingest path (inbox, apply) carrying the run id,
so its source records and the candidates it raised say which run made them. Rolling back works
from that: the run's source records go, the golden records they fed are survived again from
what is left, those only they fed are retired, and every change is an event in the outbox
like any other, so subscribers hear of the undo too.
"""

from __future__ import annotations

from typing import Any, Protocol, cast

from hub.domain.errors import ConcordError, RecordNotFound
from hub.domain.model import SourceRecord
from hub.domain.onboarding import RecordRun, RollbackRun
from hub.services.apply import Applier
from hub.services.ports import UnitOfWork

DECIDED = ("merged", "rejected")


class RunRepo(Protocol):
    def save(self, run: dict[str, Any]) -> None: ...

    def get(self, run_id: str, lock: bool = False) -> dict[str, Any] | None: ...

    def records(self, run_id: str) -> list[SourceRecord]: ...

    def candidate_counts(self, run_id: str) -> dict[str, int]: ...

    def remove(self, run_id: str, record_ids: list[int]) -> None: ...

    def retire_candidates_against(self, golden_ids: list[str], by: str) -> None: ...


class RunsUnitOfWork(UnitOfWork, Protocol):
    """A unit of work that also keeps onboarding runs (the SQL one does)."""

    @property
    def runs(self) -> RunRepo: ...


class RunHasDecisions(ConcordError):
    """Stewards already decided some of the run's candidates; undoing needs ``--force``."""


def _runs(uow: UnitOfWork) -> RunsUnitOfWork:
    """The entered unit of work, if its store keeps runs (the SQL one does; the unit tests'
    in-memory fake does not, and the core's port does not ask every store to)."""
    if not hasattr(uow, "runs"):
        raise ConcordError("this store keeps no onboarding runs")
    return cast(RunsUnitOfWork, uow)


def record_run(cmd: RecordRun, uow: UnitOfWork) -> None:
    with uow:
        store = _runs(uow)
        store.runs.save(
            {
                "id": cmd.run_id,
                "source": cmd.source,
                "domain": cmd.domain,
                "file_name": cmd.file_name,
                "status": cmd.status,
                "counts": cmd.counts,
                "report": cmd.report,
                "actor": cmd.actor,
            }
        )
        store.audit(
            cmd.actor,
            f"onboarding.{cmd.status}",
            {"run": cmd.run_id, "source": cmd.source, "domain": cmd.domain, "counts": cmd.counts},
        )
        store.commit()


def rollback_plan(uow: RunsUnitOfWork, run_id: str) -> dict[str, Any]:
    """What a rollback of ``run_id`` would undo, read inside ``uow``'s transaction."""
    run = uow.runs.get(run_id, lock=True)
    if run is None:
        raise RecordNotFound(f"no onboarding run {run_id!r}")
    if run["status"] != "committed":
        raise ConcordError(
            f"onboarding run {run_id} is {run['status']}: only a committed run can be rolled back"
        )
    records = uow.runs.records(run_id)
    keys = {(r.source, r.domain, r.key) for r in records}
    touched = {r.golden_id for r in records if r.golden_id}
    linked = uow.records.linked_to(touched)
    only_run = sorted(
        g
        for g in touched
        if all(x.deleted or (x.source, x.domain, x.key) in keys for x in linked.get(g, []))
    )
    candidates = uow.runs.candidate_counts(run_id)
    return {
        "run": run,
        "records": records,
        "touched": touched,
        "only_run": only_run,
        "summary": {
            "source_records_removed": len(records),
            "golden_records_resurvived": len(touched) - len(only_run),
            "golden_records_retired": len(only_run),
            "candidates_removed": sum(candidates.values()),
            "candidates_decided": {s: n for s, n in candidates.items() if s in DECIDED},
        },
    }


def describe(summary: dict[str, Any]) -> str:
    decided = summary["candidates_decided"]
    said = ", ".join(f"{n} {s}" for s, n in sorted(decided.items())) or "none"
    return (
        f"{summary['source_records_removed']} source records removed, "
        f"{summary['golden_records_resurvived']} golden records survived again, "
        f"{summary['golden_records_retired']} golden records retired, "
        f"{summary['candidates_removed']} match candidates removed "
        f"(steward decisions among them: {said})"
    )


def rollback_run(cmd: RollbackRun, uow: UnitOfWork, applier: Applier) -> dict[str, Any]:
    """Undo a committed run in one transaction, with the events it causes.

    Merges of two golden records that a run's row proved to be one are not undone (the
    records that were merged stay merged): the summary lists what is.
    """
    with uow:
        store = _runs(uow)
        plan = rollback_plan(store, cmd.run_id)
        summary = plan["summary"]
        if summary["candidates_decided"] and not cmd.force:
            raise RunHasDecisions(
                f"stewards already decided candidates of onboarding run {cmd.run_id}; "
                f"a rollback would undo: {describe(summary)}. Pass --force to roll back anyway"
            )
        records: list[SourceRecord] = plan["records"]
        store.lock("record", (f"{r.source}\x00{r.domain}\x00{r.key}" for r in records))
        store.runs.remove(cmd.run_id, [r.id for r in records if r.id is not None])
        events = applier.resurvive(store, plan["touched"])
        store.runs.retire_candidates_against(plan["only_run"], cmd.actor)
        run = plan["run"]
        store.runs.save(
            {
                **{k: run[k] for k in ("id", "source", "domain", "file_name", "actor")},
                "status": "rolled_back",
                "counts": {**run["counts"], "rollback": {**summary, "events": events}},
                "report": run["report"],
            }
        )
        store.audit(
            cmd.actor,
            "onboarding.rollback",
            {"run": cmd.run_id, "force": cmd.force, **summary, "events": events},
        )
        store.commit()
    return {**summary, "events": events}
