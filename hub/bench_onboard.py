"""``concord bench onboard``: an acquired firm's clients against a big hub, rows per second.

Setup: ``--golden`` golden clients of the firm's CRM are written straight into the store
tables (golden_record, golden_version, source_record, blocking_key) with set-based bulk
inserts (COPY on PostgreSQL), row for row what the apply path would have written for a CRM
that sent each client once: survivorship lineage, xref, search name, version 1 "created", the
deterministic and blocking keys the matcher derives. Building them through the apply path
would take far longer than the thing measured. (The outbox rows of those creations are not
written: nothing here reads the feed.) The first records are checked against ``survive`` and
the matcher so that a change of either cannot make the setup drift unnoticed.

Measured: ``--rows`` rows of the acquired firm's export (a share of them variants of existing
clients, some exact website matches, the rest new firms), read from a CSV file, validated and
matched (the dry run: everything but the load), and, with ``--commit``, loaded through the
inbox and the apply path as a committed run. Printed with the machine, never asserted.
"""

from __future__ import annotations

import csv
import random
import resource
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from hub.bench import bench_database, machine
from hub.bootstrap import bootstrap
from hub.config import Settings
from hub.domain.model import attributes_digest
from hub.domain.survivorship import Contribution, survive
from hub.onboarding_runner import start_run
from hub.store import access
from hub.store import tables as t
from hub.store.migrate import upgrade
from hub.store.sql import analyze, bulk_insert, table_of
from hub.store.uow import admin_session

SYLLABLES = (
    "ka", "lo", "mi", "ra", "ve", "to", "san", "dor", "el", "quin", "bar", "ne", "sto", "fi",
    "gar", "hol", "ix", "jun", "pel", "tra", "vi", "wen", "zor", "cal", "mon", "rid", "ul",
    "bri", "cor", "dan", "es", "fal", "gil", "hu", "ja", "kel", "lin", "mar", "nor", "os",
)  # fmt: skip
NOUNS = (
    "Holdings", "Consulting", "Engineering", "Logistics", "Partners", "Systems", "Capital",
    "Foods", "Software", "Energy", "Advisory", "Retail", "Health", "Telecom", "Media",
)  # fmt: skip
COUNTRIES = ("GB", "FR", "DE", "ES", "IE", "NO", "NL", "US", "CA")
TLD = {"GB": "co.uk", "FR": "fr", "DE": "de", "ES": "es", "IE": "ie", "NO": "no", "NL": "nl",
       "US": "com", "CA": "ca"}  # fmt: skip
CHUNK = 50_000


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(3, 4))).capitalize()


_CITIES = random.Random(5)
CITIES = [(_word(_CITIES) + "ton", c) for c in COUNTRIES for _ in range(40)]
"""360 towns: a firm's clients spread over many, so a town is no block of thousands."""


def client(n: int, rng: random.Random) -> dict[str, Any]:
    city, country = rng.choice(CITIES)
    name = f"{_word(rng)} {rng.choice(NOUNS)}"
    slug = name.lower().replace(" ", "-")
    record = {
        "name": name,
        "website": f"https://www.{slug}-{n}.{TLD[country]}",
        "phone": f"+44 20 {n // 10_000:04d} {n % 10_000:04d}",
        "address_line": f"{rng.randint(1, 300)} {_word(rng)} Street",
        "city": city,
        "postcode": f"{city[:2].upper()}{rng.randint(1, 99)} {rng.randint(1, 9)}{_word(rng)[:2]}",
        "country": country,
    }
    if rng.random() < 0.6:  # as in a real CRM, many clients have no phone or no website
        del record["phone"]
    if rng.random() < 0.4:
        del record["website"]
    return record


def _typo(text: str, rng: random.Random) -> str:
    if len(text) < 4:
        return text
    k = rng.randrange(1, len(text) - 1)
    return text[:k] + text[k + 1] + text[k] + text[k + 2 :]


def acquired_row(golden: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The acquired firm's copy of one of our clients, as its CRM would have it."""
    kind = rng.random()
    row = {k: golden[k] for k in ("name", "city", "postcode", "country")}
    if kind < 0.2 and golden.get("website"):  # same website: deterministic link
        row["website"] = golden["website"].replace("https://www.", "")
    elif kind < 0.6:  # a typo and a legal suffix: fuzzy
        row["name"] = _typo(golden["name"], rng) + " Ltd"
        row["address_line"] = golden["address_line"]
    else:  # only a name and a city: weaker evidence
        row = {"name": golden["name"].upper(), "city": golden["city"], "country": golden["country"]}
    return row


def seed_golden(hub: Any, n: int, console: Console, seed: int = 11) -> list[dict[str, Any]]:
    """Write ``n`` golden clients of the CRM as the apply path would have; returns a sample of
    their attributes to build the acquired firm's file from."""
    spec = hub.config.domains["client"]
    matcher = hub.bus.applier.matcher
    rng = random.Random(seed)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    probe = {**client(0, random.Random(0)), "phone": "+44 20 1", "website": "https://x.co.uk"}
    rules = {
        f: p["rule"]
        for f, p in survive(spec, [Contribution("crm", "crm", 0, "K", at, 1, probe)])[1].items()
    }
    sample: list[dict[str, Any]] = []
    tables = {m: table_of(m) for m in (t.GoldenRecordRow, t.GoldenVersionRow)}
    sr, bk = table_of(t.SourceRecordRow), table_of(t.BlockingKeyRow)
    start = time.perf_counter()
    for base in range(0, n, CHUNK):
        golden, versions, records, keys = [], [], [], []
        for i in range(base, min(base + CHUNK, n)):
            attrs = client(i, rng)
            gid, key = str(uuid.UUID(int=rng.getrandbits(128), version=4)), f"CRM-{i:08d}"
            provenance = {f: {"source": "crm", "key": key, "rule": rules[f]} for f in attrs}
            if i < 100:  # the shortcut must equal what survivorship writes
                offer = Contribution("crm", "crm", 0, key, at, 1, attrs)
                assert survive(spec, [offer]) == (attrs, provenance), "seed drifted from apply"
            xref = [{"source": "crm", "key": key}]
            golden.append(
                {"id": gid, "domain": "client", "version": 1, "status": "active",
                 "attributes": attrs, "provenance": provenance, "references": {},
                 "xref": xref, "overrides": {}, "search_name": attrs["name"].casefold(),
                 "created_at": at, "updated_at": at}
            )  # fmt: skip
            versions.append(
                {"golden_id": gid, "version": 1, "domain": "client", "status": "active",
                 "attributes": attrs, "provenance": provenance, "references": {}, "xref": xref,
                 "changed_fields": sorted(attrs), "cause": "created", "created_at": at}
            )  # fmt: skip
            records.append(
                {"source": "crm", "domain": "client", "source_key": key, "golden_id": gid,
                 "attributes": attrs, "sequence": 1, "changed_at": at,
                 "digest": attributes_digest(attrs), "deleted": False, "link_rule": "new",
                 "updated_at": at}
            )  # fmt: skip
            for k in set(
                matcher.deterministic_keys("client", attrs) + matcher.blocking_keys("client", attrs)
            ):
                keys.append({"domain": "client", "key": k[:600], "golden_id": gid})
            if rng.random() < 0.2 and len(sample) < 200_000:
                sample.append(attrs)
        with admin_session(hub.engine) as s:
            bulk_insert(s, tables[t.GoldenRecordRow], golden)
            bulk_insert(s, tables[t.GoldenVersionRow], versions)
            bulk_insert(s, sr, records)
            bulk_insert(s, bk, keys)
        done = min(base + CHUNK, n)
        console.print(f"  seeded {done:>9,} golden clients ({time.perf_counter() - start:5.0f} s)")
    with admin_session(hub.engine) as s:
        analyze(s)
    return sample


def write_export(path: Path, rows: int, sample: list[dict[str, Any]], seed: int = 12) -> None:
    """About 60% of rows are our clients as the acquired firm spelt them, 40% new firms."""
    rng = random.Random(seed)
    fields = ["id", "name", "website", "address_line", "city", "postcode", "country"]
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        for i in range(rows):
            if sample and rng.random() < 0.6:
                row = acquired_row(rng.choice(sample), rng)
            else:
                row = client(10_000_000 + i, rng)
                row.pop("phone", None)
            w.writerow({"id": f"NW-{i:07d}", **row})


def _children_cpu() -> float:
    """CPU seconds of the matching processes that ended: on a shared machine the wall time
    says as much about the neighbours as about the code."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_onboard_bench(
    golden: int, rows: int, database: str, commit: bool, workers: int, console: Console
) -> int:
    Settings()  # validate the environment before spending minutes
    console.print(
        f"concord bench onboard: {rows:,} acquired client rows against {golden:,} golden "
        f"records ({database}), {workers} matching processes"
    )
    console.print(f"machine: {machine()}")
    with (
        tempfile.TemporaryDirectory(prefix="concord-bench-") as tmp,
        bench_database(database, Path(tmp)) as url,
    ):
        upgrade(url)
        hub = bootstrap(Settings(database_url=url))
        try:
            with admin_session(hub.engine) as s:
                for name in ("crm", "northwind-crm"):
                    access.add_source(s, name, ["client"], None, None, set(hub.config.domains))
            t0 = time.perf_counter()
            sample = seed_golden(hub, golden, console)
            console.print(f"setup (bulk insert, not measured): {time.perf_counter() - t0:.0f} s")
            path = Path(tmp) / "northwind.csv"
            write_export(path, rows, sample)
            for dry in (True, False) if commit else (True,):
                t0, cpu0, kids0 = time.perf_counter(), time.process_time(), _children_cpu()
                result = start_run(
                    hub, source="northwind-crm", domain="client", path=path, maps=[],
                    id_column="id", dry_run=dry, skip_invalid=False, actor="bench",
                    workers=workers,
                )  # fmt: skip
                took, cpu = time.perf_counter() - t0, time.process_time() - cpu0
                kids = _children_cpu() - kids0
                o = result.report["outcomes"]
                mode = "dry run (validate + match + report)" if dry else "commit (+ load, apply)"
                console.print(
                    f"{mode}: {rows:,} rows in {took:6.1f} s "
                    f"([bold]{rows / took:,.0f} rows/s[/bold]); auto {o['auto'] / rows:.1%}, "
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
        finally:
            hub.close()
    return 0


def bench_onboard(
    golden: Annotated[int, typer.Option("--golden", help="Golden clients in the hub.")] = 1_000_000,
    rows: Annotated[
        int, typer.Option("--rows", help="Rows of the acquired firm's file.")
    ] = 100_000,
    database: Annotated[str, typer.Option(help="postgres or sqlite.")] = "postgres",
    commit: Annotated[
        bool, typer.Option("--commit", help="Also load the file as a committed run.")
    ] = False,
    workers: Annotated[int, typer.Option(help="Processes that share the matching.")] = 2,
) -> None:
    """An onboarding run of ROWS acquired clients against GOLDEN golden records: rows/s and
    the share sent to review."""
    raise typer.Exit(run_onboard_bench(golden, rows, database, commit, workers, Console()))
