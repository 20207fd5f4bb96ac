"""Golden records: the applier saves a new golden record at version 1 and every later version
over it (one history row per save), loads them by id (with the steward's overrides and where a
merged one went), walks a domain in pages, and finds the golden records that refer to one."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hub.domain.model import GoldenRecord
from tests.contract.support import T0, UNIQUE_VIOLATION, Store, gid, golden


def test_a_new_golden_record_loads_as_saved(store: Store) -> None:
    g = golden(gid(1), name="Acme Ltd", tags=["a", "b"])
    g.references = {"client": gid(7)}
    g.overrides = {"name": {"value": "ACME", "reason": "legal name", "by": "ann"}}
    with store.uow() as uow:
        uow.golden.save([(g, ["name", "tags"], "created")], {gid(1): "acme ltd"}, T0)
        uow.commit()
    with store.uow() as uow:
        loaded = uow.golden.load([gid(1), gid(2)])
    assert list(loaded) == [gid(1)]
    got = loaded[gid(1)]
    assert got.created_at == T0  # the save's time: the record is born when first stored
    g.created_at = T0
    assert got == g
    assert store.versions(gid(1)) == [
        {
            "version": 1,
            "status": "active",
            "attributes": g.attributes,
            "xref": g.xref,
            "changed_fields": ["name", "tags"],
            "cause": "created",
        }
    ]


def test_a_new_version_replaces_values_overrides_and_merge_target(store: Store) -> None:
    """Every field a later version carries must come back: the steward's overrides (set and
    removed with a new version) and, for a merged record, where it went
    (``active_successor`` follows ``merged_into`` to find the record a candidate lives on
    in)."""
    with store.uow() as uow:
        uow.golden.save([(golden(gid(1)), ["name"], "created")], {}, T0)
        uow.commit()
    later = T0 + timedelta(days=1)
    with store.uow() as uow:
        g = uow.golden.load([gid(1)], lock=True)[gid(1)]
        g.version = 2
        g.attributes = {"name": "Acme Holdings"}
        g.overrides = {"name": {"value": "ACME", "reason": "legal name", "by": "ann"}}
        uow.golden.save([(g, ["name"], "override")], {}, later)
        uow.commit()
    with store.uow() as uow:
        g = uow.golden.load([gid(1)])[gid(1)]
        assert (g.version, g.attributes, g.created_at) == (2, {"name": "Acme Holdings"}, T0)
        assert g.overrides == {"name": {"value": "ACME", "reason": "legal name", "by": "ann"}}
        g.version, g.status, g.merged_into, g.xref, g.overrides = 3, "merged", gid(2), [], {}
        uow.golden.save([(g, [], "merged")], {}, later)
        uow.commit()
    with store.uow() as uow:
        g = uow.golden.load([gid(1)])[gid(1)]
    assert (g.version, g.status, g.merged_into, g.xref, g.overrides) == (
        3,
        "merged",
        gid(2),
        [],
        {},
    )
    assert [(v["version"], v["status"], v["cause"]) for v in store.versions(gid(1))] == [
        (1, "active", "created"),
        (2, "active", "override"),
        (3, "merged", "merged"),
    ]


def test_kept_compared_values_are_replaced_without_a_new_version(store: Store) -> None:
    """Compared values made again for an unchanged golden record (after an upgrade) replace
    the stored ones, come back with the record and as a candidate, and leave its version,
    stamp and history alone; a save without them clears them."""
    old = {"stamp": "s1", "values": {"name": ["acme"]}}
    new = {"stamp": "s2", "values": {"name": ["acme ltd"]}}
    with store.uow() as uow:
        uow.golden.save([(golden(gid(1)), [], "created"), (golden(gid(2)), [], "created")], {},
                        T0, {gid(1): old, gid(2): old})  # fmt: skip
        uow.commit()
    with store.uow() as uow:
        stamp = uow.golden.stamps([gid(1)])[gid(1)]
        uow.golden.keep_compared({gid(1): new})
        uow.commit()
    with store.uow() as uow:
        assert uow.golden.load([gid(1)])[gid(1)].compared == new
        assert uow.golden.candidates([gid(1)])[gid(1)].compared == new
        assert uow.golden.candidates([gid(2)])[gid(2)].compared == old  # only the one named
        lean, full = (uow.golden.candidates([gid(1)], v)[gid(1)] for v in (False, True))
        assert (lean.attributes, lean.references) == (None, None)  # not read
        assert full.attributes is not None and full.references is not None
        assert (lean.id, lean.domain, lean.compared) == (full.id, full.domain, new)
        assert lean.stamp == full.stamp == uow.golden.stamps([gid(1)])[gid(1)]
        assert uow.golden.stamps([gid(1)])[gid(1)] == stamp
        g = uow.golden.load([gid(1)], lock=True)[gid(1)]
        g.version = 2
        uow.golden.save([(g, [], "override")], {}, T0 + timedelta(days=1))
        uow.commit()
    assert [v["version"] for v in store.versions(gid(1))] == [1, 2]
    with store.uow() as uow:
        assert uow.golden.load([gid(1)])[gid(1)].compared is None


def test_a_version_is_written_once(store: Store) -> None:
    """Two appliers that re-survive one golden record from the same version must not both
    write the next one: (golden id, version) is unique, so the second fails."""
    with store.uow() as uow:
        uow.golden.save([(golden(gid(1)), [], "created")], {}, T0)
        uow.commit()
    with store.uow() as uow, pytest.raises(UNIQUE_VIOLATION):
        uow.golden.save([(golden(gid(1)), [], "created")], {}, T0)


def test_loaded_golden_records_are_copies(store: Store) -> None:
    """Survivorship mutates the loaded record; nothing is stored until ``save``."""
    with store.uow() as uow:
        uow.golden.save([(golden(gid(1), name="Acme"), [], "created")], {}, T0)
        g = uow.golden.load([gid(1)])[gid(1)]
        g.attributes["name"] = "changed in memory"
        g.version = 5
        again = uow.golden.load([gid(1)])[gid(1)]
    assert (again.attributes, again.version) == ({"name": "Acme"}, 1)


def test_active_ids_walks_a_domain_in_pages(store: Store) -> None:
    """``concord match reindex`` pages through one domain's active golden records by id:
    retired and merged ones and other domains are left out, each page starts above ``after``."""
    with store.uow() as uow:
        saved: list[tuple[GoldenRecord, list[str], str]] = [
            (golden(gid(n)), [], "created") for n in (5, 1, 4, 2, 3)
        ]
        saved.append((golden(gid(9), domain="project"), [], "created"))
        retired = golden(gid(6))
        retired.status = "retired"
        saved.append((retired, [], "created"))
        uow.golden.save(saved, {}, T0)
        merged = golden(gid(4))
        merged.version, merged.status, merged.merged_into = 2, "merged", gid(1)
        uow.golden.save([(merged, [], "merged")], {}, T0)
        uow.commit()
    pages: list[list[str]] = []
    after = ""
    with store.uow() as uow:
        while page := uow.golden.active_ids("client", after, 2):
            pages.append(page)
            after = page[-1]
        assert uow.golden.active_ids("resource", "", 10) == []
    assert pages == [[gid(1), gid(2)], [gid(3), gid(5)]]


def test_referring_to_finds_the_golden_records_that_name_one(store: Store) -> None:
    """When a golden record is merged away, the records that refer to it are re-survived so
    their references move to the winner."""
    with store.uow() as uow:
        a, b, c = golden(gid(1), domain="project"), golden(gid(2), domain="project"), golden(gid(3))
        a.references = {"client": gid(3)}
        b.references = {"client": gid(4), "partner": gid(5)}
        uow.golden.save([(g, [], "created") for g in (a, b, c)], {}, T0)
        uow.commit()
        assert uow.golden.referring_to([gid(3)]) == {gid(1)}
        assert uow.golden.referring_to([gid(5), gid(3)]) == {gid(1), gid(2)}
        assert uow.golden.referring_to([gid(8)]) == set()
        assert uow.golden.referring_to([]) == set()
