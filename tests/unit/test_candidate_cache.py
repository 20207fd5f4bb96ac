"""The applier's candidate cache: what it hands out is what is committed now, whichever
writer changed it (another applier, a steward, a rollback), and what it keeps is bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hub.domain.model import GoldenRecord, SourceRecord, attributes_digest
from hub.services.candidate_cache import CandidateCache
from matching import Views
from tests.unit.fakes import FakeDatabase, FakeUnitOfWork

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def _record(key: str, gid: str, **attrs: Any) -> SourceRecord:
    return SourceRecord(
        source="crm",
        domain="client",
        key=key,
        attributes=attrs,
        changed_at=T0,
        sequence=None,
        digest=attributes_digest(attrs),
        golden_id=gid,
    )


def _golden(gid: str, version: int, name: str) -> GoldenRecord:
    return GoldenRecord(gid, "client", version, "active", {"name": name}, {}, {})


def _commit(
    db: FakeDatabase, *, goldens: list[GoldenRecord], records: list[SourceRecord], at: datetime
) -> None:
    with FakeUnitOfWork(db) as uow:
        if records:
            uow.records.save(records, at)
        if goldens:
            uow.golden.save([(g, ["name"], "updated") for g in goldens], {}, at)
        uow.commit()


def _fetch(db: FakeDatabase, cache: CandidateCache, *ids: str) -> dict[str, Any]:
    with FakeUnitOfWork(db) as uow:
        return cache.fetch(uow, ids, uow.sources())


def _world() -> tuple[FakeDatabase, CandidateCache]:
    db = FakeDatabase()
    _commit(
        db, goldens=[_golden("g1", 1, "Acme")], records=[_record("A", "g1", name="Acme")], at=T0
    )
    return db, CandidateCache()


def test_an_unchanged_candidate_is_handed_out_again_without_reading_it() -> None:
    db, cache = _world()
    first = _fetch(db, cache, "g1")["g1"]
    again = _fetch(db, cache, "g1")["g1"]
    assert again is first and (cache.hits, cache.misses) == (1, 1)
    assert [r.key for r in again.records] == ["A"] and again.golden.attributes["name"] == "Acme"


def test_a_new_golden_version_is_read_again() -> None:
    db, cache = _world()
    _fetch(db, cache, "g1")
    _commit(db, goldens=[_golden("g1", 2, "Zenith")], records=[], at=T0 + timedelta(seconds=1))
    assert _fetch(db, cache, "g1")["g1"].golden.attributes["name"] == "Zenith"


def test_a_changed_or_new_source_record_is_read_again_though_the_golden_is_not() -> None:
    """A record's value that wins nothing leaves the golden record's version alone, but it is
    one of the views the matcher compares with."""
    db, cache = _world()
    _fetch(db, cache, "g1")
    stored = db.record("crm", "client", "A")
    changed = _record("A", "g1", name="Acme", city="Leeds")
    changed.stored, changed.id = True, stored.id
    _commit(db, goldens=[], records=[changed], at=T0 + timedelta(seconds=1))
    assert _fetch(db, cache, "g1")["g1"].records[0].attributes["city"] == "Leeds"
    _commit(
        db, goldens=[], records=[_record("B", "g1", name="Acme Ltd")], at=T0 + timedelta(seconds=2)
    )
    assert [r.key for r in _fetch(db, cache, "g1")["g1"].records] == ["A", "B"]


def test_a_record_that_changed_between_stamp_and_read_is_kept_as_read() -> None:
    """A held entry's stamp is checked first: a record changed between the check and the
    read must be stamped with the digest it was read with, or a later change back to the
    stamped image would match the stamp and hand out the image in between."""
    db, cache = _world()
    _fetch(db, cache, "g1")  # held; a new version makes it stale: checked, then read again
    _commit(db, goldens=[_golden("g1", 2, "Acme")], records=[], at=T0 + timedelta(seconds=1))

    class Racing(FakeUnitOfWork):
        def __init__(self) -> None:
            super().__init__(db)
            outer = self

            class Records(type(self.records)):  # type: ignore[misc]
                def members(self, golden_ids: Any) -> Any:
                    found = super().members(golden_ids)
                    rec = outer.work.records[next(iter(outer.work.records))]
                    rec.attributes, rec.digest = {"name": "Between"}, "between"
                    return found

            self.records = Records(self)

    with Racing() as uow:
        entry = cache.fetch(uow, {"g1"}, uow.sources())["g1"]
    assert entry.records[0].attributes == {"name": "Between"}
    assert entry.stamp[1][0][3] == "between"  # not the stamped digest: never matches it again
    assert _fetch(db, cache, "g1")["g1"].records[0].attributes == {"name": "Acme"}


def test_only_the_candidates_it_holds_are_checked_before_the_read() -> None:
    """A candidate the cache never met is read in full at once, its stamp with its row: no
    check first (most candidates of an onboarding load are met once). One it holds is
    checked, and matches."""
    db, cache = _world()
    asked: list[tuple[str, set[str]]] = []

    class Counting(FakeUnitOfWork):
        def __init__(self) -> None:
            super().__init__(db)
            golden, records = self.golden, self.records

            class Golden(type(golden)):  # type: ignore[misc]
                def stamps(self, ids: Any) -> Any:
                    asked.append(("stamps", set(ids)))
                    return super().stamps(ids)

            class Records(type(records)):  # type: ignore[misc]
                def members(self, ids: Any) -> Any:
                    asked.append(("members", set(ids)))
                    return super().members(ids)

            self.golden, self.records = Golden(self), Records(self)

    with Counting() as uow:
        cache.fetch(uow, {"g1"}, uow.sources())
    assert asked == [] and (cache.hits, cache.misses) == (0, 1)
    with Counting() as uow:
        cache.fetch(uow, {"g1", "no-such-id"}, uow.sources())
    assert asked == [("stamps", {"g1"}), ("members", {"g1"})]
    assert (cache.hits, cache.misses) == (1, 1)


def test_a_source_spec_change_empties_the_cache() -> None:
    db, cache = _world()
    _fetch(db, cache, "g1")
    spec = db.source_specs["crm"]
    db.source_specs["crm"] = type(spec)(spec.name, spec.kind, spec.rank + 1)
    _fetch(db, cache, "g1")
    assert (cache.hits, cache.misses) == (0, 2)


def test_views_are_kept_only_for_the_copy_they_were_made_of() -> None:
    db, cache = _world()
    old = _fetch(db, cache, "g1")["g1"]
    _commit(db, goldens=[_golden("g1", 2, "Zenith")], records=[], at=T0 + timedelta(seconds=1))
    new = _fetch(db, cache, "g1")["g1"]
    cache.keep_views("g1", old.golden, Views([{"name": "Acme"}]))  # a batch still on the old
    assert new.views is None
    cache.keep_views("g1", new.golden, Views([{"name": "Zenith"}]))
    assert _fetch(db, cache, "g1")["g1"].views == [{"name": "Zenith"}]


def test_the_least_recently_used_leave_first() -> None:
    db = FakeDatabase()
    goldens = [_golden(f"g{i}", 1, f"Firm {i}") for i in range(4)]
    _commit(db, goldens=goldens, records=[], at=T0)
    cache = CandidateCache(size=2)
    _fetch(db, cache, "g0", "g1")
    _fetch(db, cache, "g0")
    _fetch(db, cache, "g2")
    assert len(cache) == 2
    hits = cache.hits
    _fetch(db, cache, "g0", "g2")
    assert cache.hits == hits + 2  # g1 left, the two used since stayed


def test_a_golden_record_that_is_gone_is_not_handed_out() -> None:
    db, cache = _world()
    assert _fetch(db, cache, "g1", "nope").keys() == {"g1"}


def test_the_applier_keeps_its_cache_size_across_a_new_matcher() -> None:
    """CONCORD_APPLY_CACHE_SIZE reaches the cache, and a retrained matcher (a new context and
    an empty cache: views are the old matcher's) keeps the size."""
    from hub.config import Settings
    from hub.services.apply import Applier
    from tests.unit.fakes import DelegatingMatcher

    assert Settings(apply_cache_size=0).apply_cache_size == 0
    applier = Applier({}, DelegatingMatcher(), cache_size=7)
    first = applier.context.cache
    applier.matcher = DelegatingMatcher()
    assert applier.context.cache is not first and applier.context.cache.size == 7
