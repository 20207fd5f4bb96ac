"""``concord bench onboard``: an acquired firm's clients against a big hub, rows per second.

Setup: ``--golden`` golden clients of the firm's CRM are written straight into the store tables
(golden_record, golden_version, source_record, blocking_key) with set-based bulk inserts (COPY
on PostgreSQL), row for row what the apply path would have written for a CRM that sent each
client once: survivorship lineage, xref, search name, the compared values of its views
(``hub/services/compared.py``), version 1 "created", the deterministic,
blocking and value keys the apply path indexes (``Applier.index_keys``). Building them through
the apply path would take far longer than the thing measured. (The outbox rows of those
creations are not written: nothing here reads the feed.) The first records are checked against
``survive`` and the matcher so that a change of either cannot make the setup drift unnoticed.

The data is the generated company set of :mod:`bench.companies` (seeded; its hard cases are
listed there): the golden list is seeded as the CRM's clients, the acquired list is the file.

Measured: ``--rows`` rows of the acquired firm's export (about 70% noisy copies of seeded
clients, the rest new firms, some of them look-alikes), read from a CSV file, validated and
matched (the dry run: everything but the load), and, with ``--commit``, loaded through the
inbox and the apply path as a committed run. After a committed run the hub's own links are
read back from its xref and scored against the generator's truth (:mod:`bench.onboard_quality`):
precision, recall and F1 of the links to seeded clients, rows in review, and seeded clients
merged into one. Printed with the machine and the load average, never asserted.
"""

from __future__ import annotations

import csv
import random
import resource
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from bench.companies import CompanySet, generate
from bench.ingest import bench_hub, load_average, machine
from bench.onboard_quality import link_quality
from hub.config import Settings
from hub.domain.model import CandidateMember, attributes_digest
from hub.domain.spec import SourceSpec
from hub.domain.survivorship import Contribution, survive
from hub.runtime import memory
from hub.runtime.onboarding_runner import start_run
from hub.services import compared
from hub.store import access
from hub.store import tables as t
from hub.store.sql import analyze, bulk_insert, table_of
from hub.store.uow import admin_session

CHUNK = 50_000
FIELDS = ("name", "website", "phone", "address_line", "city", "postcode", "country", "tax_id")
SOURCE = "northwind-crm"
ROW_KEY = "NW-{:07d}"
GOLDEN_KEY = "CRM-{:08d}"


def seed_golden(hub: Any, clients: list[dict[str, Any]], console: Console) -> list[str]:
    """Write ``clients`` as golden clients of the CRM (key ``CRM-%08d`` by position), as the
    apply path would have; returns their golden ids by position."""
    spec = hub.config.domains["client"]
    applier = hub.bus.applier
    with hub.bus.uow_factory() as uow:
        crm = uow.sources().get("crm", SourceSpec("crm", "crm", 0))
    rng = random.Random(len(clients))
    at = datetime(2026, 1, 1, tzinfo=UTC)
    probe = {f: "x" for f in FIELDS}
    rules = {
        f: p["rule"]
        for f, p in survive(spec, [Contribution("crm", "crm", 0, "K", at, 1, probe)])[1].items()
    }
    ids: list[str] = []
    tables = {m: table_of(m) for m in (t.GoldenRecordRow, t.GoldenVersionRow)}
    sr, bk = table_of(t.SourceRecordRow), table_of(t.BlockingKeyRow)
    start = time.perf_counter()
    n = len(clients)
    for base in range(0, n, CHUNK):
        golden, versions, records, keys = [], [], [], []
        for i in range(base, min(base + CHUNK, n)):
            attrs = clients[i]
            gid, key = str(uuid.UUID(int=rng.getrandbits(128), version=4)), GOLDEN_KEY.format(i)
            ids.append(gid)
            provenance = {f: {"source": "crm", "key": key, "rule": rules[f]} for f in attrs}
            if i < 100:  # the shortcut must equal what survivorship writes
                offer = Contribution("crm", "crm", 0, key, at, 1, attrs)
                assert survive(spec, [offer]) == (attrs, provenance), "seed drifted from apply"
            xref = [{"source": "crm", "key": key}]
            digest = attributes_digest(attrs)
            member = [(crm, CandidateMember("crm", "client", key, digest, attrs, gid))]
            views = compared.entity_views(spec, attrs, {}, member)
            golden.append(
                {"id": gid, "domain": "client", "version": 1, "status": "active",
                 "attributes": attrs, "provenance": provenance, "references": {},
                 "xref": xref, "overrides": {}, "search_name": attrs["name"].casefold(),
                 "created_at": at, "updated_at": at,
                 "compared": compared.to_store(applier.matcher, spec, 1, views, member)}
            )  # fmt: skip
            versions.append(
                {"golden_id": gid, "version": 1, "domain": "client", "status": "active",
                 "attributes": attrs, "provenance": provenance, "references": {}, "xref": xref,
                 "changed_fields": sorted(attrs), "cause": "created", "created_at": at}
            )  # fmt: skip
            records.append(
                {"source": "crm", "domain": "client", "source_key": key, "golden_id": gid,
                 "attributes": attrs, "sequence": 1, "changed_at": at,
                 "digest": digest, "deleted": False, "link_rule": "new",
                 "updated_at": at}
            )  # fmt: skip
            # the keys the apply path would index: deterministic, blocking and value keys
            for k in sorted(applier.survival.index_keys(spec, views[1:])):
                keys.append({"domain": "client", "key": k[:600], "golden_id": gid})
        with admin_session(hub.engine) as s:
            bulk_insert(s, tables[t.GoldenRecordRow], golden)
            bulk_insert(s, tables[t.GoldenVersionRow], versions)
            bulk_insert(s, sr, records)
            bulk_insert(s, bk, keys)
        done = min(base + CHUNK, n)
        console.print(f"  seeded {done:>9,} golden clients ({time.perf_counter() - start:5.0f} s)")
    with admin_session(hub.engine) as s:
        analyze(s)
    return ids


def write_export(path: Path, rows: list[dict[str, Any]]) -> None:
    """The acquired firm's file: row ``k`` has the key ``NW-%07d``; blank cells are missing."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["id", *FIELDS])
        w.writeheader()
        for k, row in enumerate(rows):
            w.writerow({"id": ROW_KEY.format(k), **row})


def _children_cpu() -> float:
    """CPU seconds of the matching processes that ended: on a shared machine the wall time
    says as much about the neighbours as about the code."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _merge_kinds(groups: list[list[int]], hard: dict[str, list[tuple[int, ...]]]) -> str:
    """Which hard case of the seed each wrongly merged group of seeded clients comes from."""
    kind_of = {g: k for k in ("sisters", "two_countries", "trusts") for t in hard[k] for g in t}

    def kind(group: list[int]) -> str:
        kinds = {kind_of.get(g) for g in group}
        only = kinds.pop() if len(kinds) == 1 else None
        return only or "mixed or other"

    counts = Counter(kind(group) for group in groups)
    return ", ".join(f"{k} {n:,}" for k, n in counts.most_common()) or "none"


def _quality(hub: Any, run_id: str, data: CompanySet, console: Console) -> None:
    q = link_quality(hub, run_id, data.truth, ROW_KEY, GOLDEN_KEY, SOURCE)
    sc = q.scores
    console.print(
        f"  hub's links vs truth: precision {sc.precision:.4f} recall {sc.recall:.4f} "
        f"F1 {sc.f1:.4f} ({sc.predicted:,} links to seeded clients, {sc.false:,} false, "
        f"{sc.true:,} true links in the file)"
    )
    look_alike = {a: k for k in ("new_sister", "other_country", "new_trust") for a, _ in
                  data.hard_cases[k]}  # fmt: skip
    kinds = Counter(
        look_alike.get(k, "copy of another client" if data.truth[k] is not None else "other new")
        for k in q.false_rows
    )
    console.print(
        "  false links by row: "
        + (", ".join(f"{k} {n:,}" for k, n in kinds.most_common()) or "none")
    )
    console.print(
        f"  new firms kept apart: {q.new_right:,}/{q.new_total:,}; rows in review: "
        f"{q.in_review:,} (true client among the candidates: {q.review_has_truth:,}); "
        f"rows sharing a new golden record: {q.merged_rows:,}; rows not loaded: {q.missing:,}"
    )
    console.print(
        f"  seeded golden clients merged into another: {q.merged_golden:,}, in "
        f"{len(q.merged_groups):,} golden records; by hard case of the seed: "
        + _merge_kinds(q.merged_groups, data.hard_cases)
    )


def run_onboard_bench(
    golden: int,
    rows: int,
    database: str,
    commit: bool,
    workers: int,
    seed: int,
    console: Console,
) -> int:
    """Seed, run (dry, then committed with ``commit``), print; returns an exit code."""
    Settings()  # validate the environment before spending minutes
    console.print(
        f"concord bench onboard: {rows:,} acquired client rows against {golden:,} golden "
        f"records ({database}), {workers} matching processes; companies from "
        f"bench/companies.py, seed {seed}"
    )
    console.print(f"machine: {machine()}")
    console.print(f"load average: {load_average()}")
    t0 = time.perf_counter()
    data = generate(golden, rows, seed)
    linked = sum(g is not None for g in data.truth)
    console.print(
        f"generated in {time.perf_counter() - t0:.1f} s: {linked:,} rows are copies of seeded "
        f"clients, {rows - linked:,} new firms ("
        + ", ".join(
            f"{k} {len(data.hard_cases[k])}" for k in ("new_sister", "other_country", "new_trust")
        )
        + " look-alikes)"
    )
    with bench_hub(database) as (hub, tmp):
        with admin_session(hub.engine) as s:
            for name in ("crm", SOURCE):
                access.add_source(s, name, ["client"], None, None, set(hub.config.domains))
        t0 = time.perf_counter()
        seed_golden(hub, data.golden, console)
        console.print(f"setup (bulk insert, not measured): {time.perf_counter() - t0:.0f} s")
        path = tmp / "northwind.csv"
        write_export(path, data.acquired)
        memory.settle()  # as `concord onboard` does before it starts the run
        for dry in (True, False) if commit else (True,):
            t0, cpu0, kids0 = time.perf_counter(), time.process_time(), _children_cpu()
            result = start_run(
                hub, source=SOURCE, domain="client", path=path, maps=[],
                id_column="id", dry_run=dry, skip_invalid=False, actor="bench",
                workers=workers,
            )  # fmt: skip
            took, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            kids = _children_cpu() - kids0
            o = result.report["outcomes"]
            mode = "dry run (validate + match + report)" if dry else "commit (+ load, apply)"
            console.print(
                f"{mode}: {rows:,} rows in {took:6.1f} s "
                f"({rows / took:,.0f} rows/s); auto {o['auto'] / rows:.1%}, "
                f"review {o['review'] / rows:.1%}, new {o['new'] / rows:.1%}, "
                f"invalid {o['invalid']}; CPU: {cpu:.0f} s this process + {kids:.0f} s "
                "matching processes (PostgreSQL's not counted)"
            )
            if not dry:
                st = result.status_after
                review = st["review"]["records"]
                console.print(
                    f"  committed: {st['records']:,} source records, "
                    f"{review:,} in review ({review / rows:.1%})"
                )
                _quality(hub, result.run_id, data, console)
        if not commit:
            console.print("precision/recall of the hub's links: add --commit (read after the load)")
    console.print(f"load average after: {load_average()}")
    return 0


def main(golden: int, rows: int, database: str, commit: bool, workers: int, seed: int) -> None:
    """An onboarding run of ROWS generated acquired clients against GOLDEN seeded golden
    clients: rows/s, the share sent to review, and (with --commit) precision, recall and F1
    of the hub's own links, read back from its xref."""
    console = Console(soft_wrap=True, highlight=False)
    raise typer.Exit(run_onboard_bench(golden, rows, database, commit, workers, seed, console))
