"""A golden record's trail (issue 16, must-have 4): who did what to it, when and why, newest
first, from the audit log (steward actions: overrides, merges, splits, candidate decisions,
undo), its versions (what the hub did: created, updated, merged in) and its linked records
(linked by which rule, loaded by which onboarding run). Read by ``hub.store.read.golden``;
here they are put in words and in order.

The audit entries that name a golden record are found through ``audit_golden`` (written with
each entry, migration 0019): one indexed lookup per page view, not a scan of the log's text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.store.read import golden as read
from hub.web.deps import ReadSession

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


def _audit(session: ReadSession, golden_id: str) -> list[dict[str, Any]]:
    return [
        {
            "at": a.at,
            "who": a.actor,
            "what": _what(a.action, a.detail or {}),
            "kind": a.action,
            "reason": (a.detail or {}).get("reason") or "",
        }
        for a in read.audit_entries(session, golden_id, LIMIT)
    ]


def _versions(session: ReadSession, domain: str, golden_id: str) -> list[dict[str, Any]]:
    return [
        {"at": at, "who": "hub", "what": f"version {v}: {cause}", "kind": "version", "reason": ""}
        for v, cause, at in read.versions(session, domain, golden_id, LIMIT)
    ]


def _links(session: ReadSession, golden_id: str) -> list[dict[str, Any]]:
    out = []
    for r in read.links(session, golden_id):
        how = f"linked by rule {r['rule']}" if r["rule"] else "linked"
        if r["run"]:
            how += f", loaded by onboarding run {r['run']}"
            how += f" ({r['file_name']})" if r["file_name"] else ""
        what = f"{r['source']} {r['key']} {how}"
        out.append({"at": r["at"], "who": r["source"], "what": what, "kind": "link", "reason": ""})
    return out


def trail(session: ReadSession, domain: str, golden_id: str) -> list[dict[str, Any]]:
    """Every entry, newest first; the audit's before the hub's at the same instant."""
    entries = [*_audit(session, golden_id), *_versions(session, domain, golden_id)]
    entries += _links(session, golden_id)
    order = {"version": 0, "link": 1}

    def key(e: dict[str, Any]) -> tuple[datetime | str, int]:
        return (e["at"] or "", order.get(e["kind"], 2))

    return sorted(entries, key=key, reverse=True)
