"""The merge preview and the competing values of the steward pages, worked out by the
survivorship rules themselves (``hub.domain.preview``) from what ``hub.store.read.golden``
reads: reads only."""

from __future__ import annotations

from typing import Any

from hub.domain.preview import FieldPreview, Offer, competing, merge_preview
from hub.domain.spec import DomainSpec
from hub.store.read import golden as read
from hub.web.deps import ReadSession


def preview(session: ReadSession, spec: DomainSpec, golden: Any, record: Any) -> list[FieldPreview]:
    """Which value would win each field if ``record`` merged into ``golden`` (rows)."""
    weighed = read.offers(session, golden.id, record)
    if weighed is None:
        return []
    linked, incoming, overrides = weighed
    assert incoming is not None
    return merge_preview(spec, linked, incoming, overrides)


def competing_values(
    session: ReadSession, spec: DomainSpec, golden_id: str
) -> dict[str, list[Offer]]:
    """Per field, every linked source record's value, and which one won by which rule."""
    weighed = read.offers(session, golden_id)
    if weighed is None:
        return {}
    linked, _, overrides = weighed
    return competing(spec, linked, overrides)


def as_rows(previews: list[FieldPreview]) -> list[dict[str, Any]]:
    return [{**p.__dict__, "changes": p.changes} for p in previews]
