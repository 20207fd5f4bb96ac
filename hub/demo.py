"""``concord demo``: the demo world posted through the real HTTP ingest path, then served."""

from __future__ import annotations

import time

import httpx
from rich.console import Console
from sqlalchemy import select

import stewardship.demo as steward_demo
from hub import demo_report as report
from hub.app import create_app
from hub.bootstrap import Hub
from hub.demo_world import SOURCES, build_world
from hub.serving import BackgroundServer, free_port
from hub.store import access, queries
from hub.store.tables import SourceSystem
from hub.store.uow import admin_session, session_factory


def _demo_keys(hub: Hub) -> dict[str, str]:
    """A fresh key for each demo source (registering the source the first time)."""
    keys: dict[str, str] = {}
    with admin_session(hub.engine) as s:
        known = set(s.scalars(select(SourceSystem.name)))
        for name, domains in SOURCES.items():
            if name in known:
                keys[name] = access.create_key(s, name, "source", source=name, actor="demo")
            else:
                keys[name] = access.add_source(
                    s, name, domains, None, None, set(hub.config.domains), actor="demo"
                )
        keys["_reader"] = access.create_key(s, "demo-reader", "subscriber", actor="demo")
    return keys


def _wait_applied(hub: Hub, timeout: float = 120) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        session = session_factory(hub.engine, readonly=True)()
        try:
            counts = queries.counts(session)
        finally:
            session.close()
        inbox = counts["inbox"]
        if not inbox.get("pending") or time.monotonic() > deadline:
            return counts
        time.sleep(0.1)


def run_demo(hub: Hub, serve: bool, port: int, console: Console) -> int:
    keys = _demo_keys(hub)
    app = create_app(hub)
    port = port if serve else free_port()
    with (
        BackgroundServer(app, port) as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        accepted = duplicates = 0
        for source, batch in build_world():
            r = client.post(
                "/api/v1/changes",
                json={"changes": batch},
                headers={"Authorization": f"Bearer {keys[source]}"},
            )
            if r.status_code != 202:
                console.print(f"[red]{source} batch refused ({r.status_code}):[/red] {r.text}")
                return 1
            accepted += r.json()["accepted"]
            duplicates += r.json()["duplicates"]
        _wait_applied(hub)
        acquired, again = steward_demo.post_acquired_firm(hub, client)  # look-alikes to review
        accepted, duplicates = accepted + acquired, duplicates + again
        counts = _wait_applied(hub)
        report.print_loaded(
            console,
            report.stored_line(accepted, duplicates, len(SOURCES) + 1),
            counts,
            list(hub.config.domains),
            steward_demo.demo_steward(hub),
        )
        if not serve:
            report.print_next_steps(console)
            return 0
        report.print_serving(console, server.url, keys)
        try:
            while server.thread.is_alive():
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    return 0
