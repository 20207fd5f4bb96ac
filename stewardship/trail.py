"""A golden record's trail (issue 16, must-have 4): who did what to it, when and why, newest
first, from the audit log (steward actions: overrides, merges, splits, candidate decisions,
undo), its versions (what the hub did: created, updated, merged in) and its linked records
(linked by which rule, loaded by which onboarding run). Reads only.

The audit entries that name a golden record are found through ``audit_golden`` (written with
each entry, migration 0019): one indexed lookup per page view, not a scan of the log's text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.store.tables import AuditGolden, AuditLog, GoldenVersionRow, OnboardingRun, SourceRecordRow

LIMIT = 200

_ACTIONS = {
    "golden.override": "field {field} set to {after} by hand",
    "golden.override_removed": "override of {field} removed: back to survivorship",
    "golden.split": "{source} {key} split off (from {before} to {after})",
    "golden.merge": "golden record {golden_id} merged into {winner}",
    "candidate.merge": "{source} {key} merged in (candidate {candidate})",
    "candidate.reject": "{source} {key} rejected: not this record (candidate {candidate})",
    "candidate.undo": "decision on candidate {candidate} undone ({before} → {after})",
}


def _what(action: str, detail: dict[str, Any]) -> str:
    template = _ACTIONS.get(action)
    if template is None:
        return action
    try:
        return template.format(**{k: ("—" if v is None else v) for k, v in detail.items()})
    except (KeyError, IndexError):
        return action


def _audit(session: Session, golden_id: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(AuditLog)
        .join(AuditGolden, AuditGolden.audit_id == AuditLog.id)
        .where(AuditGolden.golden_id == golden_id)
        .order_by(AuditLog.id.desc())
        .limit(LIMIT)
    )
    return [
        {
            "at": a.at,
            "who": a.actor,
            "what": _what(a.action, a.detail or {}),
            "kind": a.action,
            "reason": (a.detail or {}).get("reason") or "",
        }
        for a in rows
    ]


def _versions(session: Session, domain: str, golden_id: str) -> list[dict[str, Any]]:
    rows = session.execute(
        select(GoldenVersionRow.version, GoldenVersionRow.cause, GoldenVersionRow.created_at)
        .where(GoldenVersionRow.golden_id == golden_id, GoldenVersionRow.domain == domain)
        .order_by(GoldenVersionRow.version.desc())
        .limit(LIMIT)
    )
    return [
        {"at": at, "who": "hub", "what": f"version {v}: {cause}", "kind": "version", "reason": ""}
        for v, cause, at in rows
    ]


def _links(session: Session, golden_id: str) -> list[dict[str, Any]]:
    rows = session.execute(
        select(
            SourceRecordRow.source,
            SourceRecordRow.source_key,
            SourceRecordRow.link_rule,
            SourceRecordRow.run_id,
            SourceRecordRow.updated_at,
            OnboardingRun.file_name,
        )
        .outerjoin(OnboardingRun, OnboardingRun.id == SourceRecordRow.run_id)
        .where(SourceRecordRow.golden_id == golden_id, SourceRecordRow.deleted.is_(False))
    )
    out = []
    for source, key, rule, run, at, file_name in rows:
        how = f"linked by rule {rule}" if rule else "linked"
        if run:
            how += f", loaded by onboarding run {run}" + (f" ({file_name})" if file_name else "")
        out.append(
            {"at": at, "who": source, "what": f"{source} {key} {how}", "kind": "link", "reason": ""}
        )
    return out


def trail(session: Session, domain: str, golden_id: str) -> list[dict[str, Any]]:
    """Every entry, newest first; the audit's before the hub's at the same instant."""
    entries = [*_audit(session, golden_id), *_versions(session, domain, golden_id)]
    entries += _links(session, golden_id)
    order = {"version": 0, "link": 1}

    def key(e: dict[str, Any]) -> tuple[datetime | str, int]:
        return (e["at"] or "", order.get(e["kind"], 2))

    return sorted(entries, key=key, reverse=True)
