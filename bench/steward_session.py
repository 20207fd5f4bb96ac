"""``concord bench steward``: 100 candidates of a 4,000-row onboarding run, decided in real
Chromium by a scripted steward who types like a person (issue 16's goal: under 10 minutes).

Setup (not measured): ``--golden`` generated clients of the CRM are seeded straight into the
store (:func:`bench.onboard.seed_golden`), then ``--rows`` rows of an acquired firm's file
(:mod:`bench.companies`, seeded) are loaded as a committed onboarding run; its uncertain rows
wait in the queue. The hub serves the steward page in this process.

Measured: a steward logs in by typing, opens the run's queue, presses Enter on the first row,
and then, candidate after candidate, reads the page for a while and decides. A clear candidate
(probability at least ``--clear``) takes one keystroke (``m``); an unclear one takes three
actions without the mouse: ``Shift+N`` (not a match, the reason field opens), the reason typed
key by key, ``Ctrl+Enter``. The pauses are a person's, drawn from a seeded generator:
reading a clear page, reading an unclear one, and the delay between two keystrokes. Printed:
the wall time of the decisions, how much of it was the page (the time from a keystroke to the
next page being ready) rather than the person, the data size, the machine and the load
average. Never
asserted: a figure, not a test.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from sqlalchemy import func, select

from bench.companies import generate
from bench.ingest import bench_hub, load_average, machine
from bench.onboard import SOURCE, seed_golden, write_export
from hub.app import create_app
from hub.runtime.onboarding_runner import start_run
from hub.runtime.serving import BackgroundServer, free_port
from hub.store import access, stewards
from hub.store.tables import MatchCandidate
from hub.store.uow import admin_session
from stewardship import passwords

CHROMIUM = os.environ.get("CONCORD_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
STEWARD, PASSWORD = "bench", "a steward's long passphrase"
REASONS = ("different office", "other firm, same name", "a sister company", "not the same")


class Person:
    """A steward's pace: seeded, so two runs on one machine wait the same."""

    def __init__(self, seed: int, clear_s: float, unclear_s: float, key_ms: float) -> None:
        self.rng = random.Random(seed)
        self.clear_s, self.unclear_s, self.key_ms = clear_s, unclear_s, key_ms

    def read(self, clear: bool) -> None:
        mean = self.clear_s if clear else self.unclear_s
        time.sleep(max(0.3, self.rng.gauss(mean, mean / 4)))

    def key_delay(self) -> float:
        """Milliseconds between two keystrokes, for Playwright's ``type``."""
        return max(30.0, self.rng.gauss(self.key_ms, self.key_ms / 3))


def _setup(hub: Any, tmp: Path, golden: int, rows: int, seed: int, console: Console) -> str:
    """Seed the hub, load the run; returns its id."""
    data = generate(golden, rows, seed)
    with admin_session(hub.engine) as s:
        for name in ("crm", SOURCE):
            access.add_source(s, name, ["client"], None, None, set(hub.config.domains))
        stewards.add_steward(s, STEWARD, "steward", passwords.hash_password(PASSWORD))
    seed_golden(hub, data.golden, console)
    path = tmp / "northwind.csv"
    write_export(path, data.acquired)
    result = start_run(
        hub, source=SOURCE, domain="client", path=path, maps=[], id_column="id",
        dry_run=False, skip_invalid=False, actor="bench", workers=1,
    )  # fmt: skip
    return result.run_id


def _pending(hub: Any, run_id: str) -> int:
    with admin_session(hub.engine) as s:
        stmt = select(func.count()).where(
            MatchCandidate.run_id == run_id, MatchCandidate.status == "pending"
        )
        return int(s.execute(stmt).scalar_one())


def _login(page: Any, url: str, person: Person) -> None:
    page.goto(f"{url}/steward/queue")
    page.type("input[name=name]", STEWARD, delay=person.key_delay())
    page.type("input[name=password]", PASSWORD, delay=person.key_delay())
    with page.expect_navigation():
        page.keyboard.press("Enter")


def _decide(page: Any, person: Person, clear_at: float) -> tuple[bool, float]:
    """Read the page, decide; returns (clear, seconds the page took to come back)."""
    probability = float(page.inner_text(".prob-total"))
    clear = probability >= clear_at
    person.read(clear)
    if not clear:  # Shift+N opens the reason field, the reason typed, Ctrl+Enter decides
        page.keyboard.press("Shift+N")
        page.keyboard.type(person.rng.choice(REASONS), delay=person.key_delay())
    t0 = time.perf_counter()
    with page.expect_navigation():
        page.keyboard.press("m" if clear else "Control+Enter")
    page.wait_for_load_state("load")
    return clear, time.perf_counter() - t0


def _session(url: str, run_id: str, n: int, person: Person, clear_at: float) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    waits: list[float] = []
    clear = 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.set_default_timeout(60_000)
        _login(page, url, person)
        t0 = time.perf_counter()
        page.goto(f"{url}/steward/queue?run={run_id}")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        for _ in range(n):
            if "/steward/candidates/" not in page.url:
                break  # the queue ran out
            was_clear, wait = _decide(page, person, clear_at)
            clear += was_clear
            waits.append(wait)
        total = time.perf_counter() - t0
        browser.close()
    return {"total": total, "waits": waits, "clear": clear}


def run_steward_bench(
    golden: int, rows: int, decisions: int, seed: int, person: Person, clear_at: float,
    console: Console,
) -> int:  # fmt: skip
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        console.print(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
        return 2
    console.print(
        f"concord bench steward: {decisions} decisions on a {rows:,}-row onboarding run "
        f"against {golden:,} golden clients (sqlite), seed {seed}"
    )
    console.print(
        f"the person: reads a clear page {person.clear_s:.1f} s, an unclear one "
        f"{person.unclear_s:.1f} s (mean, sd a quarter of it), {person.key_ms:.0f} ms between "
        f"keystrokes; clear means probability >= {clear_at}"
    )
    console.print(f"machine: {machine()}")
    console.print(f"load average before: {load_average()}")
    with bench_hub("sqlite") as (hub, tmp):
        t0 = time.perf_counter()
        run_id = _setup(hub, tmp, golden, rows, seed, console)
        pending = _pending(hub, run_id)
        console.print(
            f"setup (not measured): {time.perf_counter() - t0:.0f} s; run {run_id} left "
            f"{pending:,} candidates in review"
        )
        with BackgroundServer(create_app(hub, run_worker=False), free_port()) as server:
            got = _session(server.url, run_id, decisions, person, clear_at)
        decided = pending - _pending(hub, run_id)
    waits = sorted(got["waits"])
    done = len(waits)
    console.print(
        f"{done} decisions ({got['clear']} clear in one keystroke, {done - got['clear']} with "
        f"a typed reason in three actions) in {got['total']:.0f} s = {got['total'] / 60:.1f} min "
        f"({got['total'] / max(done, 1):.1f} s per decision); {decided} candidates left "
        "the queue (a merge supersedes the record's other candidates)"
    )
    if waits:
        console.print(
            f"the page's share: keystroke to next page ready p50 "
            f"{statistics.median(waits) * 1000:.0f} ms, p95 "
            f"{waits[int(len(waits) * 0.95) - 1] * 1000:.0f} ms, total {sum(waits):.1f} s"
        )
    console.print(f"load average after: {load_average()}")
    return 0


def main(
    golden: int,
    rows: int,
    decisions: int,
    seed: int,
    clear_s: float,
    unclear_s: float,
    key_ms: float,
    clear: float,
) -> None:
    """Decide DECISIONS candidates of a ROWS-row onboarding run in real Chromium, typing and
    reading like a person; print the time, the page's share of it, the data size, the
    machine and the load average."""
    console = Console(soft_wrap=True, highlight=False)
    person = Person(seed, clear_s, unclear_s, key_ms)
    raise typer.Exit(run_steward_bench(golden, rows, decisions, seed, person, clear, console))
