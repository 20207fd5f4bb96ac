"""An update that can change no winner skips re-survival (issue 14, must-have 1), one that
moves no key field keeps its golden record's index keys, and the hub ends exactly where it
would have had every update been survived again, keys and all.

Random streams of updates from CRM, an acquired CRM, ERP and PSA (owned fields and fields
they do not own, blanks, key fields, references moved) are applied twice on fake storage:
as the applier does, and with the check switched off, so every update re-survives its
golden record and computes its keys anew. Every golden record (values, lineage, version,
status), the outbox and the key index must come out the same, and each check must have
skipped some updates and not others.
"""

from __future__ import annotations

import itertools
import random
import re
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from hub.domain import golden as rules
from hub.domain.commands import ApplyPending
from hub.domain.model import Change, SourceRecord
from hub.services import survival
from hub.services.batch import Batch
from matching import FellegiSunterMatcher
from tests.unit.fakes import FakeDatabase, accept, change, fake_bus

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CLIENT_VALUES: dict[str, list[Any]] = {
    "industry": ["legal", "software", "", None],
    "payment_terms": ["NET30", "NET60", ""],
    "status": ["active", "prospect", "active"],
    "billing_currency": ["EUR", "GBP", None],
    "legal_name": ["Acme Ltd", "Acme Limited", ""],
    "name": ["Acme", "ACME", "Acme Group"],
    "phone": ["+44 20 7946 0001", "+44 20 7946 0002", ""],
}
PROJECT_VALUES: dict[str, list[Any]] = {
    "name": ["Audit", "Audit 2027", ""],
    "status": ["open", "closed"],
    "billing_code": ["B-1", "B-2", None],
    "cost_center": ["CC1", "CC2", ""],
}


def _stream(rng: random.Random) -> list[Change]:
    """Two firms, each known to every source by its tax id, and projects of them in PSA and
    ERP; then updates of random records with random images."""
    firms = {f"F{i}": {"tax_id": f"GB{i}00", "country": "GB"} for i in range(2)}
    seq: Counter[str] = Counter()
    out: list[Change] = []

    held: dict[str, dict[str, Any]] = {}

    def image(key: str, first: dict[str, Any], values: dict[str, list[Any]]) -> dict[str, Any]:
        """A record's first image, then its last one with one or two fields changed, as a
        source's mass update of a status or an owner changes one column."""
        if key not in held:
            held[key] = {**first, **{f: rng.choice(v) for f, v in values.items()}}
        else:
            for f in rng.sample(list(values), rng.choice([1, 1, 2])):
                held[key][f] = rng.choice(values[f])
        return dict(held[key])

    def client(source: str, firm: str) -> Change:
        key = f"{source}-{firm}"
        seq[key] += 1
        attrs = image(key, firms[firm], CLIENT_VALUES)
        if rng.random() < 0.05:  # an identity key moves: the record goes to another firm
            attrs["tax_id"] = held[key]["tax_id"] = f"GB{rng.randrange(3)}00"
        return change(source, "client", key, seq[key], **attrs)

    def project(source: str, firm: str) -> Change:
        key = f"{source}-P-{firm}"
        seq[key] += 1
        owner = source if source != "psa" else "crm"
        attrs = image(key, {"code": f"P-{firm}", "client_key": f"{owner}-{firm}"}, PROJECT_VALUES)
        if rng.random() < 0.1:
            attrs["client_key"] = held[key]["client_key"] = f"{owner}-{rng.choice(list(firms))}"
        return change(source, "project", key, seq[key], **attrs)

    for firm in firms:
        out += [client(s, firm) for s in ("crm", "northwind-crm", "erp")]
        out += [project(s, firm) for s in ("psa", "erp")]
    for _ in range(rng.randrange(20, 60)):
        firm = rng.choice(list(firms))
        if rng.random() < 0.75:
            out.append(client(rng.choice(("crm", "northwind-crm", "erp")), firm))
        else:
            out.append(project(rng.choice(("psa", "erp")), firm))
    return out


def _run(stream: list[Change], cuts: list[int], matcher: Any | None) -> dict[str, Any]:
    """Apply ``stream`` in four parts, batches of 7; what the hub holds afterwards, named by
    source records. Golden ids are numbered, not random, in each run: which of two golden
    records wins a merge must not differ between the runs compared."""
    numbers = itertools.count(1)
    uuid.uuid4 = lambda: uuid.UUID(int=next(numbers))  # restored by the tests' monkeypatch
    db = FakeDatabase()
    bus = fake_bus(db, matcher)
    start = 0
    for cut in [*cuts, len(stream)]:
        accept(bus, *stream[start:cut])
        start = cut
        while (r := bus.apply(ApplyPending(7))).applied + r.stale:
            assert r.dead == 0
    state = db.state
    by_golden: dict[str, list[str]] = {}
    for r in state.records.values():
        if r.golden_id and not r.deleted:
            by_golden.setdefault(r.golden_id, []).append(f"{r.source}/{r.key}")
    name = {gid: ",".join(sorted(keys)) for gid, keys in by_golden.items()}
    goldens = {
        name[gid]: (g["status"], g["version"], g["attributes"], g["provenance"])
        for gid, g in state.golden.items()
        if gid in name
    }
    keys: dict[str, set[str]] = {}
    for row in state.keys:  # a key that names a golden record (a reference's) by its records
        if row["golden_id"] in name:
            key = UUID.sub(lambda m: name.get(m.group(0), "?"), row["key"])
            keys.setdefault(name[row["golden_id"]], set()).add(key)
    events = Counter(name.get(row["golden_id"], "gone") for row in state.outbox)
    return {"goldens": goldens, "keys": keys, "events": events}


def _matcher(kind: str) -> Any | None:
    return None if kind == "deterministic" else FellegiSunterMatcher()


def _cuts(rng: random.Random, stream: list[Change]) -> list[int]:
    return sorted(rng.sample(range(1, len(stream)), 3))


@pytest.mark.parametrize("matcher", ["deterministic", "fellegi-sunter"])
@pytest.mark.parametrize("seed", range(40))
def test_skipping_quiet_updates_ends_where_surviving_every_update_does(
    seed: int, matcher: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uuid, "uuid4", uuid.uuid4)  # _run numbers them
    rng = random.Random(seed)
    stream = _stream(rng)
    cuts = _cuts(rng, stream)
    quick = _run(stream, cuts, _matcher(matcher))
    monkeypatch.setattr(rules, "update_changes_nothing", lambda *a: False)
    monkeypatch.setattr(rules, "update_keeps_keys", lambda *a: False)
    full = _run(stream, cuts, _matcher(matcher))
    assert quick["goldens"] == full["goldens"]
    assert quick["keys"] == full["keys"]
    assert quick["events"] == full["events"]


@pytest.mark.parametrize("check", ["update_changes_nothing", "update_keeps_keys"])
@pytest.mark.parametrize("matcher", ["deterministic", "fellegi-sunter"])
def test_the_streams_have_updates_each_check_lets_through_and_updates_it_does_not(
    matcher: str, check: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The comparison above says nothing if a check never let an update skip (surviving
    again, or computing its keys), or always."""
    answers: Counter[bool] = Counter()
    asked = getattr(rules, check)

    def counted(*args: Any) -> bool:
        answer: bool = asked(*args)
        answers[answer] += 1
        return answer

    monkeypatch.setattr(rules, check, counted)
    monkeypatch.setattr(uuid, "uuid4", uuid.uuid4)  # _run numbers them
    for seed in range(10):
        rng = random.Random(seed)
        stream = _stream(rng)
        _run(stream, _cuts(rng, stream), _matcher(matcher))
    assert answers[True] > 20 and answers[False] > 20, answers


def _record(key: str, golden_id: str) -> SourceRecord:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return SourceRecord("crm", "client", key, {}, at, 1, "d", golden_id=golden_id)


def test_a_golden_record_that_gains_or_loses_a_record_computes_its_keys() -> None:
    """The kept keys hold only for a golden record whose records are the same: one a
    concurrent merge moved a record onto (``follow_merges``), or a merge's winner or loser,
    computes them, however quiet its own updates were."""
    records = {
        ("crm", "client", "a"): _record("a", "G1"),
        ("crm", "client", "b"): _record("b", "G2"),
        ("crm", "client", "moved"): _record("moved", "G2"),  # followed a merge onto G2
        ("crm", "client", "c"): _record("c", "G3"),
        ("crm", "client", "d"): _record("d", "G4"),
    }
    batch = Batch(
        records=records,
        updated={
            "G1": [("crm", "client", "a")],
            "G2": [("crm", "client", "b")],
            "G3": [("crm", "client", "c")],
            "G4": [("crm", "client", "d")],
        },
        merges={"G3": "G9", "G8": "G4"},
    )
    assert survival._same_members(batch, {"G1", "G2", "G3", "G4"}) == {"G1"}
    assert survival._same_members(batch, set()) == set()
