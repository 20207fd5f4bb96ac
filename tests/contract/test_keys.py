"""The key index and the pending references.

The key index holds, per golden record, what ``Applier.index_keys`` computes from its live
records: deterministic keys (a hit links, two hits merge), blocking keys (candidates), value
keys ``v:<label>:<value>`` and the population key ``v:*`` (docs/architecture.md, "Linking",
step 5). ``find`` answers "which golden records hold this key", ``count`` "how many": the
number of holders of a value, and of ``v:*`` the number of golden records of the domain.
Re-survival replaces a golden record's keys wholesale; a retired or merged one gets none.
"""

from __future__ import annotations

from hub.domain.linking import POPULATION_KEY
from tests.contract.support import Store, gid

ACME = {POPULATION_KEY, "tax:GB1", "blk:acme", "v:name:acme"}
ACME_TOO = {POPULATION_KEY, "blk:acme", "v:name:acme", "v:web:acme.com"}
ZENITH = {POPULATION_KEY, "tax:GB9", "blk:zenith", "v:name:zenith", "v:web:acme.com"}


def _index(store: Store, domain: str, keys: dict[str, set[str]]) -> None:
    with store.uow() as uow:
        uow.keys.replace(domain, keys)
        uow.commit()


def test_find_names_the_golden_records_holding_each_key(store: Store) -> None:
    _index(store, "client", {gid(1): ACME, gid(2): ACME_TOO, gid(3): ZENITH})
    _index(store, "project", {gid(4): {POPULATION_KEY, "blk:acme"}})
    with store.uow() as uow:
        found = uow.keys.find("client", ["tax:GB1", "blk:acme", "tax:none"])
        assert found == {"tax:GB1": {gid(1)}, "blk:acme": {gid(1), gid(2)}}
        assert uow.keys.find("client", []) == {}


def test_count_is_the_number_of_golden_records_per_key(store: Store) -> None:
    """A value held by many golden records weighs less, and ``v:*`` is the denominator: the
    domain's golden records. Absent keys are absent (the caller reads them as 0)."""
    _index(store, "client", {gid(1): ACME, gid(2): ACME_TOO, gid(3): ZENITH})
    _index(store, "project", {gid(4): {POPULATION_KEY, "v:name:acme"}})
    with store.uow() as uow:
        assert uow.keys.count("client", [POPULATION_KEY, "v:name:acme", "v:web:acme.com"]) == {
            POPULATION_KEY: 3,
            "v:name:acme": 2,
            "v:web:acme.com": 2,
        }
        assert uow.keys.count("client", ["v:name:nobody"]) == {}
        assert uow.keys.count("project", [POPULATION_KEY]) == {POPULATION_KEY: 1}


def test_replace_makes_the_index_hold_exactly_the_given_keys(store: Store) -> None:
    """A re-survived golden record's keys are what its live records give now: keys it lost are
    gone, keys it kept stay, other golden records are untouched; a retired or merged record
    (an empty set) leaves the index, and the population count with it."""
    _index(store, "client", {gid(1): ACME, gid(2): ACME_TOO})
    _index(store, "client", {gid(1): {POPULATION_KEY, "tax:GB1", "blk:acme-ltd"}, gid(2): set()})
    with store.uow() as uow:
        assert uow.keys.find("client", ["blk:acme", "blk:acme-ltd", "tax:GB1"]) == {
            "blk:acme-ltd": {gid(1)},
            "tax:GB1": {gid(1)},
        }
        assert uow.keys.count("client", [POPULATION_KEY, "v:name:acme"]) == {POPULATION_KEY: 1}
        uow.keys.replace("client", {})
        assert uow.keys.count("client", [POPULATION_KEY]) == {POPULATION_KEY: 1}


def test_keys_are_seen_within_the_transaction_that_wrote_them(store: Store) -> None:
    """A batch writes keys and a later step of the same transaction (the reindex, the next
    record of an onboarding run) reads them back."""
    with store.uow() as uow:
        uow.keys.replace("client", {gid(1): ACME})
        assert uow.keys.find("client", ["tax:GB1"]) == {"tax:GB1": {gid(1)}}


# -- pending references --------------------------------------------------------------------


def _pending(golden_id: str, key: str, target: str, name: str = "client") -> dict[str, str]:
    """A reference from a record of ``golden_id`` to a crm client not yet seen."""
    return {
        "golden_id": golden_id,
        "source": "crm",
        "source_key": key,
        "name": name,
        "target_domain": "client",
        "target_key": target,
    }


def test_waiting_for_names_the_golden_records_whose_reference_arrived(store: Store) -> None:
    """When the target record arrives, the golden records that waited for it are re-survived;
    the target is (source, domain, key) of the record referred to."""
    with store.uow() as uow:
        uow.pending.replace(
            [gid(1), gid(2)],
            [
                _pending(gid(1), "P1", "C1"),
                _pending(gid(1), "P1", "C2", name="partner"),
                _pending(gid(2), "P2", "C1"),
            ],
        )
        uow.commit()
    with store.uow() as uow:
        assert uow.pending.waiting_for([("crm", "client", "C1")]) == {gid(1), gid(2)}
        assert uow.pending.waiting_for([("crm", "client", "C2")]) == {gid(1)}
        assert uow.pending.waiting_for([("erp", "client", "C1")]) == set()
        assert uow.pending.waiting_for([("crm", "project", "C1")]) == set()
        assert uow.pending.waiting_for([]) == set()


def test_pending_replace_rewrites_only_the_given_golden_records(store: Store) -> None:
    """Re-survival writes a golden record's pending references anew: resolved ones go, still
    missing ones stay, and other golden records' are not touched."""
    with store.uow() as uow:
        uow.pending.replace(
            [gid(1), gid(2)], [_pending(gid(1), "P1", "C1"), _pending(gid(2), "P2", "C1")]
        )
        uow.commit()
    with store.uow() as uow:
        uow.pending.replace([gid(1)], [_pending(gid(1), "P1", "C3")])
        uow.commit()
    with store.uow() as uow:
        assert uow.pending.waiting_for([("crm", "client", "C1")]) == {gid(2)}
        assert uow.pending.waiting_for([("crm", "client", "C3")]) == {gid(1)}
        uow.pending.replace([gid(1), gid(2)], [])
        assert uow.pending.waiting_for([("crm", "client", "C1"), ("crm", "client", "C3")]) == set()
