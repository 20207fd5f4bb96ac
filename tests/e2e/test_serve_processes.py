"""`concord serve` on PostgreSQL runs its applier and delivery as child processes
(hub/runtime/children.py): they apply and deliver as the threads did, count in the server's
metrics, are started again when they die, and die with the server, however it goes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from hub.environment import PARENT_ENV
from hub.runtime.serving import free_port
from hub.store import access
from hub.store.db import make_engine
from hub.store.tables import GoldenRecordRow
from hub.store.uow import admin_session
from tests.conftest import make_hub
from tests.e2e.test_crash import pending
from tests.integration.test_webhooks import Receiver, receiver  # noqa: F401  (fixture)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def children_of(pid: int) -> dict[int, str]:
    """Live processes whose parent is ``pid``, with their command lines."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[1]) == pid:
            found[int(entry.name)] = cmd
    return found


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def wait_for(cond: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.05)


class Server:
    def __init__(self, url: str, tmp: Path, *args: str, group: bool = False) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "serve.log"
        env = {**os.environ, "CONCORD_DATABASE_URL": url, "CONCORD_WORKER_IDLE_SECONDS": "10"}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hub.cli", "serve", "--port", str(self.port), *args],
                env=env,
                stdout=out,
                stderr=out,
                start_new_session=group,  # a process group of its own, as a terminal gives
            )

    def health(self) -> dict[str, Any] | None:
        assert self.proc.poll() is None, self.tail()
        try:
            r = httpx.get(f"{self.base}/healthz", timeout=2)
        except httpx.HTTPError:
            return None
        return dict(r.json()) if r.status_code == 200 else None

    def workers(self) -> dict[str, int]:
        """The applier's and the deliverer's pids, once both run."""
        kids = children_of(self.proc.pid)
        apply = [p for p, cmd in kids.items() if " apply --follow" in cmd]
        deliver = [p for p, cmd in kids.items() if cmd.rstrip().endswith(" deliver")]
        return {"apply": apply[0], "deliver": deliver[0]} if apply and deliver else {}

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


@pytest.fixture
def hub_keys(pg_url: str) -> dict[str, str]:
    hub = make_hub(pg_url)
    with admin_session(hub.engine) as s:
        crm = access.add_source(s, "crm", ["client"], None, None, set(hub.config.domains))
        admin = access.create_key(s, "ops", "admin")
    hub.close()
    return {"crm": crm, "admin": admin}


@pytest.fixture
def server(pg_url: str, tmp_path: Path) -> Iterator[Server]:
    s = Server(pg_url, tmp_path)
    try:
        wait_for(s.health, 30, "a healthy server")
        yield s
    finally:
        s.stop()


def post(server: Server, key: str, name: str, n: int = 1) -> None:
    changes = [
        {"domain": "client", "key": f"{name}-{i}", "sequence": 1, "attributes": {"name": name}}
        for i in range(n)
    ]
    r = httpx.post(
        f"{server.base}/api/v1/changes",
        json={"changes": changes},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert r.status_code == 202, server.tail()


def golden_named(url: str, name: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            count = c.scalar(
                select(func.count())
                .select_from(GoldenRecordRow)
                .where(GoldenRecordRow.search_name == name.casefold())
            )
    finally:
        engine.dispose()
    return int(count or 0)


@pytest.mark.postgres
def test_children_apply_deliver_and_count(
    server: Server,
    hub_keys: dict[str, str],
    pg_url: str,
    receiver: Receiver,  # noqa: F811
) -> None:
    pids = wait_for(server.workers, 30, "both worker processes")
    assert set(pids) == {"apply", "deliver"}
    receiver.subscribe_over_http(server.base, hub_keys["admin"])
    post(server, hub_keys["crm"], "Acme Consulting", 2)
    wait_for(lambda: golden_named(pg_url, "Acme Consulting") == 2, 30, "the first changes")
    wait_for(lambda: pending(pg_url) == 0, 30, "an empty inbox")
    time.sleep(0.5)  # the applier has found it empty and sleeps its 10 s
    began = time.monotonic()
    post(server, hub_keys["crm"], "Acme Consulting", 3)
    # The applier polls every 10 s here: only the inbox's notification makes it apply sooner,
    # so this proves the wake-up crosses processes.
    wait_for(lambda: golden_named(pg_url, "Acme Consulting") == 3, 5, "applied on a wake-up")
    assert time.monotonic() - began < 5
    wait_for(lambda: len(receiver.delivered()) >= 3, 30, "three webhooks")
    assert receiver.problems == []
    counted = 'concord_changes_processed_total{outcome="applied",source="crm"} 3.0'
    wait_for(lambda: counted in httpx.get(f"{server.base}/metrics", timeout=5).text, 10, counted)
    assert server.workers() == pids  # nothing restarted


@pytest.mark.postgres
def test_a_dead_child_is_started_again(
    server: Server, hub_keys: dict[str, str], pg_url: str
) -> None:
    pids = wait_for(server.workers, 30, "both worker processes")
    os.kill(pids["apply"], signal.SIGKILL)
    wait_for(lambda: server.health() is None, 5, "health to notice the dead applier")
    again = wait_for(
        lambda: (w := server.workers()) and w["apply"] != pids["apply"] and w, 30, "a new one"
    )
    assert again["deliver"] == pids["deliver"]
    wait_for(server.health, 30, "healthy again")
    post(server, hub_keys["crm"], "Brightwater Advisory")
    wait_for(lambda: golden_named(pg_url, "Brightwater Advisory") == 1, 30, "applied again")
    assert "the applier process exited" in server.tail()


@pytest.mark.postgres
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_children_end_with_the_server(server: Server, how: signal.Signals) -> None:
    pids = wait_for(server.workers, 30, "both worker processes")
    server.proc.send_signal(how)
    server.proc.wait(30)
    wait_for(lambda: all(gone(p) for p in pids.values()), 15, "the children to end")


@pytest.mark.postgres
def test_threads_on_request(pg_url: str, tmp_path: Path) -> None:
    s = Server(pg_url, tmp_path, "--threads")
    try:
        wait_for(s.health, 30, "a healthy server")
        assert children_of(s.proc.pid) == {}
    finally:
        s.stop()


def test_sqlite_keeps_one_process(sqlite_url: str, tmp_path: Path) -> None:
    """The embedded default stays one process: SQLite has one writer at a time."""
    s = Server(sqlite_url, tmp_path)
    try:
        wait_for(s.health, 30, "a healthy server")
        assert children_of(s.proc.pid) == {}
    finally:
        s.stop()


@pytest.mark.postgres
@pytest.mark.parametrize("to", ["the server's process group", "every process"])
def test_a_stop_for_all_stops_the_server_and_its_children_once(
    to: str, pg_url: str, tmp_path: Path
) -> None:
    """A terminal's Ctrl-C reaches the server's process group; a service manager's SIGTERM
    every process. The children leave their stopping to the server, which stops them once it
    stopped taking requests: none exits first only to be started again."""
    s = Server(pg_url, tmp_path, group=True)
    try:
        wait_for(s.health, 30, "a healthy server")
        pids = wait_for(s.workers, 30, "both worker processes")
        if to == "every process":
            for pid in [s.proc.pid, *pids.values()]:
                os.kill(pid, signal.SIGTERM)
        else:
            os.killpg(s.proc.pid, signal.SIGINT)
        s.proc.wait(30)
        wait_for(lambda: all(gone(p) for p in pids.values()), 15, "the children to end")
        assert "exited" not in s.tail(), s.tail()
        assert s.tail().count("closed this process's stdin; stopping") == 2, s.tail()
    finally:
        s.stop()


@pytest.mark.parametrize("command", [["apply", "--follow"], ["deliver"]])
def test_a_child_answers_to_its_server_alone(
    command: list[str], sqlite_url: str, tmp_path: Path
) -> None:
    """Started as ``serve`` starts it, a worker ignores SIGINT and SIGTERM and stops when its
    stdin closes; started by hand, SIGTERM stops it as Ctrl-C does."""
    make_hub(sqlite_url).close()  # migrated
    env = {**os.environ, "CONCORD_DATABASE_URL": sqlite_url, PARENT_ENV: str(os.getpid())}
    log = tmp_path / "child.log"
    child = start(["-m", "hub.runtime.child", *command], env, log, stdin=subprocess.PIPE)
    try:
        wait_for(lambda: "running" in log.read_text(), 30, "the worker running")
        child.send_signal(signal.SIGINT)
        child.send_signal(signal.SIGTERM)
        time.sleep(1.5)
        assert child.poll() is None, "stopped on a signal: " + log.read_text()
        assert child.stdin is not None
        child.stdin.close()
        assert child.wait(20) == 0, log.read_text()
    finally:
        end(child)
    log.write_text("")
    child = start(
        ["-m", "hub.cli", *command], {k: v for k, v in env.items() if k != PARENT_ENV}, log
    )
    try:
        wait_for(lambda: "running" in log.read_text(), 30, "the worker running")
        child.send_signal(signal.SIGTERM)
        assert child.wait(20) == 0, log.read_text()
    finally:
        end(child)


def start(
    args: list[str], env: dict[str, str], log: Path, stdin: int | None = None
) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, *args], env=env, stdin=stdin, stdout=out, stderr=out
        )


def end(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.kill()
        child.wait(10)
