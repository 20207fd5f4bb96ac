"""The demo's part for the steward page: an acquired firm's CRM whose clients resemble the
firm's own but share no key (so a steward has a queue to work), and a demo steward. The
source, its key and the steward are made through the bus, like any other write."""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from hub.bootstrap import Hub
from hub.domain.commands import IssueSourceKey, SetStewardPassword
from hub.store.read.operations import source_attributes
from hub.store.uow import session_factory
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
    key: str = hub.bus.handle(IssueSourceKey(ACQUIRED, ("client",), actor="demo"))
    with session_factory(hub.engine, readonly=True)() as s:
        originals = source_attributes(s, "crm", "client", count)
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
    hub.bus.handle(SetStewardPassword(DEMO_STEWARD, hashed, role_if_new="steward", actor="demo"))
    return DEMO_STEWARD, password
