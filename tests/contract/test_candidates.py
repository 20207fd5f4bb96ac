"""Match candidates: proposed links a steward decides, and the memory of "not this one".

The applier adds review-tier candidates for a stored source record; a steward's decision reads
one with its record's key (``get``), records the outcome (``decide``: a merge supersedes the
record's other open candidates); a split remembers the record is not its old golden record
(``exclude``). Linking then never proposes a rejected golden record again (``rejected``) and
never lets a shared key merge two golden records a steward kept apart (``kept_apart``).
"""

from __future__ import annotations

from typing import Any

from tests.contract.support import T0, Store, gid, record


def _candidate(key: str, golden_id: str, probability: float = 0.7) -> dict[str, Any]:
    """A candidate row as ``Linker._propose`` builds it."""
    return {
        "domain": "client",
        "source_key": ("crm", key),
        "golden_id": golden_id,
        "probability": probability,
        "weights": {"name": 4.2, "city": -1.0},
        "notes": {"city": "generic value"},
        "rule": "fellegi-sunter",
        "run_id": None,
    }


def _setup(store: Store) -> list[int]:
    """Records A (on golden 1) and B (on golden 2), and three open candidates: A may be 2 or
    3, B may be 1. Returns the candidate ids in that order."""
    with store.uow() as uow:
        uow.records.save([record("A", gid(1)), record("B", gid(2))], T0)
        uow.candidates.add(
            [_candidate("A", gid(2)), _candidate("A", gid(3), 0.6), _candidate("B", gid(1))]
        )
        uow.commit()
    ids = []
    with store.uow() as uow:
        for n in range(1, 100):
            c = uow.candidates.get(n)
            if c is not None:
                ids.append(n)
    assert len(ids) == 3, ids
    return ids


def test_get_returns_the_candidate_with_its_record_key(store: Store) -> None:
    """A decision needs the candidate's status, golden record and its record's key."""
    a2, _, _ = _setup(store)
    with store.uow() as uow:
        c = uow.candidates.get(a2)
        assert uow.candidates.get(10_000) is None
    assert c is not None
    assert {k: c[k] for k in ("id", "domain", "source", "source_key", "golden_id")} == {
        "id": a2,
        "domain": "client",
        "source": "crm",
        "source_key": "A",
        "golden_id": gid(2),
    }
    assert (c["status"], c["probability"], c["rule"]) == ("pending", 0.7, "fellegi-sunter")
    assert (c["weights"], c["notes"]) == ({"name": 4.2, "city": -1.0}, {"city": "generic value"})
    assert (c["decided_by"], c["reason"], c["decided_at"], c["run_id"]) == (None, None, None, None)


def test_a_merge_supersedes_the_records_other_open_candidates(store: Store) -> None:
    """Once a steward merged A into 2, A's other open candidate is moot; B's is not."""
    a2, a3, b1 = _setup(store)
    with store.uow() as uow:
        uow.candidates.decide(a2, "merged", "ann", "same firm", T0)
        uow.candidates.decide(10_000, "merged", "ann", "", T0)  # no such candidate: no-op
        uow.commit()
    with store.uow() as uow:
        got = {i: uow.candidates.get(i) for i in (a2, a3, b1)}
    status = {i: (c or {}).get("status") for i, c in got.items()}
    assert status == {a2: "merged", a3: "superseded", b1: "pending"}
    merged = got[a2] or {}
    assert (merged["decided_by"], merged["reason"], merged["decided_at"]) == (
        "ann",
        "same firm",
        T0,
    )
    assert (got[a3] or {})["decided_by"] == "ann"


def test_a_rejection_is_remembered_for_the_record(store: Store) -> None:
    """A rejected pair is never proposed again, and the two golden records are kept apart
    (either way round), while the record still sits on its golden record."""
    a2, a3, _ = _setup(store)
    with store.uow() as uow:
        uow.candidates.decide(a2, "rejected", "ann", "different firms", T0)
        uow.commit()
    with store.uow() as uow:
        assert (uow.candidates.get(a3) or {})["status"] == "pending"
        assert uow.candidates.rejected(("crm", "client", "A")) == {gid(2)}
        assert uow.candidates.rejected(("crm", "client", "B")) == set()
        assert uow.candidates.kept_apart(gid(1), gid(2))
        assert uow.candidates.kept_apart(gid(2), gid(1))
        assert not uow.candidates.kept_apart(gid(1), gid(3))


def test_a_split_is_remembered_like_a_rejection(store: Store) -> None:
    """After a split, the record must not be matched back to its old golden record, and a key
    the two share must not merge them again."""
    with store.uow() as uow:
        uow.records.save([record("A", gid(1))], T0)
        uow.commit()
    with store.uow() as uow:
        a = uow.records.load([("crm", "client", "A")])[("crm", "client", "A")]
        a.golden_id = gid(5)  # split off onto a golden record of its own
        uow.records.save([a], T0)
        uow.candidates.exclude(("crm", "client", "A"), gid(1), "ann", "split", T0)
        uow.commit()
    with store.uow() as uow:
        assert uow.candidates.rejected(("crm", "client", "A")) == {gid(1)}
        assert uow.candidates.kept_apart(gid(5), gid(1))
        assert uow.candidates.kept_apart(gid(1), gid(5))


def test_kept_apart_follows_the_record_to_its_golden_record(store: Store) -> None:
    """The pair kept apart is (the record's golden record now, the rejected one): when the
    record is merged elsewhere, the memory moves with it."""
    a2, _, _ = _setup(store)
    with store.uow() as uow:
        uow.candidates.decide(a2, "rejected", "ann", "", T0)
        a = uow.records.load([("crm", "client", "A")])[("crm", "client", "A")]
        a.golden_id = gid(7)
        uow.records.save([a], T0)
        uow.commit()
        assert uow.candidates.kept_apart(gid(7), gid(2))
        assert not uow.candidates.kept_apart(gid(1), gid(2))


def test_open_candidates_follow_merges_to_the_last_winner_and_leave_retired_ones(
    store: Store,
) -> None:
    """In one batch 3 merged into 2 and 2 into 4, and 5 retired: candidates against 3 and 2
    end on 4 (not on 2, merged away too), the one against 5 is superseded."""
    with store.uow() as uow:
        uow.records.save([record("A", gid(1)), record("B", gid(6))], T0)
        uow.candidates.add(
            [_candidate("A", gid(3)), _candidate("A", gid(5), 0.6), _candidate("B", gid(2))]
        )
        uow.commit()
    with store.uow() as uow:
        uow.candidates.follow({gid(3): gid(2), gid(2): gid(4)}, {gid(5)}, T0)
        uow.commit()
    with store.uow() as uow:
        found = [uow.candidates.get(n) for n in range(1, 100)]
    got = sorted((c["source_key"], c["golden_id"], c["status"]) for c in found if c)
    assert got == [
        ("A", gid(4), "pending"),
        ("A", gid(5), "superseded"),
        ("B", gid(4), "pending"),
    ]
