"""How right the hub's own links are after a committed onboarding run.

The benchmark knows, for every row of the acquired firm's file, which seeded golden client it
is (or that it is a new firm). After the load it reads the xref (the ``source_record`` table:
each source record's golden record) and compares:

* a row linked to the golden record that now holds its true client's CRM record is a hit;
* a row linked to another seeded golden record is a false link;
* a row on a golden record of its own is "new" (right if it is a new firm, a miss if not);
* two seeded golden records whose CRM records now share one golden record were merged,
  which the seed forbids (they are distinct entities), and so is a golden record that holds
  two rows of the acquired file.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from bench.scoring import Scores, score
from hub.store import tables as t
from hub.store.sql import table_of
from hub.store.uow import session_factory

__all__ = ["LinkQuality", "link_quality"]


@dataclass(frozen=True)
class LinkQuality:
    """The hub's links of one run's rows against the truth.

    Attributes:
        scores: Links to seeded golden records: precision, recall, F1.
        new_right: New firms on a golden record of their own (or shared only with CRM records
            of no seeded entity).
        new_total: New firms in the file.
        in_review: Rows with match candidates raised by the run.
        review_has_truth: Rows in review whose candidates include their true golden record.
        merged_golden: Seeded golden records now on the same golden record as another one.
        merged_groups: The seeded indices of each golden record that holds several.
        merged_rows: Rows of the file that share a new golden record with another row.
        false_rows: Rows linked to a seeded golden record that is not theirs.
        missing: Rows the hub holds no source record for.
    """

    scores: Scores
    new_right: int
    new_total: int
    in_review: int
    review_has_truth: int
    merged_golden: int
    merged_groups: list[list[int]]
    merged_rows: int
    missing: int
    false_rows: list[int]


def _xref(session: Any, source: str) -> dict[str, tuple[int, str | None]]:
    sr = table_of(t.SourceRecordRow)
    stmt = select(sr.c.source_key, sr.c.id, sr.c.golden_id).where(
        sr.c.source == source, sr.c.domain == "client", sr.c.deleted.is_(False)
    )
    return {key: (rid, gid) for key, rid, gid in session.execute(stmt)}


def link_quality(
    hub: Any,
    run_id: str,
    truth: list[int | None],
    row_key: str,
    golden_key: str,
    source: str,
) -> LinkQuality:
    """Compare the hub's xref after run ``run_id`` with ``truth``.

    Args:
        hub: The hub the run loaded into.
        run_id: The committed run.
        truth: For row ``k`` of the file, the index of its seeded golden client or ``None``.
        row_key: Format of row ``k``'s key in the file (``"NW-{:07d}"``).
        golden_key: Format of seeded client ``i``'s CRM key (``"CRM-{:08d}"``).
        source: The acquired firm's source system.
    """
    mc = table_of(t.MatchCandidate)
    with session_factory(hub.engine)() as s:
        crm = _xref(s, "crm")
        rows = _xref(s, source)
        proposed: dict[int, set[str]] = defaultdict(set)
        for rid, gid in s.execute(
            select(mc.c.source_record_id, mc.c.golden_id).where(mc.c.run_id == run_id)
        ):
            proposed[int(rid)].add(str(gid))
    n_golden = max((g for g in truth if g is not None), default=-1) + 1
    n_golden = max(n_golden, len(crm))
    holder = [crm.get(golden_key.format(i), (0, None))[1] for i in range(n_golden)]
    seeded_on: dict[str, list[int]] = defaultdict(list)
    for i, gid in enumerate(holder):
        if gid is not None:
            seeded_on[gid].append(i)
    groups = [v for v in seeded_on.values() if len(v) > 1]
    merged_golden = sum(len(v) - 1 for v in groups)
    predicted: list[tuple[int, int]] = []
    new_right = missing = review_has_truth = 0
    on_new: Counter[str] = Counter()
    for k, true in enumerate(truth):
        rid, gid = rows.get(row_key.format(k), (0, None))
        if gid is None:
            missing += 1
            continue
        if rid in proposed and true is not None and holder[true] in proposed[rid]:
            review_has_truth += 1
        if gid in seeded_on:
            pick = true if true is not None and holder[true] == gid else seeded_on[gid][0]
            predicted.append((k, pick))
        else:
            on_new[gid] += 1
            new_right += true is None
    true_pairs = [(k, g) for k, g in enumerate(truth) if g is not None]
    return LinkQuality(
        scores=score(predicted, true_pairs, dedupe=False),
        new_right=new_right,
        new_total=sum(g is None for g in truth),
        in_review=len(proposed),
        review_has_truth=review_has_truth,
        merged_golden=merged_golden,
        merged_groups=groups,
        merged_rows=sum(n for n in on_new.values() if n > 1),
        missing=missing,
        false_rows=[k for k, g in predicted if truth[k] != g],
    )
