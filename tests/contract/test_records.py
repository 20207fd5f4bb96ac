"""Source records (the hub's copy of each source record, and its xref): the applier loads a
batch's records by key, inserts the new ones, updates the rest, and reads every record of a
golden record (deleted ones too: survivorship and retirement filter them itself)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from tests.contract.support import T0, UNIQUE_VIOLATION, Store, gid, record


def test_save_inserts_and_load_returns_the_record(store: Store) -> None:
    """``save`` inserts a record not yet stored; the caller's objects are then clean and
    stored, so the next save of the batch updates rather than inserts them again."""
    new = record("A", gid(1), name="Acme Ltd", tags=["a"])
    with store.uow() as uow:
        uow.records.save([new], T0)
        assert (new.stored, new.dirty) == (True, False)
        uow.commit()
    with store.uow() as uow:
        loaded = uow.records.load([("crm", "client", "A"), ("crm", "client", "missing")])
    assert list(loaded) == [("crm", "client", "A")]
    got = loaded[("crm", "client", "A")]
    assert got.id is not None
    assert (got.stored, got.dirty) == (True, False)
    assert got == replace(new, id=got.id)


def test_load_keys_are_source_domain_and_key(store: Store) -> None:
    """One key in two sources or two domains is two records."""
    with store.uow() as uow:
        uow.records.save(
            [
                record("K1", gid(1)),
                record("K1", gid(2), source="erp"),
                record("K1", gid(3), domain="project"),
            ],
            T0,
        )
        uow.commit()
        loaded = uow.records.load(
            [("crm", "client", "K1"), ("erp", "client", "K1"), ("crm", "project", "K1")]
        )
        assert {k: r.golden_id for k, r in loaded.items()} == {
            ("crm", "client", "K1"): gid(1),
            ("erp", "client", "K1"): gid(2),
            ("crm", "project", "K1"): gid(3),
        }
        assert uow.records.load([]) == {}


def test_save_updates_a_stored_record_by_its_key(store: Store) -> None:
    """A newer change, a delete, a relink or a merge rewrites the stored record in place: the
    same id, every mutable field replaced."""
    with store.uow() as uow:
        uow.records.save([record("A", gid(1))], T0)
        uow.commit()
    with store.uow() as uow:
        held = uow.records.load([("crm", "client", "A")])[("crm", "client", "A")]
        first_id = held.id
        held.attributes = {"name": "Acme Holdings", "city": "Leeds"}
        held.changed_at, held.sequence, held.digest = T0 + timedelta(hours=1), 2, "e" * 32
        held.golden_id, held.link_rule, held.deleted = gid(2), "steward", True
        held.dirty = True
        uow.records.save([held], T0)
        uow.commit()
    with store.uow() as uow:
        again = uow.records.load([("crm", "client", "A")])[("crm", "client", "A")]
    assert again.id == first_id
    assert again == held


def test_one_save_updates_many_records_each_by_its_own_key(store: Store) -> None:
    """Stored records updated together each get their own values, whatever their order; a
    record with the same key in another source or domain and a record left out are not
    touched; no sequence and no golden record stay empty."""
    keys = [("crm", "client", "A"), ("crm", "client", "B"), ("erp", "client", "A")]
    keys.append(("crm", "project", "A"))
    with store.uow() as uow:
        uow.records.save([record(k, gid(n), s, d) for n, (s, d, k) in enumerate(keys)], T0)
        uow.commit()
    with store.uow() as uow:
        held = uow.records.load(keys)
        b, a = held[keys[1]], held[keys[0]]
        b.attributes, b.sequence, b.golden_id = {"name": "Bee", "tags": None}, None, None
        a.attributes, a.sequence, a.deleted = {"name": "Ay", "n": 2}, 7, True
        a.changed_at = T0 + timedelta(hours=3)
        uow.records.save([b, a, held[keys[3]]], T0 + timedelta(hours=4))
        uow.commit()
    with store.uow() as uow:
        again = uow.records.load(keys)
    assert again[keys[0]] == a and again[keys[1]] == b
    assert (again[keys[1]].sequence, again[keys[1]].golden_id) == (None, None)
    assert again[keys[1]].attributes == {"name": "Bee", "tags": None}
    assert again[keys[2]] == held[keys[2]] and again[keys[3]] == held[keys[3]]


def test_loaded_records_are_copies(store: Store) -> None:
    """Changing a loaded record changes nothing until it is saved (rows read from SQL)."""
    with store.uow() as uow:
        uow.records.save([record("A", gid(1))], T0)
        loaded = uow.records.load([("crm", "client", "A")])[("crm", "client", "A")]
        loaded.attributes["name"] = "changed in memory"
        loaded.golden_id = gid(9)
        again = uow.records.load([("crm", "client", "A")])[("crm", "client", "A")]
    assert again.attributes["name"] == "Client A"
    assert again.golden_id == gid(1)


def test_inserting_a_stored_key_again_fails(store: Store) -> None:
    """(source, domain, key) is unique: two appliers that both think a record is new must not
    both store it; the second write fails and its batch is retried."""
    with store.uow() as uow:
        uow.records.save([record("A", gid(1))], T0)
        uow.commit()
    with store.uow() as uow, pytest.raises(UNIQUE_VIOLATION):
        uow.records.save([record("A", gid(2))], T0)


def test_linked_to_gives_every_record_of_a_golden_record(store: Store) -> None:
    """Survivorship reads all of a golden record's records in a stable (insertion) order; it
    gets the deleted ones too and decides itself. A record moved to another golden record
    leaves the first one's list."""
    with store.uow() as uow:
        uow.records.save(
            [
                record("A", gid(1)),
                record("B", gid(2)),
                record("C", gid(1), source="erp"),
                record("D"),  # not linked yet
            ],
            T0,
        )
        uow.commit()
    with store.uow() as uow:
        b = uow.records.load([("crm", "client", "B")])[("crm", "client", "B")]
        c = uow.records.load([("erp", "client", "C")])[("erp", "client", "C")]
        c.deleted = True
        b.golden_id = gid(1)
        uow.records.save([c, b], T0)
        linked = uow.records.linked_to([gid(1), gid(2), gid(3)])
    assert {g: [(r.source, r.key, r.deleted) for r in rs] for g, rs in linked.items()} == {
        gid(1): [("crm", "A", False), ("crm", "B", False), ("erp", "C", True)]
    }
    with store.uow() as uow:
        assert uow.records.linked_to([]) == {}


def test_live_gives_a_candidates_live_records_as_linking_reads_them(store: Store) -> None:
    """A candidate's read (``live``) leaves out deleted records, keeps id order and carries
    each record's values and digest; ``members``, the applier cache's check, is exactly its
    first four fields, so a held candidate's stamp can equal a fresh read's."""
    erp = record("C", gid(1), source="erp", name="Acme GmbH", city="Köln")
    erp.digest = "e" * 32
    with store.uow() as uow:
        uow.records.save([record("A", gid(1)), record("B", gid(2)), erp, record("D")], T0)
        uow.commit()
    with store.uow() as uow:
        a = uow.records.load([("crm", "client", "A")])[("crm", "client", "A")]
        a.deleted = True
        b = uow.records.load([("crm", "client", "B")])[("crm", "client", "B")]
        b.golden_id = gid(1)
        uow.records.save([a, b], T0)
        live = uow.records.live([gid(1), gid(2), gid(3)])
        members = uow.records.members([gid(1), gid(2), gid(3)])
        assert uow.records.live([]) == {}
    assert {g: [(m.source, m.key, m.golden_id) for m in ms] for g, ms in live.items()} == {
        gid(1): [("crm", "B", gid(1)), ("erp", "C", gid(1))]
    }
    assert live[gid(1)][1].attributes == erp.attributes
    assert live[gid(1)][1].digest == erp.digest
    assert members == {gid(1): tuple(m[:4] for m in live[gid(1)])}
