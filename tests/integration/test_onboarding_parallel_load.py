"""A committed onboarding run on PostgreSQL applies its load in as many processes as it
previews in (they split the inbox by partition, as ``concord worker`` processes do): the
result is the one a single process reaches, and no guarantee of the scale-out breaks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import select

from bench.apply import check_invariants
from bench.companies import CompanySet, generate
from bench.onboard import seed_golden, write_export
from hub.runtime import onboarding_runner
from hub.runtime.onboarding_runner import start_run
from hub.store import access
from hub.store.tables import SourceRecordRow
from hub.store.uow import admin_session, session_factory
from tests.conftest import make_hub
from tests.support.pg_databases import Databases

pytestmark = pytest.mark.postgres


def _data() -> CompanySet:
    return generate(1_500, 4_200, seed=5)  # more rows than one process previews alone


def _commit(
    url: str, data: CompanySet, path: Path, workers: int
) -> tuple[dict[str, str], dict[str, int], list[str]]:
    """Seed the same golden clients, commit the file; the acquired rows' links to seeded
    clients, the run's status counts and the broken invariants."""
    hub = make_hub(url)
    try:
        with admin_session(hub.engine) as s:
            access.add_source(s, "northwind-crm", ["client"], None, None, set(hub.config.domains))
        seeded = set(seed_golden(hub, data.golden, Console(quiet=True)))
        result = start_run(
            hub, source="northwind-crm", domain="client", path=path, maps=[], id_column="id",
            dry_run=False, skip_invalid=False, actor="test", workers=workers,
        )  # fmt: skip
        with session_factory(hub.engine)() as s:
            rows = s.execute(
                select(SourceRecordRow.source_key, SourceRecordRow.golden_id).where(
                    SourceRecordRow.source == "northwind-crm"
                )
            ).all()
        counts = {k: result.status_after[k] for k in ("records", "review")}
        # seeded golden clients are written without outbox events (bench.onboard.seed_golden)
        broken = [f for f in check_invariants(hub) if "outbox events" not in f]
        return {k: g for k, g in rows if g in seeded}, counts, broken
    finally:
        hub.close()


def test_a_load_applied_in_two_processes_links_as_one(
    pg_url: str, pg_databases: Databases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    moved: list[int] = []
    in_processes = onboarding_runner._apply_in_processes

    def counted(*args: Any) -> int:
        moved.append(in_processes(*args))
        return moved[-1]

    monkeypatch.setattr(onboarding_runner, "_apply_in_processes", counted)
    data = _data()
    path = tmp_path / "northwind.csv"
    write_export(path, data.acquired)
    other = pg_databases.take()
    try:
        one = _commit(other, data, path, workers=1)
        two = _commit(pg_url, data, path, workers=2)
    finally:
        pg_databases.give_back(other)
    assert moved == [len(data.acquired)]  # the processes applied it all, not the fallback
    assert two[2] == [] and one[2] == []
    assert two[1]["records"] == one[1]["records"] == len(data.acquired)
    # Rows of the file that resemble each other are decided in another order, so a few may
    # go to review in one run and not the other (as two single-process runs may differ by
    # one or two); links to seeded clients do not depend on order.
    assert abs(two[1]["review"]["records"] - one[1]["review"]["records"]) <= 10
    agree = sum(two[0].get(k) == g for k, g in one[0].items())
    assert len(one[0]) > 1_000 and agree >= 0.99 * len(one[0]), (agree, len(one[0]), len(two[0]))


def test_a_load_whose_applier_processes_die_is_applied_by_the_caller(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process killed outright reports nothing: the run stops waiting for it and applies
    what it left, so the load neither hangs nor stops halfway."""

    def killed(*args: Any) -> None:
        os._exit(9)

    monkeypatch.setattr(onboarding_runner, "_apply_part", killed)
    data = _data()
    path = tmp_path / "northwind.csv"
    write_export(path, data.acquired)
    links, counts, broken = _commit(pg_url, data, path, workers=2)
    assert broken == [] and counts["records"] == len(data.acquired) and len(links) > 1_000
