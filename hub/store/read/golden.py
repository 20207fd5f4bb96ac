"""Golden records, read: one record with its links and history (the API's view and the steward
page's), search by name, the cross-reference of a source key, the linked source records, the
trail's entries (audit log, versions, links) and the offers its survivorship weighs.

The audit entries that name a golden record are found through ``audit_golden`` (written with
each entry, migration 0019): one indexed lookup per page view, not a scan of the log's text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.domain.errors import RecordNotFound
from hub.domain.spec import SourceSpec, source_named
from hub.domain.survivorship import Contribution, Override
from hub.store.claims import comments
from hub.store.repositories import load_sources
from hub.store.tables import (
    AuditGolden,
    AuditLog,
    DataQuality,
    GoldenRecordRow,
    GoldenVersionRow,
    OnboardingRun,
    PendingReference,
    SourceRecordRow,
)

__all__ = [
    "audit_entries",
    "comments",
    "golden_history",
    "golden_per_domain",
    "golden_view",
    "linked_records",
    "links",
    "offers",
    "search_golden",
    "versions",
    "xref_view",
]


def golden_view(session: Session, domain: str, golden_id: str) -> dict[str, Any]:
    row = session.get(GoldenRecordRow, golden_id)
    if row is None or row.domain != domain:
        raise RecordNotFound(f"no golden {domain} {golden_id}")
    links = session.execute(
        select(
            SourceRecordRow.source,
            SourceRecordRow.source_key,
            SourceRecordRow.deleted,
            SourceRecordRow.link_rule,
        )
        .where(SourceRecordRow.golden_id == golden_id)
        .order_by(SourceRecordRow.source, SourceRecordRow.source_key)
    ).all()
    pending = session.execute(
        select(PendingReference.name, PendingReference.source, PendingReference.target_key).where(
            PendingReference.golden_id == golden_id
        )
    ).all()
    return {
        "id": row.id,
        "domain": row.domain,
        "version": row.version,
        "status": row.status,
        "attributes": row.attributes,
        "provenance": {k: v for k, v in row.provenance.items() if not k.startswith("ref:")},
        "references": row.references,
        "reference_provenance": {
            k[4:]: v for k, v in row.provenance.items() if k.startswith("ref:")
        },
        "pending_references": [
            {"name": p.name, "source": p.source, "key": p.target_key} for p in pending
        ],
        "xref": [
            {"source": s, "key": k, "link": rule} for s, k, deleted, rule in links if not deleted
        ],
        "overrides": row.overrides,
        "merged_into": row.merged_into,
        "issues": quality.issues if (quality := session.get(DataQuality, golden_id)) else [],
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def search_golden(
    session: Session, domain: str, q: str, limit: int, active_only: bool = False
) -> list[dict[str, Any]]:
    """Golden records by name; ``active_only`` for what may still be merged (a merged or
    retired record offered to a steward's merge only failed when chosen)."""
    stmt = select(GoldenRecordRow).where(GoldenRecordRow.domain == domain)
    if active_only:
        stmt = stmt.where(GoldenRecordRow.status == "active")
    if q:
        escaped = q.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(GoldenRecordRow.search_name.like(f"%{escaped}%", escape="\\"))
    stmt = stmt.order_by(GoldenRecordRow.search_name, GoldenRecordRow.id).limit(limit)
    return [
        {
            "id": r.id,
            "domain": r.domain,
            "version": r.version,
            "status": r.status,
            "attributes": r.attributes,
        }
        for r in session.scalars(stmt)
    ]


def golden_history(session: Session, domain: str, golden_id: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(GoldenVersionRow)
        .where(GoldenVersionRow.golden_id == golden_id, GoldenVersionRow.domain == domain)
        .order_by(GoldenVersionRow.version)
    ).all()
    if not rows:
        raise RecordNotFound(f"no golden {domain} {golden_id}")
    return [
        {
            "version": v.version,
            "status": v.status,
            "cause": v.cause,
            "changed_fields": v.changed_fields,
            "attributes": v.attributes,
            "provenance": v.provenance,
            "references": v.references,
            "created_at": v.created_at,
        }
        for v in rows
    ]


def xref_view(session: Session, source: str, domain: str, key: str) -> dict[str, Any]:
    row = session.execute(
        select(SourceRecordRow).where(
            SourceRecordRow.source == source,
            SourceRecordRow.domain == domain,
            SourceRecordRow.source_key == key,
        )
    ).scalar_one_or_none()
    if row is None or row.golden_id is None:
        raise RecordNotFound(f"no {domain} record {key!r} from {source} has been applied")
    return {
        "golden_id": row.golden_id,
        "domain": domain,
        "source": source,
        "key": key,
        "status": "deleted" if row.deleted else "linked",
        "rule": row.link_rule,
    }


def golden_per_domain(session: Session) -> dict[str, int]:
    """Active golden records per domain (status, the steward dashboard)."""
    return dict(
        session.execute(
            select(GoldenRecordRow.domain, func.count())
            .where(GoldenRecordRow.status == "active")
            .group_by(GoldenRecordRow.domain)
        ).all()
    )


def linked_records(session: Session, golden_id: str) -> list[SourceRecordRow]:
    return list(
        session.scalars(
            select(SourceRecordRow)
            .where(SourceRecordRow.golden_id == golden_id, SourceRecordRow.deleted.is_(False))
            .order_by(SourceRecordRow.source, SourceRecordRow.source_key)
        )
    )


def audit_entries(session: Session, golden_id: str, limit: int) -> list[AuditLog]:
    """Audit-log entries that name the golden record, newest first, through the
    ``audit_golden`` index (migration 0019), not a scan of the detail text."""
    return list(
        session.scalars(
            select(AuditLog)
            .join(AuditGolden, AuditGolden.audit_id == AuditLog.id)
            .where(AuditGolden.golden_id == golden_id)
            .order_by(AuditLog.id.desc())
            .limit(limit)
        )
    )


def versions(
    session: Session, domain: str, golden_id: str, limit: int
) -> list[tuple[int, str, datetime]]:
    """(version, cause, created at) of the golden record's versions, newest first."""
    rows = session.execute(
        select(GoldenVersionRow.version, GoldenVersionRow.cause, GoldenVersionRow.created_at)
        .where(GoldenVersionRow.golden_id == golden_id, GoldenVersionRow.domain == domain)
        .order_by(GoldenVersionRow.version.desc())
        .limit(limit)
    )
    return [(int(v), str(cause), at) for v, cause, at in rows]


def links(session: Session, golden_id: str) -> list[dict[str, Any]]:
    """The live linked records: source, key, link rule, onboarding run (and its file)."""
    rows = session.execute(
        select(
            SourceRecordRow.source,
            SourceRecordRow.source_key.label("key"),
            SourceRecordRow.link_rule.label("rule"),
            SourceRecordRow.run_id.label("run"),
            SourceRecordRow.updated_at.label("at"),
            OnboardingRun.file_name,
        )
        .outerjoin(OnboardingRun, OnboardingRun.id == SourceRecordRow.run_id)
        .where(SourceRecordRow.golden_id == golden_id, SourceRecordRow.deleted.is_(False))
    )
    return [dict(r._mapping) for r in rows]


def contribution(sources: dict[str, SourceSpec], r: SourceRecordRow) -> Contribution:
    """A stored source record as the offer the apply path makes of it."""
    src = source_named(sources, r.source)
    return Contribution(
        r.source, src.kind, src.rank, r.source_key, r.changed_at, r.sequence, r.attributes
    )


def overrides_of(golden: GoldenRecordRow) -> dict[str, Override]:
    return {
        k: Override(v["value"], v.get("reason", ""), v.get("by", ""))
        for k, v in (golden.overrides or {}).items()
    }


def offers(
    session: Session, golden_id: str, extra: SourceRecordRow | None = None
) -> tuple[list[Contribution], Contribution | None, dict[str, Override]] | None:
    """What survivorship weighs for the golden record: its linked records' offers, the offer
    ``extra`` would make (a record a merge would add), and the steward's overrides; None if
    there is no such golden record."""
    golden = session.get(GoldenRecordRow, golden_id)
    if golden is None:
        return None
    sources = load_sources(session)
    linked = [contribution(sources, r) for r in linked_records(session, golden_id)]
    incoming = contribution(sources, extra) if extra is not None else None
    return linked, incoming, overrides_of(golden)
