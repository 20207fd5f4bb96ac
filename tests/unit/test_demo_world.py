"""The demo world keeps the ingest contract and carries the overlaps the demo is meant to show.

`concord demo` posts this plan to a live hub, so a broken change would surface there as a
refused batch; these tests catch it without a hub and pin the scenarios the demo narrates.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, datetime

import pytest

from hub.demo.world import SOURCES, Change, build_world

SEEDS = [7, 1, 42, 2026]
CONTRACT_KEYS = {"event_id", "domain", "key", "op", "sequence", "changed_at", "attributes"}
# domain -> "field:type" (s string, d date, n number, b boolean, l list, r reference key)
_SPEC = {
    "client": "name:s legal_name:s website:s phone:s address_line:s city:s postcode:s region:s "
    "country:s tax_id:s industry:s status:s billing_currency:s payment_terms:s "
    "erp_customer_number:s",
    "project": "code:s name:s status:s start_date:d end_date:d billing_type:s billable:b "
    "cost_center:s legal_entity:s currency:s opportunity_id:s contract_value:n client_key:r "
    "project_manager_key:r",
    "resource": "given_name:s family_name:s email:s phone:s date_of_birth:d address_line:s "
    "city:s postcode:s region:s employee_id:s job_title:s department:s location:s status:s "
    "start_date:d end_date:d cost_center:s cost_rate:n skills:l manager_key:r",
    "assignment": "role:s start_date:d end_date:d bill_rate:n cost_rate:n status:s "
    "resource_key:r project_key:r",
}
FIELDS = {d: dict(f.split(":") for f in spec.split()) for d, spec in _SPEC.items()}


def _changes(plan: list[tuple[str, list[Change]]]) -> list[tuple[str, Change]]:
    return [(source, change) for source, batch in plan for change in batch]


def _attrs(change: Change) -> dict[str, object]:
    attrs = change["attributes"]
    assert isinstance(attrs, dict)
    return attrs


def _site(url: object) -> str:
    """The registered-domain part the hub links on, enough for the demo's own URLs."""
    text = str(url).lower().removeprefix("https://").removeprefix("http://")
    return text.removeprefix("www.").split("/")[0]


@pytest.fixture(scope="module")
def plan() -> list[tuple[str, list[Change]]]:
    return build_world()


def test_same_seed_same_plan_and_other_seed_differs() -> None:
    assert build_world(7) == build_world(7)
    assert build_world() == build_world(7)
    assert build_world(8) != build_world(7)


@pytest.mark.parametrize("seed", SEEDS)
def test_every_change_keeps_the_contract(seed: int) -> None:
    for source, change in _changes(build_world(seed)):
        assert set(change) == CONTRACT_KEYS
        assert change["op"] in {"upsert", "delete"}
        assert change["domain"] in SOURCES[source]
        seq = change["sequence"]
        assert isinstance(seq, int) and seq > 0
        assert change["event_id"] == f"{source}-{seq:06d}"
        assert isinstance(change["key"], str) and change["key"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", str(change["changed_at"]))
        datetime.fromisoformat(str(change["changed_at"]).replace("Z", "+00:00"))
        fields = FIELDS[str(change["domain"])]
        for name, value in _attrs(change).items():
            kind = fields[name]  # an unknown field would make the hub refuse the batch
            assert value not in (None, "", [])
            if kind in "sr":
                assert isinstance(value, str)
            elif kind == "d":
                assert isinstance(value, str) and len(value) == 10
                date.fromisoformat(value)
            elif kind == "n":
                assert isinstance(value, int | float) and not isinstance(value, bool)
            elif kind == "b":
                assert isinstance(value, bool)
            else:
                assert isinstance(value, list) and all(isinstance(v, str) for v in value)


@pytest.mark.parametrize("seed", SEEDS)
def test_event_ids_are_unique_and_batches_small(seed: int) -> None:
    plan = build_world(seed)
    assert all(0 < len(batch) <= 200 for _, batch in plan)
    ids = [c["event_id"] for _, c in _changes(plan)]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("seed", SEEDS)
def test_every_project_upsert_names_a_client(seed: int) -> None:
    for _, change in _changes(build_world(seed)):
        if change["domain"] == "project" and change["op"] == "upsert":
            assert _attrs(change).get("client_key")


@pytest.mark.parametrize("seed", SEEDS)
def test_sequences_increase_except_the_deliberate_stale_change(seed: int) -> None:
    last: dict[str, int] = {}
    newest: dict[tuple[str, str, object], int] = {}
    stale: list[Change] = []
    for source, change in _changes(build_world(seed)):
        seq = int(str(change["sequence"]))
        ident = (source, str(change["domain"]), change["key"])
        if seq <= last.get(source, 0):
            assert newest[ident] > seq  # stale for a key the hub already holds newer
            stale.append(change)
        else:
            last[source] = seq
        newest[ident] = max(newest.get(ident, 0), seq)
    assert 1 <= len(stale) <= 3


def test_world_has_updates_and_a_crm_delete(plan: list[tuple[str, list[Change]]]) -> None:
    seen = Counter((s, c["domain"], c["key"]) for s, c in _changes(plan))
    assert sum(1 for n in seen.values() if n > 1) >= 5
    deletes = [(s, c) for s, c in _changes(plan) if c["op"] == "delete"]
    assert [(s, c["domain"]) for s, c in deletes] == [("crm", "client")]


def test_world_size_is_realistic(plan: list[tuple[str, list[Change]]]) -> None:
    keys = {(s, c["domain"], c["key"]) for s, c in _changes(plan)}
    count = Counter((s, d) for s, d, _ in keys)
    assert 50 <= count["crm", "client"] <= 70
    assert 40 <= count["erp", "client"] <= 50
    assert 60 <= count["hr", "resource"] <= 80
    assert count["time", "resource"] == count["hr", "resource"]
    assert 55 <= count["psa", "project"] <= 75
    assert 50 <= count["crm", "project"] <= 70


ENUMS = {
    ("client", "status"): {"active", "inactive"},
    ("project", "status"): {"proposed", "active", "closed"},
    ("project", "billing_type"): {"time_and_materials", "fixed_fee", "retainer"},
    ("resource", "status"): {"active", "leaver"},
    ("assignment", "status"): {"confirmed", "completed"},
}


@pytest.mark.parametrize("seed", SEEDS)
def test_coded_values_and_references_resolve_within_the_source(seed: int) -> None:
    changes = _changes(build_world(seed))
    posted = {(s, c["domain"], c["key"]) for s, c in changes if c["op"] == "upsert"}
    targets = {
        "client_key": "client",
        "project_manager_key": "resource",
        "manager_key": "resource",
        "resource_key": "resource",
        "project_key": "project",
    }
    for source, change in changes:
        for name, value in _attrs(change).items():
            allowed = ENUMS.get((str(change["domain"]), name))
            assert allowed is None or value in allowed
            if name in targets:  # a reference is the same source's own key, sent at some point
                assert (source, targets[name], value) in posted


def test_psa_posts_projects_before_the_clients_they_name(
    plan: list[tuple[str, list[Change]]],
) -> None:
    first_seen: dict[tuple[str, object], int] = {}
    wanted: dict[object, int] = {}
    for n, (source, change) in enumerate(_changes(plan)):
        if source != "psa":
            continue
        first_seen.setdefault((str(change["domain"]), change["key"]), n)
        if change["domain"] == "project":
            wanted.setdefault(_attrs(change)["client_key"], n)
    assert any(n < first_seen.get(("client", key), -1) for key, n in wanted.items())
    assert all(("client", key) in first_seen for key in wanted)  # every wait ends


def test_erp_clients_share_a_link_key_with_crm_but_not_the_name(
    plan: list[tuple[str, list[Change]]],
) -> None:
    crm: list[dict[str, object]] = []
    erp: list[dict[str, object]] = []
    for source, change in _changes(plan):
        if change["domain"] == "client" and change["op"] == "upsert" and source in {"crm", "erp"}:
            (crm if source == "crm" else erp).append(_attrs(change))
    by_tax = {(c["tax_id"], c["country"]): c for c in crm if "tax_id" in c}
    by_site = {_site(c["website"]): c for c in crm if "website" in c}
    linked = 0
    for e in erp:
        assert e.get("tax_id") and e.get("country")
        twin = by_tax.get((e["tax_id"], e["country"])) or by_site.get(_site(e.get("website", "")))
        if twin is not None:
            linked += 1
            assert twin["name"] != e["name"]
    assert linked >= 0.8 * len({e["erp_customer_number"] for e in erp})


def test_psa_titles_differ_from_hr_for_about_ten_people(
    plan: list[tuple[str, list[Change]]],
) -> None:
    hr: dict[object, object] = {}
    psa: dict[object, object] = {}
    for source, change in _changes(plan):
        attrs = _attrs(change)
        if source in {"hr", "psa"} and change["domain"] == "resource":
            target = hr if source == "hr" else psa
            target.setdefault(attrs["email"], attrs.get("job_title"))  # the first load
    differ = [e for e in psa if psa[e] != hr[e]]
    assert 8 <= len(differ) <= 12


def test_names_exercise_the_awkward_cases(plan: list[tuple[str, list[Change]]]) -> None:
    names = [str(_attrs(c).get("name")) for s, c in _changes(plan) if s == "crm"]
    countries = {_attrs(c).get("country") for s, c in _changes(plan) if c["domain"] == "client"}
    assert any(n.startswith("The ") for n in names)
    assert any("&" in n for n in names) and any(" and " in n for n in names)
    assert "Société Générale Conseil" in names
    assert {"GB", "DE", "FR", "NL", "US", "IE"} <= countries


def test_hr_has_leavers_and_managers(plan: list[tuple[str, list[Change]]]) -> None:
    hr = [_attrs(c) for s, c in _changes(plan) if s == "hr"]
    leavers = {str(a["email"]) for a in hr if a.get("status") == "leaver"}
    assert len(leavers) >= 2
    assert all(a.get("end_date") for a in hr if a.get("status") == "leaver")
    assert sum(1 for a in hr if a.get("manager_key")) >= 30
