"""The merge preview and the competing values of the steward pages, read from the store and
worked out by the survivorship rules themselves (``hub.domain.preview``): reads only."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from hub.domain.preview import FieldPreview, Offer, competing, merge_preview
from hub.domain.spec import DomainSpec, SourceSpec, source_named
from hub.domain.survivorship import Contribution, Override
from hub.store.repositories import load_sources
from hub.store.tables import GoldenRecordRow, SourceRecordRow
from stewardship.records import linked_records


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


def preview(
    session: Session, spec: DomainSpec, golden: GoldenRecordRow, record: SourceRecordRow
) -> list[FieldPreview]:
    """Which value would win each field if ``record`` merged into ``golden``."""
    sources = load_sources(session)
    linked = [contribution(sources, r) for r in linked_records(session, golden.id)]
    return merge_preview(spec, linked, contribution(sources, record), overrides_of(golden))


def competing_values(session: Session, spec: DomainSpec, golden_id: str) -> dict[str, list[Offer]]:
    """Per field, every linked source record's value, and which one won by which rule."""
    golden = session.get(GoldenRecordRow, golden_id)
    if golden is None:
        return {}
    sources = load_sources(session)
    offers = [contribution(sources, r) for r in linked_records(session, golden_id)]
    return competing(spec, offers, overrides_of(golden))


def as_rows(previews: list[FieldPreview]) -> list[dict[str, Any]]:
    return [{**p.__dict__, "changes": p.changes} for p in previews]
