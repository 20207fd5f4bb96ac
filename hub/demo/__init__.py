"""``concord demo``: the demo world posted through the real HTTP ingest path, then served.

Its sources, keys and steward are made through the bus (issue 15, must-have 3), so a second
run issues new keys to the same sources and stores nothing new."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import httpx
from rich.console import Console
from sqlalchemy.orm import Session

import stewardship.demo as steward_demo
from hub.app import create_app
from hub.bootstrap import Hub
from hub.demo import report as report
from hub.demo.deal import deal_story
from hub.demo.world import SOURCES, build_world
from hub.domain.commands import CreateKey, IssueSourceKey
from hub.runtime.serving import BackgroundServer, free_port
from hub.store import queries
from hub.store.read.operations import shell_code
from hub.store.uow import session_factory

T = TypeVar("T")


def _demo_keys(hub: Hub) -> dict[str, str]:
    """A fresh key for each demo source (registering the source the first time)."""
    keys: dict[str, str] = {
        name: hub.bus.handle(IssueSourceKey(name, tuple(domains), actor="demo"))
        for name, domains in SOURCES.items()
    }
    keys["_reader"] = hub.bus.handle(CreateKey("demo-reader", "subscriber", actor="demo"))
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


def _post(client: httpx.Client, key: str, changes: list[dict[str, object]]) -> tuple[int, int]:
    r = client.post(
        "/api/v1/changes", json={"changes": changes}, headers={"Authorization": f"Bearer {key}"}
    )
    r.raise_for_status()
    return int(r.json()["accepted"]), int(r.json()["duplicates"])


def _deal_to_project(hub: Hub, client: httpx.Client, keys: dict[str, str]) -> tuple[int, int]:
    """ERP's reference data, two deals contracted in CRM, the shell of the good one joined
    by PSA's project; the other waits as a setup exception. Returns (accepted, duplicates)."""
    story = deal_story()
    done = [_post(client, keys["erp"], story.reference)]
    done.append(_post(client, keys["crm"], story.proposal))
    _wait_applied(hub)
    done.append(_post(client, keys["crm"], story.contracted))
    _wait_applied(hub)
    # The worker makes the shell, and later marks it joined, in a round of project setup a
    # moment after the batch that allows it: an empty inbox does not mean either is done.
    code = _eventually(hub, lambda s: shell_code(s, "crm", "opportunity", story.good_deal))
    if code is not None:
        done.append(_post(client, keys["psa"], story.psa_project(code)))
        _wait_applied(hub)
        _eventually(hub, lambda s: [x for x in queries.list_shells(s) if x["linked_at"]] or None)
    return sum(a for a, _ in done), sum(d for _, d in done)


def _eventually(hub: Hub, read: Callable[[Session], T | None], timeout: float = 30) -> T | None:
    """What ``read`` finds once it finds something, or None after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_factory(hub.engine, readonly=True)() as s:
            found = read(s)
        if found is not None:
            return found
        time.sleep(0.1)
    return None


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
        deal = _deal_to_project(hub, client, keys)
        accepted, duplicates = accepted + deal[0], duplicates + deal[1]
        with session_factory(hub.engine, readonly=True)() as s:
            shells, waiting = queries.list_shells(s), queries.list_exceptions(s)
        counts = _wait_applied(hub)
        report.print_loaded(
            console,
            report.stored_line(accepted, duplicates, len(SOURCES) + 1),
            counts,
            list(hub.config.domains),
            steward_demo.demo_steward(hub),
        )
        report.print_deals(console, shells, waiting)
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
