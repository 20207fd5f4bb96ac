"""The demo's part for the steward page: an acquired firm's CRM whose clients resemble the
firm's own but share no key (so a steward has a queue to work), and a demo steward."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
from sqlalchemy import select

from hub.bootstrap import Hub
from hub.store import access, stewards
from hub.store.tables import SourceRecordRow, SourceSystem
from hub.store.uow import admin_session
from stewardship import passwords

ACQUIRED = "northwind-crm"
DEMO_STEWARD = "demo-steward"


def _variant(attrs: dict[str, Any], i: int) -> dict[str, Any]:
    """The same client as another CRM would hold it: a respelt name and a little address,
    in four shapes so that the queue shows strong, middling and contested candidates."""
    name = str(attrs.get("name", "")).removeprefix("The ").replace(" & ", " and ")
    city, country = attrs.get("city"), attrs.get("country")
    shape = i % 4
    if shape == 0:
        return {"name": name.upper(), "city": city, "country": country}
    if shape == 1:
        return {"name": f"{name} Ltd", "country": country}
    if shape == 2:
        return {"name": name, "city": city, "postcode": "ZZ9 9ZZ", "country": country}
    typo = name[:3] + name[4:] if len(name) > 6 else name
    return {"name": typo, "city": city}


def post_acquired_firm(hub: Hub, client: httpx.Client, count: int = 12) -> tuple[int, int]:
    """Post ``count`` look-alike clients as the acquired firm; returns (accepted, duplicates)
    as the hub answered, so a second run does not claim changes it did not store."""
    with admin_session(hub.engine) as s:
        if s.get(SourceSystem, ACQUIRED) is None:
            key = access.add_source(
                s, ACQUIRED, ["client"], None, None, set(hub.config.domains), actor="demo"
            )
        else:
            key = access.create_key(s, ACQUIRED, "source", source=ACQUIRED, actor="demo")
        originals = s.scalars(
            select(SourceRecordRow.attributes)
            .where(SourceRecordRow.source == "crm", SourceRecordRow.domain == "client")
            .order_by(SourceRecordRow.source_key)
            .limit(count)
        ).all()
    changes = [
        {"domain": "client", "key": f"NW-{i:03d}", "attributes": _variant(dict(a), i)}
        for i, a in enumerate(originals)
    ]
    r = client.post(
        "/api/v1/changes", json={"changes": changes}, headers={"Authorization": f"Bearer {key}"}
    )
    r.raise_for_status()
    body = r.json()
    return int(body["accepted"]), int(body["duplicates"])


def demo_steward(hub: Hub) -> tuple[str, str]:
    """A steward to log in with: a fresh random password each run, printed by the demo."""
    password = secrets.token_urlsafe(12)
    hashed = passwords.hash_password(password)
    with admin_session(hub.engine) as s:
        row = stewards.find(s, DEMO_STEWARD)
        if row is None:
            stewards.add_steward(s, DEMO_STEWARD, "steward", hashed, actor="demo")
        else:
            row.password_hash, row.failed_logins, row.locked_until = hashed, 0, None
            access.audit(s, "demo", "steward.password", {"name": DEMO_STEWARD})
    return DEMO_STEWARD, password
