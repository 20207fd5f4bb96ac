"""docker-compose.yml's stack, started without Docker: the same commands, environment and
order, ending in a steward who logs in to the steward page.

Docker does not run on our machines or in CI, so the compose file is read and each service is
started as the process its command names: `postgres` is a fresh database on the test server,
`kafka` the session's Kafka-protocol test broker, `source-db` a fresh database with
wal_level=logical loaded with the compose's init script; `setup`, `api`, `worker` and
`connector-psa` run their commands with their environment, host names pointed at those. The
only additions are the test broker's settings (one record per batch, short group timers).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml

from hub.serving import free_port
from tests.integration.pg_source import source_server  # noqa: F401  (fixture)
from tests.kafka import Broker
from tests.steward_helpers import csrf_of

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?::-([^}]*))?\}")
TEST_BROKER = {
    "CONCORD_KAFKA_MAX_BATCH_BYTES": "1",
    "CONCORD_KAFKA_SESSION_TIMEOUT_SECONDS": "1",
    "CONCORD_KAFKA_HEARTBEAT_SECONDS": "0.3",
    "CONCORD_KAFKA_REBALANCE_TIMEOUT_SECONDS": "1",
}


def interpolate(text: str) -> str:
    """Compose's own substitution: ``${VAR:-default}`` from the environment, ``$$`` is ``$``."""

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return os.environ.get(m.group(1)) or (m.group(2) or "")

    return VARIABLE.sub(one, text)


def start_order() -> list[str]:
    """The services in an order compose could start them: each after what it depends on."""
    done: list[str] = []
    while len(done) < len(SERVICES):
        ready = [
            name
            for name, s in SERVICES.items()
            if name not in done and set(s.get("depends_on") or {}) <= set(done)
        ]
        assert ready, f"a dependency cycle among {set(SERVICES) - set(done)}"
        done += sorted(ready)
    return done


class Stack:
    """The processes of the stack, their environment with the compose host names resolved."""

    def __init__(self, hosts: dict[str, str], logs: Path) -> None:
        self.hosts = hosts
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

    def resolve(self, text: str) -> str:
        text = interpolate(text)
        for host, there in self.hosts.items():
            text = text.replace(host, there)
        return text

    def env(self, name: str) -> dict[str, str]:
        own = {
            k: self.resolve(str(v)) for k, v in (SERVICES[name].get("environment") or {}).items()
        }
        base = {k: v for k, v in os.environ.items() if not k.startswith("CONCORD_")}
        return {**base, "PATH": self.path, **own, **TEST_BROKER}

    def command(self, name: str, port: int | None = None) -> list[str]:
        argv = [self.resolve(str(a)) for a in SERVICES[name]["command"]]
        if port is not None:  # the published port, on loopback
            argv[argv.index("--port") + 1] = str(port)
            argv[argv.index("--host") + 1] = "127.0.0.1"
        return argv

    def run(self, name: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(name), env=self.env(name), capture_output=True, text=True, timeout=180
        )

    def start(self, name: str, port: int | None = None) -> None:
        log = (self.logs / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(
            self.command(name, port), env=self.env(name), stdout=log, stderr=log
        )

    def alive(self) -> None:
        for name, p in self.procs.items():
            assert p.poll() is None, f"{name} exited: {(self.logs / f'{name}.log').read_text()}"

    def stop(self) -> None:
        for p in self.procs.values():
            p.terminate()
        for p in self.procs.values():
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)


@pytest.fixture
def source_demo_db(source_server: str) -> Iterator[str]:  # noqa: F811
    """source-db: a database loaded with the compose file's init script."""
    volume = next(v for v in SERVICES["source-db"]["volumes"] if "initdb" in v)
    script = (ROOT / volume.split(":")[0]).read_text(encoding="utf-8")
    name = f"concord_src_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(source_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = source_server.rpartition("/")[0] + f"/{name}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(script)
    yield url
    with psycopg.connect(source_server, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
            "WHERE database = %s",
            (name,),
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_services_start_in_the_order_compose_gives() -> None:
    order = start_order()
    for first, then in (("postgres", "setup"), ("kafka", "api"), ("setup", "worker")):
        assert order.index(first) < order.index(then)
    assert order.index("source-db") < order.index("connector-psa")


def test_the_stack_without_docker_serves_a_steward_login(
    pg_url: str, kafka_broker: Broker, source_demo_db: str, tmp_path: Path
) -> None:
    assert shutil.which("sh")
    hosts = {
        "postgresql+psycopg://concord:concord@postgres:5432/concord": pg_url,
        "kafka:9092": kafka_broker.bootstrap,
        "postgresql://postgres:source@source-db:5432/psa": source_demo_db,
        "/app/": f"{ROOT}/",  # the image's WORKDIR holds what the checkout holds
    }
    stack = Stack(hosts, tmp_path)
    try:
        for name in start_order():
            if name in ("postgres", "kafka", "source-db"):  # already up: the fixtures above
                continue
            if name == "setup":
                done = stack.run(name)
                assert done.returncode == 0, done.stdout + done.stderr
                psa_key = done.stdout.strip().splitlines()[-2]  # the key, then the steward line
            elif name == "api":
                port = free_port()
                stack.start(name, port)
            else:
                stack.start(name)
        api = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            stack.alive()
            try:
                if httpx.get(f"{api}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the api did not become healthy"
            time.sleep(0.2)

        password = interpolate("${STEWARD_PASSWORD:-}") or re.sub(
            r".*\$\{STEWARD_PASSWORD:-([^}]*)\}.*",
            r"\1",
            SERVICES["setup"]["environment"]["STEWARD_PASSWORD"],
        )
        with httpx.Client(base_url=api, timeout=10) as client:
            page = client.get("/steward/login")
            assert page.status_code == 200, page.text
            r = client.post(
                "/steward/login",
                data={"name": "steward", "password": password, "csrf": csrf_of(page.text)},
            )
            assert r.status_code == 303, r.text
            assert client.get("/steward/queue").status_code == 200

        # The worker applies what the API took, and the connector brings the source's rows.
        r = httpx.post(
            f"{api}/api/v1/changes",
            json={"changes": [{"domain": "client", "key": "PSA-1", "attributes": {"name": "A"}}]},
            headers={"Authorization": f"Bearer {psa_key}"},
            timeout=30,
        )
        assert r.status_code == 202, r.text
        with psycopg.connect(source_demo_db, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO clients VALUES (3, 'Initech', 'https://initech.example', 'US')"
            )
        with psycopg.connect(pg_url.replace("+psycopg", "")) as hub_db:
            deadline = time.monotonic() + 90
            while True:
                stack.alive()
                keys = {
                    row[0]
                    for row in hub_db.execute(
                        "SELECT source_key FROM source_record WHERE source = 'psa'"
                    )
                }
                hub_db.commit()
                if "PSA-1" in keys and len(keys) >= 2:
                    break
                assert time.monotonic() < deadline, f"applied so far: {keys}"
                time.sleep(0.3)
    finally:
        stack.stop()
