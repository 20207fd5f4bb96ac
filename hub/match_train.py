"""Re-learning a domain's match model from steward decisions.

EM fits m without labels; a steward's "merge" and "not a match" are labels, and the best ones
the hub will ever get for its own data. ``concord match train`` turns them into m (from the
merged pairs) and u (from the rejected ones), each smoothed toward the current model, and
writes the model to a file that ``concord.yaml`` names (``match: {client: {model: FILE}}``):
a reviewed, versionable artefact rather than a model that drifts silently at run time.

Each pair is compared as the steward saw it: the source record against the golden record's
version from just before the decision (after a merge the golden record holds the record's own
values, which would make every merge look like a perfect agreement). Splits are left out for
the same reason: the golden record they were split from was partly made of the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.store.tables import GoldenVersionRow, MatchCandidate, SourceRecordRow
from matching import MatchSpec
from matching.model import FellegiSunterModel, model_to_dict


@dataclass(frozen=True)
class Decided:
    record: dict[str, Any]
    golden: dict[str, Any]
    is_match: bool


def decided_pairs(session: Session, domain: str) -> list[Decided]:
    """Every merge and every "not a match" of ``domain``, as the steward saw the pair."""
    mc, sr = MatchCandidate, SourceRecordRow
    rows = session.execute(
        select(mc.golden_id, mc.status, mc.decided_at, sr.attributes)
        .join(sr, sr.id == mc.source_record_id)
        .where(
            mc.domain == domain,
            mc.status.in_(("merged", "rejected")),
            mc.rule != "steward:split",
            mc.decided_at.is_not(None),
        )
        .order_by(mc.id)
    ).all()
    out = []
    for golden_id, status, decided_at, attributes in rows:
        gv = GoldenVersionRow
        version = session.execute(
            select(gv.attributes, gv.references)
            .where(gv.golden_id == golden_id, gv.created_at < decided_at)
            .order_by(gv.version.desc())
            .limit(1)
        ).first()
        if version is None:
            continue
        golden = {**(version.attributes or {}), **(version.references or {})}
        out.append(Decided(dict(attributes or {}), golden, status == "merged"))
    return out


def train(spec: MatchSpec, pairs: list[Decided]) -> FellegiSunterModel:
    """The spec's current model with m and u re-estimated from the decided pairs."""
    gamma = np.zeros((len(pairs), len(spec.comparisons)), dtype=np.int8)
    for j, comp in enumerate(spec.comparisons):
        gamma[:, j] = comp.levels(
            [comp.value(p.record) for p in pairs], [comp.value(p.golden) for p in pairs]
        )
    return spec.current_model().with_labels(gamma, [p.is_match for p in pairs])


def saved(domain: str, model: FellegiSunterModel, pairs: list[Decided]) -> dict[str, Any]:
    merged = sum(p.is_match for p in pairs)
    return {
        "domain": domain,
        "trained_at": datetime.now(UTC).isoformat(),
        "decisions": {"merged": merged, "rejected": len(pairs) - merged},
        **model_to_dict(model),
    }
