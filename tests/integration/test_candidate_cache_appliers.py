"""Two appliers on one database, each with its own candidate cache: what one commits, the
other's next batch compares with, not the copy it kept (docs/architecture.md, "Speed")."""

from __future__ import annotations

from hub.bootstrap import bootstrap
from hub.store import access
from hub.store.uow import admin_session
from tests.conftest import Api, ChangeFactory
from tests.support.steward import ACME as STEWARD_ACME

ACME = {**STEWARD_ACME, "phone": "020 7946 0000"}
ZENITH = {
    "name": "Zenith Partners LLP",
    "address_line": "40 Quay Street",
    "city": "Manchester",
    "postcode": "M3 3JZ",
    "country": "GB",
    "phone": "0161 496 0000",
}


def test_a_candidate_another_applier_changed_is_compared_as_it_is_now(
    api: Api, change: ChangeFactory
) -> None:
    with admin_session(api.hub.engine) as s:
        api.keys["northwind-crm"] = access.add_source(
            s, "northwind-crm", ["client"], None, None, set(api.hub.config.domains)
        )
    other = bootstrap(settings=api.hub.settings, config=api.hub.config)
    try:
        api.post("crm", change("client", "A-1", 1, **ACME))
        api.apply()
        gid = api.golden_of("crm", "client", "A-1")["id"]
        # The other applier meets the golden record as a candidate (a sister company that
        # stays apart) and keeps it.
        api.post(
            "northwind-crm", change("client", "NW-1", 1, **{**ACME, "name": "Acme Services Ltd"})
        )
        other.bus.drain()
        assert api.golden_of("northwind-crm", "client", "NW-1")["id"] != gid
        assert other.bus.applier.context.cache.misses > 0
        # This applier renames and moves the client: the same golden record, now Zenith.
        api.post("crm", change("client", "A-1", 2, **ZENITH))
        api.apply()
        assert api.golden_of("crm", "client", "A-1")["attributes"]["name"] == ZENITH["name"]  # type: ignore[index]
        # The acquired CRM's copy of Zenith reaches it through the new name's blocking key;
        # compared with the kept copy (Acme in London) it would stay apart.
        hits = other.bus.applier.context.cache.hits
        api.post(
            "northwind-crm", change("client", "NW-2", 1, **{**ZENITH, "name": "Zenith Partners"})
        )
        other.bus.drain()
        assert api.golden_of("northwind-crm", "client", "NW-2")["id"] == gid
        assert other.bus.applier.context.cache.hits == hits  # read again, not handed out
    finally:
        other.close()


def test_a_candidate_is_read_with_the_values_a_full_load_has(
    api: Api, change: ChangeFactory
) -> None:
    """The light read of candidates (no lineage, overrides or xref) gives the values,
    references, status and version that the full load gives, and the stamp a cache checks."""
    api.post("crm", change("client", "A-1", 1, **ACME), change("client", "Z-1", 1, **ZENITH))
    api.post("psa", change("project", "P-1", 1, code="PRJ-1", name="Audit", client_key="A-1"))
    api.apply()
    ids = [api.golden_of("crm", "client", k)["id"] for k in ("A-1", "Z-1")]
    ids.append(api.golden_of("psa", "project", "P-1")["id"])
    with api.hub.uow() as uow:
        full = uow.golden.load([*ids, "no-such-id"])
        light = uow.golden.candidates([*ids, "no-such-id"])
        stamps = uow.golden.stamps([*ids, "no-such-id"])
    assert light.keys() == full.keys() == set(ids)
    for gid, g in full.items():
        c = light[gid]
        assert (c.id, c.domain, c.version, c.status) == (g.id, g.domain, g.version, g.status)
        assert c.stamp == stamps[gid]  # what a cache entry made from it is checked by
        assert (c.attributes, c.references) == (g.attributes, g.references)
    assert any(g.references for g in full.values())  # the project's client
