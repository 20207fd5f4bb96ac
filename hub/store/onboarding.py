"""Onboarding runs in the store: the run rows, what a run added, and how far its review is.

``run_status`` is the one read the CLI (``concord onboard status``) and the steward site's run
page share, so both say the same thing about how much of a run's review is done.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from hub.domain.errors import RecordNotFound
from hub.domain.model import SourceRecord
from hub.store import tables as t
from hub.store.repositories import _record
from hub.store.sql import chunks, one_of, table_of

DECIDED = ("merged", "rejected")
"""Candidate statuses a steward set (``superseded`` follows from a merge of another one)."""


def _run(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "source": row.source,
        "domain": row.domain,
        "file_name": row.file_name,
        "status": row.status,
        "counts": row.counts,
        "actor": row.actor,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


class SqlRuns:
    """The onboarding repository of the SQL unit of work (``uow.runs``)."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def save(self, run: dict[str, Any]) -> None:
        """Insert the run, or update its status, counts and report."""
        now = datetime.now(UTC)
        row = self.s.get(t.OnboardingRun, run["id"])
        if row is None:
            self.s.add(t.OnboardingRun(**run, created_at=now, updated_at=now))
        else:
            row.status, row.counts, row.report = run["status"], run["counts"], run["report"]
            row.updated_at = now
        self.s.flush()

    def get(self, run_id: str, lock: bool = False) -> dict[str, Any] | None:
        stmt = select(table_of(t.OnboardingRun)).where(t.OnboardingRun.id == run_id)
        if lock:
            stmt = stmt.with_for_update()
        row = self.s.execute(stmt).first()
        return None if row is None else {**_run(row), "report": row.report}

    def records(self, run_id: str) -> list[SourceRecord]:
        """The source records the run created (still in the store)."""
        sr = table_of(t.SourceRecordRow)
        stmt = select(sr).where(sr.c.run_id == run_id).order_by(sr.c.id)
        return [_record(row) for row in self.s.execute(stmt)]

    def match_views(self, ids: set[str]) -> dict[str, dict[str, Any]]:
        """Active golden records as the matcher compares them (attributes and references),
        without the lineage and history a full load parses: a preview reads many."""
        gr = table_of(t.GoldenRecordRow)
        out: dict[str, dict[str, Any]] = {}
        for part in chunks(sorted(ids), 1000):
            stmt = select(gr.c.id, gr.c.attributes, gr.c.references).where(
                one_of(self.s, gr.c.id, part), gr.c.status == "active"
            )
            for gid, attributes, references in self.s.execute(stmt):
                out[gid] = {**attributes, **references}
        return out

    def candidate_counts(self, run_id: str) -> dict[str, int]:
        mc = table_of(t.MatchCandidate)
        stmt = select(mc.c.status, func.count()).where(mc.c.run_id == run_id).group_by(mc.c.status)
        return {status: int(n) for status, n in self.s.execute(stmt)}

    def remove(self, run_id: str, record_ids: list[int]) -> None:
        """Delete the run's source records and every candidate raised for them or by the run."""
        sr, mc = table_of(t.SourceRecordRow), table_of(t.MatchCandidate)
        for part in chunks(record_ids, 1000):
            self.s.execute(delete(mc).where(one_of(self.s, mc.c.source_record_id, part)))
        self.s.execute(delete(mc).where(mc.c.run_id == run_id))
        for part in chunks(record_ids, 1000):
            self.s.execute(delete(sr).where(one_of(self.s, sr.c.id, part)))

    def retire_candidates_against(self, golden_ids: list[str], by: str) -> None:
        """Other records' pending candidates that point at golden records the rollback
        retired: nothing is left there to merge with."""
        mc = table_of(t.MatchCandidate)
        for part in chunks(golden_ids, 1000):
            self.s.execute(
                update(mc)
                .where(one_of(self.s, mc.c.golden_id, part), mc.c.status == "pending")
                .values(status="superseded", decided_by=by, decided_at=datetime.now(UTC))
            )


def run_status(session: Session, run_id: str) -> dict[str, Any]:
    """How a run's records were linked and how much of its review stewards have done.

    A record is in review when the run raised candidates for it; it is done when none of its
    candidates is pending any more. ``review_done`` is the share of such records done (1.0
    when the run sent nothing to review).

    Raises:
        RecordNotFound: No run has that id.
    """
    row = session.get(t.OnboardingRun, run_id)
    if row is None:
        raise RecordNotFound(f"no onboarding run {run_id!r}")
    sr, mc = table_of(t.SourceRecordRow), table_of(t.MatchCandidate)
    rules: Counter[str] = Counter()
    for rule, deleted, n in session.execute(
        select(sr.c.link_rule, sr.c.deleted, func.count())
        .where(sr.c.run_id == run_id)
        .group_by(sr.c.link_rule, sr.c.deleted)
    ):
        rules["deleted" if deleted else _outcome(rule)] += int(n)
    per_record: dict[int, set[str]] = {}
    statuses: Counter[str] = Counter()
    for record_id, status in session.execute(
        select(mc.c.source_record_id, mc.c.status).where(mc.c.run_id == run_id)
    ):
        per_record.setdefault(record_id, set()).add(status)
        statuses[status] += 1
    in_review = len(per_record)
    done = sum(1 for s in per_record.values() if "pending" not in s)
    return {
        **_run(row),
        "records": sum(rules.values()),
        "linked": dict(sorted(rules.items())),
        "review": {
            "records": in_review,
            "done": done,
            "pending": in_review - done,
            "candidates": dict(sorted(statuses.items())),
        },
        "review_done": round(done / in_review, 4) if in_review else 1.0,
    }


def _outcome(link_rule: str) -> str:
    if link_rule in ("new", "revived", ""):
        return "own golden record"
    if link_rule == "steward":
        return "merged by a steward"
    return "linked to an existing golden record"


def list_runs(session: Session, limit: int = 50) -> list[dict[str, Any]]:
    stmt = select(t.OnboardingRun).order_by(t.OnboardingRun.created_at.desc()).limit(limit)
    return [_run(r) for r in session.scalars(stmt)]


def store_mark(session: Session) -> dict[str, Any]:
    """A summary of what an onboarding preview reads: equal marks mean the golden records,
    source records and steward decisions it scored against are the same. Every domain
    counts, not only the run's: a project row's client resolves through the client
    records, so a client load between a project run's dry run and its commit changes it.

    Golden records count by number and the sum of their versions (every change bumps a
    version, so the sum only grows); source records by number, last id and last update;
    candidates by status (a steward's "not a match" changes what a row may link to)."""
    gr, sr = table_of(t.GoldenRecordRow), table_of(t.SourceRecordRow)
    mc = table_of(t.MatchCandidate)
    golden = session.execute(select(func.count(), func.coalesce(func.sum(gr.c.version), 0))).one()
    records = session.execute(
        select(func.count(), func.max(sr.c.id), func.max(sr.c.updated_at))
    ).one()
    statuses = session.execute(select(mc.c.status, func.count()).group_by(mc.c.status)).all()
    return {
        "golden": [int(golden[0]), int(golden[1])],
        "records": [
            int(records[0]),
            None if records[1] is None else int(records[1]),
            None if records[2] is None else records[2].isoformat(),
        ],
        "candidates": {status: int(n) for status, n in sorted(statuses)},
    }


def dry_run_reports(
    session: Session, source: str, domain: str, file_name: str, limit: int = 20
) -> list[dict[str, Any]]:
    """The reports of the latest dry runs of one file name into one source and domain,
    newest first."""
    runs = table_of(t.OnboardingRun)
    stmt = (
        select(runs.c.report)
        .where(
            runs.c.source == source,
            runs.c.domain == domain,
            runs.c.file_name == file_name,
            runs.c.status == "dry_run",
        )
        .order_by(runs.c.created_at.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))
