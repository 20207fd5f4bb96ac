"""Compared values kept with a golden record (hub/services/compared.py) are a shortcut only:
a candidate takes them when they were made from exactly what it is now, and is then compared
exactly as it would have been without them; whatever else changed, it is normalised again."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest

from hub.domain.commands import ApplyPending, ReindexGolden
from hub.domain.model import CandidateMember
from hub.domain.spec import SourceSpec
from hub.services import compared
from hub.services.batch import Batch
from matching import FellegiSunterMatcher, TokenRatioAtThresholds
from tests.unit.fakes import FakeDatabase, FakeUnitOfWork, accept, change, default_config, fake_bus

SPEC = default_config().domains["client"]
CRM, ERP = SourceSpec("crm", "crm", 0), SourceSpec("erp", "erp", 1)
NAMES = ["Acme Widgets", "ACME Widgets Ltd", "Acme Widget Co", "Bolt Legal", "Bolt Legal LLP"]
PHONES = ["+44 20 7946 0001", "020 7946 0001", "+44 20 7946 0002", ""]
SITES = ["https://www.acme.co.uk", "acme.co.uk/about", "bolt.law", None]


def _member(key: str, digest: str = "d1", name: str = "Acme Ltd") -> CandidateMember:
    return CandidateMember("crm", "client", key, digest, {"name": name, "country": "GB"}, "g")


def _kept(matcher: FellegiSunterMatcher, members: list[tuple[SourceSpec, Any]]) -> Any:
    views = compared.entity_views(SPEC, {"name": "Acme Ltd", "country": "GB"}, {}, members)
    return compared.to_store(matcher, SPEC, 3, views, members)


def test_kept_values_are_taken_only_when_made_from_the_same_things() -> None:
    """Another version, member, digest, order of members, rank of a source or comparison
    each make the stamp differ; so does a value list that does not fit the views."""
    matcher = FellegiSunterMatcher()
    members = [(CRM, _member("A")), (ERP, _member("B", "d2"))]
    kept = _kept(matcher, members)
    assert compared.reusable(matcher, SPEC, kept, 3, members) == kept["values"]
    assert kept["values"]["name"][0] == kept["values"]["name"][1]  # survived = CRM's own
    others: list[tuple[Any, int, list[tuple[SourceSpec, Any]]]] = [
        (matcher, 4, members),
        (matcher, 3, [(CRM, _member("A"))]),
        (matcher, 3, [(CRM, _member("A", "d9")), members[1]]),
        (matcher, 3, members[::-1]),
        (matcher, 3, [members[0], (replace(ERP, rank=5), members[1][1])]),
    ]
    other_name = TokenRatioAtThresholds("name", (90, 80), normaliser="folded")
    assert other_name not in _comparisons()
    client = matcher.spec("client")
    assert client is not None
    changed = replace(
        client,
        comparisons=tuple(other_name if c.label == "name" else c for c in client.comparisons),
        model=None,
    )
    others.append((matcher.with_spec(changed), 3, members))
    for m, version, held in others:
        assert compared.reusable(m, SPEC, kept, version, held) is None
    short = {**kept, "values": {**kept["values"], "phone": kept["values"]["phone"][:1]}}
    assert compared.reusable(matcher, SPEC, short, 3, members) is None
    assert compared.reusable(matcher, SPEC, None, 3, members) is None


def _comparisons() -> Any:
    client = FellegiSunterMatcher().spec("client")
    assert client is not None
    return client.comparisons


def _stream(rng: random.Random, n: int) -> list[Any]:
    """Clients of two sources without a shared key, each updated now and then: names, phones
    and websites change (new golden versions), and so do fields no rule reads."""
    seq: dict[str, int] = {}
    out = []
    for _ in range(n):
        source = rng.choice(["crm", "erp"])
        key = f"{source}-{rng.randrange(12)}"
        seq[key] = seq.get(key, 0) + 1
        attrs = {
            "name": rng.choice(NAMES),
            "phone": rng.choice(PHONES),
            "website": rng.choice(SITES),
            "country": "GB",
            "industry": rng.choice(["legal", "software", None]),
        }
        out.append(change(source, "client", key, seq[key], **attrs))
    return out


def test_kept_values_equal_fresh_ones_whenever_they_are_taken() -> None:
    """Random streams through the applier with the Fellegi-Sunter matcher: for every active
    golden record, what a candidate read would take equals what normalising its views now
    gives, and most records have values to take."""
    taken = refused = 0
    for seed in range(6):
        rng = random.Random(seed)
        db = FakeDatabase()
        matcher = FellegiSunterMatcher()
        bus = fake_bus(db, matcher)
        accept(bus, *_stream(rng, 80))
        while (r := bus.apply(ApplyPending(5))).applied + r.stale:
            assert r.dead == 0
        with FakeUnitOfWork(db) as uow:
            sources = uow.sources()
            active = [g for g, row in db.state.golden.items() if row["status"] == "active"]
            goldens = uow.golden.candidates(active)
            live = uow.records.live(active)
        for gid, golden in goldens.items():
            members = [(sources[m.source], m) for m in live.get(gid, [])]
            views = compared.entity_views(SPEC, golden.attributes, golden.references, members)
            fresh = matcher.compared_values("client", views)
            assert fresh is not None
            kept = compared.reusable(matcher, SPEC, golden.compared, golden.version, members)
            if kept is None:
                refused += 1
            else:
                taken += 1
                assert kept == fresh[1], gid
    assert taken > 10 * max(refused, 1)


def test_a_candidates_views_come_with_the_kept_values() -> None:
    """The applier's candidate read hands the kept values to the matcher with the views, so
    none of them is normalised again; a record updated in a field no rule reads keeps its
    golden version but changes its digest (a field the domain does not declare), and its
    golden record is compared afresh."""
    db = FakeDatabase()
    matcher = FellegiSunterMatcher()
    bus = fake_bus(db, matcher)
    accept(bus, change("crm", "client", "A", 1, name="Acme Ltd", phone=PHONES[0], country="GB"))
    bus.apply(ApplyPending(5))
    (gid,) = db.state.golden
    ctx = bus.applier.context

    def views() -> Any:
        with FakeUnitOfWork(db) as uow:
            batch = Batch(records={})
            ctx.cache.fetch(uow, [], uow.sources())  # the cache starts empty: a fresh read
            ctx.cache._entries.clear()
            ctx.load_candidates(uow, batch, {gid})
            return ctx.entity(uow, batch, gid)

    made = views()
    assert set(made.compared) == {c.label for c in _comparisons()}
    with FakeUnitOfWork(db) as uow:  # the views as a full read makes them
        full = ctx.cache._full(uow, [gid])[gid]
        assert full.golden.attributes is not None and full.golden.references is not None
        sources = uow.sources()
        whole = compared.entity_views(
            SPEC,
            full.golden.attributes,
            full.golden.references,
            [(sources[m.source], m) for m in full.records],
        )
    assert len(made) == len(whole)
    assert made.compared == matcher.compared_values("client", whole)[1]  # type: ignore[index]
    with pytest.raises(RuntimeError, match="kept compared values"):
        made[0].get("name")  # read without its values: a look at them fails loudly
    version = db.state.golden[gid]["version"]
    accept(bus, change("crm", "client", "A", 2, name="Acme Ltd", phone=PHONES[0], country="GB",
                       crm_owner="Jane"))  # fmt: skip
    bus.apply(ApplyPending(5))
    assert db.state.golden[gid]["version"] == version  # a quiet update: no new version
    assert views().compared == {}


def test_a_reindex_makes_again_the_kept_values_an_upgrade_made_stale() -> None:
    """After an upgrade changed the matcher's code, every kept value is refused (its
    fingerprint differs) and a golden record whose values do not change never gets a new
    version to make them again: a reindex makes them again, without a new version or event,
    and leaves alone those that still hold."""
    db = FakeDatabase()
    matcher = FellegiSunterMatcher()
    bus = fake_bus(db, matcher)
    accept(
        bus,
        change("crm", "client", "A", 1, name="Acme Ltd", phone=PHONES[0], country="GB"),
        change("erp", "client", "B", 1, name="Bolt Legal", website=SITES[2], country="GB"),
    )
    bus.apply(ApplyPending(5))
    before = {g: (row["version"], row["compared"]) for g, row in db.state.golden.items()}
    events = len(db.state.outbox)

    def reusable(gid: str) -> Any:
        with FakeUnitOfWork(db) as uow:
            golden = uow.golden.candidates([gid])[gid]
            sources = uow.sources()
            members = [(sources[m.source], m) for m in uow.records.live([gid]).get(gid, [])]
        return compared.reusable(matcher, SPEC, golden.compared, golden.version, members)

    assert all(reusable(g) is not None for g in before)
    bus.handle(ReindexGolden("client", "", 100))
    assert {g: (row["version"], row["compared"]) for g, row in db.state.golden.items()} == before
    matcher._fingerprints["client"] = "another release"  # what an upgrade's code gives
    assert all(reusable(g) is None for g in before)
    bus.handle(ReindexGolden("client", "", 100))
    assert all(reusable(g) is not None for g in before)
    assert {g: row["version"] for g, row in db.state.golden.items()} == {
        g: version for g, (version, _) in before.items()
    }
    assert len(db.state.outbox) == events
