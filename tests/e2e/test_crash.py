"""Crash: `concord serve` (and `concord apply --follow`) killed with SIGKILL while 5,000
changes stream in over HTTP lose nothing and apply nothing twice.

Each scenario runs the hub as real subprocesses, streams the same 5,000 client changes (new
records, repeated updates, late older updates that must be stale, a few deletes, records of
CRM and ERP that link by website, declared as a key) from a client thread in batches of 125,
and kills the applying process at random moments several times, restarting it each time. The
client runs ahead of the kills by a fifth of the stream at most, so each kill lands while
changes still stream in, however fast the machine takes them. A
batch counts as sent only once 202 came back; after a connection error the client sends the
same batch again, which event ids make harmless: a batch is stored whole or not at all, and a
resend of a batch stored just before the crash comes back as all duplicates.

The end state is compared with an uninterrupted in-process run of the same batches on a fresh
database: counts (source records, active and retired golden records, inbox applied / stale /
dead / pending) and a checksum of the golden state seen from every source record (the
golden's status, attributes, provenance and sorted xref, so golden ids need not match).
Outbox rows per golden record are checked against its version in both runs (one event per
version, none missing, none doubled): the number of versions itself depends on how the worker
happened to batch the inbox (two updates in one apply batch make one version), so it is not
compared between runs.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hub.app import create_app
from hub.runtime.serving import free_port
from hub.store import access
from hub.store.db import make_engine
from hub.store.migrate import upgrade
from hub.store.tables import (
    DeadLetter,
    GoldenRecordRow,
    GoldenVersionRow,
    InboxRow,
    OutboxRow,
    SourceRecordRow,
)
from hub.store.uow import admin_session
from tests.conftest import CONTACT_KEYS, make_hub
from tests.support.process import Proc

N_CHANGES = 5_000  # what matters is kills with work in flight, not the count
BATCH = 125  # per POST and per apply batch: 42 posts, opened to the client a step per kill
GAP = 0.1  # seconds between two posts: the stream lasts through the kills on a fast machine
SOURCES = ("crm", "erp")
BASE_TIME = datetime(2025, 1, 1, tzinfo=UTC)
DELETE_DISTANCE = 2 * BATCH + 1  # a delete is never in the same apply batch as its create

Batch = tuple[str, bytes, int]  # source, JSON body, number of changes


# -- the changes -----------------------------------------------------------------------------


def build_stream(n: int = N_CHANGES, batch: int = BATCH, seed: int = 20250101) -> list[Batch]:
    """N client changes in batches of one source each, in the order they are posted.

    About 45% create a record (a third of them share a website with a record of the other
    source, so CRM and ERP records link), about 54% update a record (skewed towards recent
    ones, so many records are updated several times), 5% of the updates are held back and
    sent two to four batches later with their original, older sequence (stale if the record
    moved on meanwhile), and 1% delete a record created at least two apply batches earlier.
    Keys that link (website) never change, and a deleted record is never sent alive again;
    half the changes name an event id, the others get one derived from their content.
    """
    rng = random.Random(seed)
    seq = dict.fromkeys(SOURCES, 0)
    records: dict[str, list[dict[str, Any]]] = {s: [] for s in SOURCES}
    held_back: list[tuple[int, str, dict[str, Any]]] = []  # (due batch, source, change)
    out: list[Batch] = []
    pos = made = 0
    serial = 0
    b = 0
    while made < n:
        source = rng.choice(SOURCES)
        other = "erp" if source == "crm" else "crm"
        changes = [c for d, s, c in held_back if d <= b and s == source]
        held_back = [h for h in held_back if not (h[0] <= b and h[1] == source)]
        mine = records[source]
        while len(changes) < batch and made < n:
            pos += 1
            r = rng.random()
            if r < 0.45 or len(mine) < 50:
                serial += 1
                theirs = records[other]
                site = rng.choice(theirs)["site"] if theirs and rng.random() < 0.33 else serial
                target: dict[str, Any] = {"key": f"{source.upper()}-{serial:06d}"}
                target |= {"site": site, "n": serial, "created": pos, "deleted": False}
                mine.append(target)
                op = "upsert"
            elif r < 0.99:
                target = mine[-1 - min(len(mine) - 1, int(rng.expovariate(1 / 150)))]
                if target["deleted"]:
                    continue
                op = "upsert"
            else:
                target = rng.choice(mine)
                if target["deleted"] or pos - target["created"] <= DELETE_DISTANCE:
                    continue
                target["deleted"] = True
                op = "delete"
            seq[source] += 1
            made += 1
            change: dict[str, Any] = {
                "domain": "client",
                "key": target["key"],
                "op": op,
                "sequence": seq[source],
                "changed_at": (BASE_TIME + timedelta(seconds=pos)).isoformat(),
                "attributes": {}
                if op == "delete"
                else attributes(source, target, rng.randrange(10_000)),
            }
            if rng.random() < 0.5:
                change["event_id"] = f"{source}-{seq[source]}"
            if op == "upsert" and target["created"] != pos and rng.random() < 0.05:
                held_back.append((b + rng.randint(2, 4), source, change))
                continue
            changes.append(change)
        out.append((source, json.dumps({"changes": changes}).encode(), len(changes)))
        b += 1
    for s in SOURCES:  # whatever is still held back goes last
        rest = [c for _, src, c in held_back if src == s]
        for i in range(0, len(rest), batch):
            part = rest[i : i + batch]
            out.append((s, json.dumps({"changes": part}).encode(), len(part)))
    return out


SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "te", "vo", "zu", "bi", "da", "fe", "go", "hu")
CITIES = ("London", "Leeds", "Bristol", "York", "Bath", "Derby", "Hull", "Perth", "Truro", "Ely")
KINDS = ("Partners", "Group", "Holdings", "Consulting", "Labs", "Works")
INDUSTRIES = ("legal", "retail", "energy", "media", "health", "finance")


def company(n: int) -> str:
    """A distinct name per record (its first word is unique), so that fuzzy matching blocks
    few candidates together and links nothing by itself: every link here is by website."""
    word = ""
    while True:
        n, d = divmod(n, len(SYLLABLES))
        word += SYLLABLES[d]
        if not n:
            break
    return f"{word.capitalize()}x {KINDS[len(word) % len(KINDS)]}"


def attributes(source: str, rec: dict[str, Any], version: int) -> dict[str, Any]:
    """The record's full image; an update changes only fields no match looks at."""
    n = rec["n"]
    attrs: dict[str, Any] = {
        "name": company(n),
        "website": f"https://www.client{rec['site']}.com",
        "phone": f"+44 20 7{n % 1000:03d} {n // 1000:04d}",
        "city": CITIES[n % len(CITIES)],
        "industry": INDUSTRIES[version % len(INDUSTRIES)],
        "status": ("prospect", "active", "dormant")[version % 3],
    }
    if source == "erp":
        attrs["legal_name"] = company(n).upper() + " LTD"
        attrs["payment_terms"] = f"NET{30 + version % 3 * 15}"
    return attrs


@pytest.fixture(scope="module")
def stream() -> list[Batch]:
    batches = build_stream()
    assert sum(n for _, _, n in batches) >= N_CHANGES
    return batches


# -- the state to compare --------------------------------------------------------------------


@dataclass
class State:
    counts: dict[str, int]
    checksum: str
    lines: list[str] = field(repr=False)
    version_problems: list[str] = field(repr=False)


def snapshot(url: str) -> State:
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            goldens = {g.id: g for g in c.execute(select(GoldenRecordRow))}
            records = c.execute(select(SourceRecordRow)).all()
            inbox = dict(
                c.execute(select(InboxRow.status, func.count()).group_by(InboxRow.status)).all()
            )
            outbox = {
                gid: (n, distinct, top)
                for gid, n, distinct, top in c.execute(
                    select(
                        OutboxRow.golden_id,
                        func.count(),
                        func.count(func.distinct(OutboxRow.version)),
                        func.max(OutboxRow.version),
                    ).group_by(OutboxRow.golden_id)
                )
            }
            versions = dict(
                c.execute(
                    select(GoldenVersionRow.golden_id, func.count()).group_by(
                        GoldenVersionRow.golden_id
                    )
                ).all()
            )
            dead = c.execute(select(func.count()).select_from(DeadLetter)).scalar_one()
    finally:
        engine.dispose()
    live_by_golden: dict[str, list[tuple[str, str]]] = {}
    for r in records:
        if not r.deleted and r.golden_id:
            live_by_golden.setdefault(r.golden_id, []).append((r.source, r.source_key))
    lines: list[str] = []
    for r in records:
        if r.deleted:
            lines.append(json.dumps([r.source, r.domain, r.source_key, "deleted"]))
            continue
        g = goldens[r.golden_id]
        lines.append(
            json.dumps(
                [
                    r.source,
                    r.domain,
                    r.source_key,
                    g.status,
                    g.attributes,
                    g.provenance,
                    sorted(live_by_golden[g.id]),
                    sorted((x["source"], x["key"]) for x in g.xref),
                ],
                sort_keys=True,
            )
        )
    lines.sort()
    problems = [
        f"golden {gid}: version {g.version}, outbox (rows, versions, max) "
        f"{outbox.get(gid)}, golden_version rows {versions.get(gid)}"
        for gid, g in goldens.items()
        if outbox.get(gid) != (g.version, g.version, g.version) or versions.get(gid) != g.version
    ]
    statuses = Counter(g.status for g in goldens.values())
    counts = {
        "source records": len(records),
        "deleted source records": sum(1 for r in records if r.deleted),
        "active goldens": statuses["active"],
        "retired goldens": statuses["retired"],
        "merged goldens": statuses["merged"],
        "inbox rows": sum(inbox.values()),
        "inbox applied": inbox.get("applied", 0),
        "inbox stale": inbox.get("stale", 0),
        "inbox dead": inbox.get("dead", 0),
        "inbox pending": inbox.get("pending", 0),
        "dead letters": int(dead),
    }
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    return State(counts, digest, lines, problems)


def register_sources(url: str) -> dict[str, str]:
    upgrade(url)
    engine = make_engine(url)
    try:
        with admin_session(engine) as s:
            return {
                src: access.add_source(s, src, ["client"], None, None, {"client"})
                for src in SOURCES
            }
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def reference(
    stream: list[Batch], tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> State:
    """The same batches, posted once each in the same order and applied without a crash.

    Made once per run, not once per worker: it is the same for every scenario (the batches
    come from a fixed seed), and it is some 10 seconds of work. Parallel workers share it
    through this run's temporary root (new for every run), the first to need it making it
    while the others wait on the lock."""
    if worker_id == "master":  # one process: the module scope makes it once already
        return reference_run(stream, tmp_path_factory)
    shared = tmp_path_factory.getbasetemp().parent
    with open(shared / "crash-reference.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        saved = shared / "crash-reference.json"
        if saved.exists():
            return State(**json.loads(saved.read_text(encoding="utf-8")))
        state = reference_run(stream, tmp_path_factory)
        saved.write_text(json.dumps(asdict(state)), encoding="utf-8")
        return state


def reference_run(stream: list[Batch], tmp_path_factory: pytest.TempPathFactory) -> State:
    url = f"sqlite:///{tmp_path_factory.mktemp('reference') / 'ref.db'}"
    keys = register_sources(url)
    hub = make_hub(url, contact_keys=True)
    try:
        with TestClient(create_app(hub, run_worker=False)) as client:
            for source, body, n in stream:
                r = client.post(
                    "/api/v1/changes",
                    content=body,
                    headers={
                        "Authorization": f"Bearer {keys[source]}",
                        "Content-Type": "application/json",
                    },
                )
                assert r.status_code == 202, r.text
                assert r.json() == {"accepted": n, "duplicates": 0}
        report = hub.bus.drain(BATCH)
        assert report.dead == 0 and report.one_by_one == 0
    finally:
        hub.close()
    state = snapshot(url)
    # the stream exercises both paths (0.8% stale and 0.7% deleted at this seed)
    assert state.counts["inbox stale"] > N_CHANGES // 200, "late changes should be stale"
    assert state.counts["deleted source records"] > N_CHANGES // 200
    assert not state.version_problems, state.version_problems[:5]
    return state


# -- processes ----------------------------------------------------------------------------


def wait_healthy(base: str, proc: Proc, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.alive(), f"server exited:\n{proc.tail()}"
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"server not healthy after {timeout}s:\n{proc.tail()}")


class Streamer(threading.Thread):
    """Posts every batch in order; a batch is sent once 202 came back, else it is resent.

    It posts a batch every ``GAP`` seconds at most, as a busy source would, so kills find
    requests in flight, and no more than ``allowed`` batches, one until told more: the killer
    opens the stream a step at a time, so no kill comes after the last batch only because the
    client was quick."""

    def __init__(self, base: str, keys: dict[str, str], batches: list[Batch]) -> None:
        super().__init__(name="crash-streamer", daemon=True)
        self.base = base
        self.keys = keys
        self.batches = batches
        self.sent = 0
        self.accepted = 0
        self.duplicates = 0
        self.resends = 0
        self.lost_answers = 0  # batches stored before a crash whose 202 never came back
        self.error: str | None = None
        self.stop = threading.Event()
        self.allowed = 1
        self._gate = threading.Condition()

    def allow(self, n: int) -> None:
        with self._gate:
            self.allowed = n
            self._gate.notify_all()

    def _wait_for_gate(self) -> None:
        with self._gate:
            while self.sent >= self.allowed and not self.stop.is_set():
                self._gate.wait(0.1)

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # reported by the test, never swallowed
            self.error = repr(exc)

    def _run(self) -> None:
        deadline = time.monotonic() + 240
        with httpx.Client(base_url=self.base, timeout=30) as client:
            for source, body, n in self.batches:
                self._wait_for_gate()
                time.sleep(GAP)
                tries = 0
                while True:
                    tries += 1
                    if self.stop.is_set() or time.monotonic() > deadline:
                        self.error = f"gave up after {self.sent} batches"
                        return
                    try:
                        r = client.post(
                            "/api/v1/changes",
                            content=body,
                            headers={
                                "Authorization": f"Bearer {self.keys[source]}",
                                "Content-Type": "application/json",
                            },
                        )
                    except httpx.TransportError:
                        self.resends += 1
                        time.sleep(0.05)
                        continue
                    if r.status_code == 202:
                        got = r.json()
                        # a batch is stored whole or not at all; only a resend finds it stored
                        whole = (got["accepted"], got["duplicates"]) in ((n, 0), (0, n))
                        if not whole or (tries == 1 and got["duplicates"]):
                            self.error = f"batch of {n} answered {got} on try {tries}"
                            return
                        self.lost_answers += got["duplicates"] == n
                        self.accepted += got["accepted"]
                        self.duplicates += got["duplicates"]
                        self.sent += 1
                        break
                    if r.status_code in (500, 502, 503):
                        self.resends += 1
                        time.sleep(0.05)
                        continue
                    self.error = f"HTTP {r.status_code}: {r.text[:500]}"
                    return

    @property
    def done(self) -> bool:
        return not self.is_alive()


def pending(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            return int(
                c.execute(
                    select(func.count()).select_from(InboxRow).where(InboxRow.status == "pending")
                ).scalar_one()
            )
    finally:
        engine.dispose()


def wait_applied(url: str, procs: list[Proc], stall: float = 90) -> None:
    """Wait until nothing is pending; fail when the pending count stops going down for
    ``stall`` seconds (a stuck applier), not after a fixed total: on a loaded machine 4,000
    changes left after the last kill can take longer than that while progressing."""
    deadline, last = time.monotonic() + stall, -1
    while (left := pending(url)) > 0:
        for p in procs:
            assert p.alive(), f"{p.args[3:]} exited:\n{p.tail()}"
        if left != last:
            deadline, last = time.monotonic() + stall, left
        assert time.monotonic() < deadline, f"{left} inbox rows pending, none applied in {stall}s"
        time.sleep(0.2)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def crash_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(fixture))


@dataclass
class Run:
    url: str
    tmp: Path
    stream: list[Batch]
    seed: int
    procs: list[Proc] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        config = self.tmp / "concord.yaml"  # records link by website, as in the reference
        config.write_text(CONTACT_KEYS, encoding="utf-8")
        return {
            **os.environ,
            "CONCORD_DATABASE_URL": self.url,
            "CONCORD_WORKER_BATCH": str(BATCH),
            "CONCORD_CONFIG": str(config),
        }


@pytest.fixture
def run(crash_url: str, stream: list[Batch], tmp_path: Path) -> Iterator[Run]:
    r = Run(crash_url, tmp_path, stream, seed=11 if crash_url.startswith("sqlite") else 12)
    yield r
    for p in r.procs:
        p.stop()


def kill_while_streaming(
    rng: random.Random,
    run: Run,
    streamer: Streamer,
    victim: Proc,
    restart_healthy: str | None,
    kills: int = 3,
    pause: tuple[float, float] = (0.2, 1.0),
) -> list[tuple[int, int]]:
    """SIGKILL ``victim`` ``kills`` times at random moments, restarting it each time; returns,
    for each kill, how many batches had been sent and how many inbox rows were pending.

    Each kill waits for changes to be pending and then lands a random moment later, so it
    mostly hits an apply transaction midway (the worker often keeps up and idles, and a kill
    of an idle worker proves little), else an ingest. The client always has a batch due when
    a kill lands, so a killed API is always met by a request (a resend)."""
    at: list[tuple[int, int]] = []
    step = len(run.stream) // (kills + 2)  # kill k comes before batch step * (k + 2) is sent
    for k in range(kills):
        streamer.allow(step * (k + 2))
        time.sleep(rng.uniform(*pause))
        deadline = time.monotonic() + 5
        while not pending(run.url) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.25))
        at.append((streamer.sent, pending(run.url)))
        # A client that has sent all it was let is idle at the gate, and a quick hub gets
        # it there before the kill: one more batch then falls due while the victim is down.
        streamer.allow(max(streamer.allowed, streamer.sent + 1))
        victim.kill()
        time.sleep(rng.uniform(0.0, 0.3))
        victim.start()
        if restart_healthy:
            wait_healthy(restart_healthy, victim)
    streamer.allow(len(run.stream))
    return at


def finish(
    run: Run, streamer: Streamer, reference: State, kill_points: list[tuple[int, int]]
) -> None:
    streamer.join(240)
    assert not streamer.is_alive(), "the client never finished"
    assert streamer.error is None, streamer.error
    assert streamer.sent == len(run.stream)
    # every kill came while there was work in flight: batches to send or changes to apply
    assert all(sent < len(run.stream) or left > 0 for sent, left in kill_points), kill_points
    wait_applied(run.url, run.procs)
    for p in run.procs:
        log = p.tail() if not p.log.exists() else p.log.read_text(errors="replace")
        assert "applying one by one" not in log, f"an apply batch was split:\n{log[-3000:]}"
        assert "dead-lettered" not in log, log[-3000:]
    got = snapshot(run.url)
    assert not got.version_problems, got.version_problems[:5]
    assert got.counts == reference.counts
    # every change was accepted exactly once: a resent batch came back as duplicates
    assert streamer.accepted + streamer.duplicates == reference.counts["inbox rows"]
    if got.checksum != reference.checksum:
        missing = sorted(set(reference.lines) - set(got.lines))[:3]
        extra = sorted(set(got.lines) - set(reference.lines))[:3]
        pytest.fail(f"golden state differs:\nexpected {missing}\ngot {extra}")


def test_serve_killed_while_streaming(run: Run, reference: State) -> None:
    """The embedded mode: `concord serve` with its worker, killed (API and worker at once)
    three times at random moments while a client streams 5,000 changes."""
    keys = register_sources(run.url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = Proc(["serve", "--port", str(port)], run.env(), run.tmp / "serve.log")
    run.procs.append(server)
    server.start()
    wait_healthy(base, server)
    streamer = Streamer(base, keys, run.stream)
    streamer.start()
    kill_points = kill_while_streaming(random.Random(run.seed), run, streamer, server, base)
    assert server.kills >= 3
    assert sum(sent < len(run.stream) for sent, _ in kill_points) >= 3, kill_points
    finish(run, streamer, reference, kill_points)
    assert streamer.resends > 0  # at least one request hit a dead server


@pytest.mark.postgres
def test_apply_process_killed_while_streaming(
    pg_url: str, stream: list[Batch], tmp_path: Path, reference: State
) -> None:
    """Scale-out on PostgreSQL: `concord serve --no-worker` takes the changes and a separate
    `concord apply --follow` applies them; the apply process is killed three times."""
    run = Run(pg_url, tmp_path, stream, seed=7)
    try:
        keys = register_sources(run.url)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        api = Proc(["serve", "--port", str(port), "--no-worker"], run.env(), tmp_path / "api.log")
        applier = Proc(["apply", "--follow"], run.env(), tmp_path / "apply.log")
        run.procs += [api, applier]
        api.start()
        applier.start()
        wait_healthy(base, api)
        streamer = Streamer(base, keys, run.stream)
        streamer.start()
        kill_points = kill_while_streaming(
            random.Random(run.seed), run, streamer, applier, None, pause=(0.3, 1.2)
        )
        assert applier.kills >= 3
        assert any(sent < len(run.stream) for sent, _ in kill_points), kill_points
        finish(run, streamer, reference, kill_points)
        assert streamer.resends == 0  # the API process was never killed
    finally:
        for p in run.procs:
            p.stop()
