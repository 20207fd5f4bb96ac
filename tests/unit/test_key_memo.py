"""Index keys kept by the fields the matcher reads (hub/services/survival.py, ``_view_keys``):
an update that changes no such field computes no key, and one that does gets its new keys."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import pytest

from hub.bootstrap import deterministic_matcher, fuzzy_matcher
from hub.config import load_config
from hub.domain.spec import ISSUER_FIELD, SOURCE_FIELD
from hub.services.bus import MessageBus
from tests.unit.fakes import DelegatingMatcher, FakeDatabase, accept, change, fake_bus

CONFIG = load_config()
SAMPLES: dict[str, tuple[Any, ...]] = {  # two or three values of each kind a field may hold
    "email": ("ann.lee@acme.co.uk", "a.lee@globex.com"),
    "phone": ("+44 20 7946 0001", "020 7946 0999", "+1 415 555 0100"),
    "website": ("https://www.acme.co.uk/", "globex.example"),
    "country": ("GB", "Deutschland"),
    "date": ("1980-02-03", "2001-12-31"),
    "text": ("Acme Widgets Ltd", "Globex  Corporation", "Ann", 42, True, None, ""),
}


def kind(field: str) -> str:
    for name in ("email", "phone", "website", "country"):
        if name in field:
            return name
    return "date" if "date" in field or field.endswith("_from") else "text"


def keys_of(matcher: Any, domain: str, view: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(
        (
            *matcher.deterministic_keys(domain, view),
            *matcher.blocking_keys(domain, view),
            *matcher.value_keys(domain, view).values(),
        )
    )


@pytest.mark.parametrize("build", [fuzzy_matcher, deterministic_matcher])
@pytest.mark.parametrize("domain", sorted(CONFIG.domains))
def test_keys_depend_on_the_named_fields_alone(build: Any, domain: str) -> None:
    """Change any other field of a full record, one at a time, to each sample value: no key
    moves. Change a named one: some key does, so the check is not vacuous."""
    matcher = build(CONFIG)
    spec = CONFIG.domains[domain]
    named = matcher.key_fields(domain)
    assert named is not None
    fields = [f.name for f in spec.fields] + [r.name for r in spec.references]
    for variant in range(2):
        view: dict[str, Any] = {
            f: SAMPLES[kind(f)][variant % len(SAMPLES[kind(f)])] for f in fields
        } | {SOURCE_FIELD: "crm", ISSUER_FIELD: "rank:1"}
        before = keys_of(matcher, domain, view)
        for f, value in itertools.product([*fields, SOURCE_FIELD], SAMPLES["text"]):
            if f not in named:
                assert keys_of(matcher, domain, view | {f: value}) == before, (f, value)
        moved = [f for f in named if keys_of(matcher, domain, view | {f: None}) != before]
        assert bool(moved) == bool(before), (named, before)


class CountingMatcher(DelegatingMatcher):
    """The deterministic matcher, counting the views whose keys it computes; it names the
    fields its keys read when ``names`` is set, as the real matchers do."""

    def __init__(self, names: bool) -> None:
        super().__init__()
        self.names = names
        self.computed = 0

    def deterministic_keys(self, domain: str, record: Mapping[str, object]) -> list[str]:
        self.computed += 1
        return self.inner.deterministic_keys(domain, record)

    def key_fields(self, domain: str) -> frozenset[str] | None:  # type: ignore[override]
        return self.inner.key_fields(domain) if self.names else None


CRM = {"name": "Acme", "tax_id": "GB 123 4567 89", "country": "GB", "status": "prospect"}


def run(names: bool) -> tuple[FakeDatabase, MessageBus, CountingMatcher]:
    db, matcher = FakeDatabase(), CountingMatcher(names)
    bus = fake_bus(db, matcher)
    accept(bus, change("crm", "client", "C-1", 1, **CRM))
    accept(bus, change("erp", "client", "E-1", 1, **CRM | {"name": "ACME LTD"}))
    bus.drain()
    return db, bus, matcher


def index(db: FakeDatabase) -> set[str]:
    return {row["key"] for row in db.state.keys}


def test_an_update_of_a_field_no_key_reads_computes_fewer_keys() -> None:
    counts = {}
    for names in (False, True):
        db, bus, matcher = run(names)
        held = index(db)
        matcher.computed = 0
        accept(bus, change("crm", "client", "C-1", 2, **CRM | {"status": "active"}))
        bus.drain()
        counts[names] = matcher.computed
        assert index(db) == held
        assert db.golden_of("crm", "client", "C-1")["attributes"]["status"] == "active"
    assert counts[True] < counts[False], counts


def test_an_update_of_a_key_field_replaces_its_keys_in_the_index() -> None:
    db, bus, _ = run(names=True)
    before = index(db)
    accept(bus, change("crm", "client", "C-1", 2, **CRM | {"tax_id": "GB 999 9999 99"}))
    accept(bus, change("erp", "client", "E-1", 2, **CRM | {"tax_id": "GB 999 9999 99"}))
    bus.drain()
    after = index(db)
    assert after != before
    assert not any("123456789" in k for k in after), after
    assert any("999999999" in k for k in after), after
