"""Login throttling that holds under parallel attempts and tells nothing of which names exist
(issue 19, item 5).

Before: 20 wrong passwords at once on PostgreSQL each read the count before any wrote it, so
the account never locked; a locked account answered without hashing (fast: "this name
exists"), a disabled one said so; and every attempt hashed on its own thread, so a crowd of
logins took every worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from hub.app import create_app
from hub.bootstrap import Hub
from hub.store import stewards
from hub.store.uow import admin_session
from stewardship import accounts, passwords
from tests.conftest import make_hub
from tests.support.steward import PASSWORD, SECRET, add_stewards, csrf_of


@pytest.fixture
def steward_hub(db_url: str) -> Iterator[Hub]:
    hub = make_hub(db_url, session_secret=SECRET)
    add_stewards(hub)
    yield hub
    hub.close()


class CountingHasher:
    """The test hasher, counting verifications and how many ran at once."""

    def __init__(self, inner: Any, seconds: float = 0.0) -> None:
        self.inner = inner
        self.seconds = seconds
        self.calls = 0
        self.running = 0
        self.peak = 0
        self.lock = threading.Lock()

    def hash(self, password: str) -> str:
        return str(self.inner.hash(password))

    def verify(self, password_hash: str, password: str) -> bool:
        with self.lock:
            self.calls += 1
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            time.sleep(self.seconds)
            return bool(self.inner.verify(password_hash, password))
        finally:
            with self.lock:
                self.running -= 1


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    counting = CountingHasher(passwords._hasher)
    monkeypatch.setattr(passwords, "_hasher", counting)
    return counting


@pytest.mark.postgres
def test_parallel_wrong_passwords_all_count_and_lock_the_account(pg_url: str) -> None:
    hub = make_hub(pg_url, session_secret=SECRET)
    try:
        add_stewards(hub)
        gate = threading.Barrier(20)

        def attempt() -> None:
            gate.wait()
            with contextlib.suppress(accounts.LoginRefused):
                accounts.login(hub.engine, hub.bus, "ann", "wrong password")

        threads = [threading.Thread(target=attempt) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with admin_session(hub.engine) as s:
            row = stewards.find(s, "ann")
            assert row is not None
            assert row.failed_logins >= accounts.FREE_FAILURES, row.failed_logins
            assert row.locked_until is not None
        with pytest.raises(accounts.LoginRefused):
            accounts.login(
                hub.engine, hub.bus, "ann", PASSWORD
            )  # locked: even the right password fails
    finally:
        hub.close()


def _attempt(client: TestClient, name: str, password: str) -> httpx.Response:
    token = csrf_of(client.get("/steward/login").text)
    return client.post(
        "/steward/login",
        data={"name": name, "password": password, "csrf": token},
        follow_redirects=False,
    )


def test_unknown_locked_disabled_and_wrong_answer_alike(
    steward_hub: Hub, hasher: CountingHasher
) -> None:
    client = TestClient(create_app(steward_hub, run_worker=False))
    for _ in range(accounts.FREE_FAILURES):
        _attempt(client, "vic", "wrong password")  # vic is now locked
    with admin_session(steward_hub.engine) as s:
        stewards.set_disabled(s, "ada", True)
    answers = {}
    for case, (name, password) in {
        "unknown": ("nobody", "whatever1"),
        "wrong": ("ann", "wrong password"),
        "locked, right password": ("vic", PASSWORD),
        "disabled, right password": ("ada", PASSWORD),
    }.items():
        before = hasher.calls
        r = _attempt(client, name, password)
        answers[case] = (r.status_code, accounts.REFUSED in r.text, hasher.calls - before)
    assert set(answers.values()) == {(401, True, 1)}, answers


def test_password_hashing_runs_at_most_a_few_at_once(
    steward_hub: Hub, hasher: CountingHasher
) -> None:
    hasher.seconds = 0.05
    app = create_app(steward_hub, run_worker=False)

    async def one(i: int) -> int:
        transport = httpx.ASGITransport(app=app, client=(f"10.0.0.{i}", 1000))
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as c:
            token = csrf_of((await c.get("/steward/login")).text)
            r = await c.post(
                "/steward/login", data={"name": f"nobody{i}", "password": "x" * 9, "csrf": token}
            )
            return r.status_code

    async def run() -> list[int]:
        return await asyncio.gather(*(one(i) for i in range(16)))

    codes = asyncio.run(run())
    assert codes == [401] * 16
    assert hasher.peak <= 2, f"{hasher.peak} password hashes ran at once"


def test_one_address_guessing_many_names_is_slowed(
    steward_hub: Hub, hasher: CountingHasher
) -> None:
    client = TestClient(create_app(steward_hub, run_worker=False))
    codes = [_attempt(client, f"guess{i}", "x" * 9).status_code for i in range(40)]
    assert 429 in codes, codes
    first = codes.index(429)
    assert set(codes[first:]) == {429}
    assert hasher.calls == first  # a refused attempt costs no hash
    r = _attempt(client, "guess", "x" * 9)
    assert int(r.headers["retry-after"]) > 0


def test_a_login_holds_no_database_lock_while_it_hashes(
    steward_hub: Hub, hasher: CountingHasher
) -> None:
    """On SQLite the login's writing transaction (``BEGIN IMMEDIATE``) used to stay open
    through the hash, so every other writer, and ``/healthz``, waited for argon2: 40 clients
    logging in made the probe take 10 s even with hashing bounded."""
    hasher.seconds = 1.5
    app = create_app(steward_hub, run_worker=False)

    async def run() -> tuple[float, int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as c:
            token = csrf_of((await c.get("/steward/login")).text)
            form = {"name": "ann", "password": "wrong password", "csrf": token}
            attempt = asyncio.ensure_future(c.post("/steward/login", data=form))
            await asyncio.sleep(0.3)  # the attempt is hashing now
            start = time.monotonic()
            probe = await c.get("/healthz")
            took = time.monotonic() - start
            assert (await attempt).status_code == 401
            return took, probe.status_code

    took, status = asyncio.run(run())
    assert status == 200
    assert took < 0.5, f"/healthz waited {took:.1f} s for a login's hash"
