"""``concord demo``: the demo world posted through the real HTTP ingest path, then served."""

from __future__ import annotations

import time

import httpx
from rich.console import Console
from sqlalchemy import select

import stewardship.demo as steward_demo
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
        acquired = steward_demo.post_acquired_firm(hub, client)  # look-alikes for the queue
        accepted += acquired
        counts = _wait_applied(hub)
        console.print(
            f"posted {accepted} changes ({duplicates} duplicates) from "
            f"{len(SOURCES)} systems over HTTP"
        )
        golden = counts["golden"]
        assert isinstance(golden, dict)
        for domain in hub.config.domains:
            console.print(f"  golden {domain:<9} {golden.get(domain, 0):>5}")
        console.print(f"  links (source records)  {counts['links']}")
        console.print(f"  pending references      {counts['pending_references']}")
        console.print(f"  inbox                   {counts['inbox']}")
        if not serve:
            return 0
        reader = keys["_reader"]
        steward, password = steward_demo.demo_steward(hub)
        console.print(f"\nConcord is serving the demo at {server.url}")
        console.print(f"  steward page    {server.url}/steward/")
        console.print(f"    log in as {steward}, password {password} (new on every run)")
        console.print(f"  API docs        {server.url}/docs")
        console.print(f"  health          {server.url}/healthz")
        console.print(f"  feed            {server.url}/api/v1/feed?limit=20")
        console.print(f"  clients         {server.url}/api/v1/golden/client?q=")
        console.print(f"  a read-only key for the API: {reader}")
        console.print(
            f'  e.g. curl -H "Authorization: Bearer {reader}" '
            f"'{server.url}/api/v1/golden/client?q=group'"
        )
        console.print("Press Ctrl+C to stop.")
        try:
            while server.thread.is_alive():
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    return 0
