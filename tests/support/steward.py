"""Shared by the steward page's route and browser tests: a hub with a session secret, stewards
with cheap password hashes, and one pending match candidate."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from hub.bootstrap import Hub
from hub.store import access, stewards
from hub.store.tables import AuditLog, MatchCandidate, SourceRecordRow
from hub.store.uow import admin_session
from stewardship import passwords

passwords.use_cost(time_cost=1, memory_cost_kib=8)

SECRET = "s" * 40
PASSWORD = "correct horse battery"
PAGE_TIMEOUT_MS = 45_000
"""How long a browser test waits for a page or an element: a liveness limit, not a speed
check. A page load took over 15 s once, with the suite and two chaos runs at load 12."""
ACME = {
    "name": "ACME International Corporation",
    "address_line": "1 Long Lane",
    "city": "London",
    "postcode": "EC1A 1BB",
    "country": "GB",
}
# a misspelt name and the country, nothing else to confirm it: enough to ask, too little to link
WEAK = {"name": "Acme Internationl Corp", "country": "GB"}


def add_stewards(hub: Hub) -> None:
    with admin_session(hub.engine) as s:
        for name, role in (("ann", "steward"), ("vic", "viewer"), ("ada", "admin")):
            stewards.add_steward(s, name, role, passwords.hash_password(PASSWORD))


def add_source(hub: Hub, name: str, domains: list[str]) -> str:
    with admin_session(hub.engine) as s:
        return access.add_source(s, name, domains, None, None, set(hub.config.domains))


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def login(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Log in; return the session's CSRF token for the forms that follow."""
    page = client.get("/steward/login")
    r = client.post(
        "/steward/login",
        data={"name": name, "password": password, "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return csrf_of(client.get("/steward/queue").text)


@dataclass
class Web:
    hub: Hub
    client: TestClient
    keys: dict[str, str]

    def post_change(self, source: str, key: str, **attributes: object) -> None:
        r = self.client.post(
            "/api/v1/changes",
            json={"changes": [{"domain": "client", "key": key, "attributes": attributes}]},
            headers={"Authorization": f"Bearer {self.keys[source]}"},
        )
        assert r.status_code == 202, r.text
        self.hub.bus.drain()

    def candidates(self) -> list[MatchCandidate]:
        with admin_session(self.hub.engine) as s:
            return list(s.scalars(select(MatchCandidate).order_by(MatchCandidate.id)))

    def golden_of(self, source: str, key: str) -> str:
        with admin_session(self.hub.engine) as s:
            return str(
                s.scalars(
                    select(SourceRecordRow.golden_id).where(
                        SourceRecordRow.source == source, SourceRecordRow.source_key == key
                    )
                ).one()
            )

    def audit(self) -> list[tuple[str, str, dict[str, Any]]]:
        with admin_session(self.hub.engine) as s:
            return [(a.actor, a.action, a.detail) for a in s.scalars(select(AuditLog))]
