"""The bus is the only door for writes (docs/architecture.md, "The parts"): changes from HTTP go
through ``AcceptChanges`` into the bus's intake, and sources, keys, subscriptions and steward
accounts are changed by commands, each audited in its own transaction, all or nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hub.app import create_app
from hub.bootstrap import Hub
from hub.domain.admin import Subscription, SubscriptionSecret
from hub.domain.commands import (
    AddSource,
    AddSteward,
    CreateKey,
    CreateSubscription,
    DeleteSubscription,
    IssueSourceKey,
    ReplayDeliveries,
    RevokeKeys,
    RotateSourceKey,
    RotateSubscriptionSecret,
    SetStewardDisabled,
    SetStewardPassword,
    SetSubscriptionStatus,
)
from hub.domain.errors import ConcordError, RecordNotFound, Unauthorized, Unavailable
from hub.domain.model import Change
from hub.store import access
from hub.store.tables import ApiKey, AuditLog, InboxRow, StewardRow, SubscriptionRow
from hub.store.uow import admin_session


def audit_actions(hub: Hub) -> list[str]:
    with admin_session(hub.engine) as s:
        return list(s.scalars(select(AuditLog.action).order_by(AuditLog.id)))


def count(hub: Hub, table: type) -> int:
    with admin_session(hub.engine) as s:
        return int(s.scalar(select(func.count()).select_from(table)) or 0)


def test_sources_and_keys_are_made_and_revoked_through_the_bus(hub: Hub) -> None:
    key = hub.bus.handle(AddSource("crm", ("client",), actor="ops"))
    with admin_session(hub.engine) as s:
        assert access.authenticate(s, key).source == "crm"
    new = hub.bus.handle(RotateSourceKey("crm", actor="ops"))
    reader = hub.bus.handle(CreateKey("dash", "subscriber", ("client",), actor="ops"))
    assert hub.bus.handle(RevokeKeys("dash", actor="ops")) == 1
    with admin_session(hub.engine) as s:
        assert access.authenticate(s, new).name == "crm"
        for gone in (key, reader):
            with pytest.raises(Unauthorized):
                access.authenticate(s, gone)
    assert audit_actions(hub) == [
        "key.create",
        "source.add",
        "key.revoke",
        "key.create",
        "source.rotate-key",
        "key.create",
        "key.revoke",
    ]
    with admin_session(hub.engine) as s:
        assert access.verify_audit(s)[1] is None


def test_a_refused_admin_command_writes_nothing_and_names_what_is_wrong(hub: Hub) -> None:
    before = (count(hub, ApiKey), count(hub, AuditLog))
    with pytest.raises(ConcordError, match="unknown domain 'clients'"):
        hub.bus.handle(CreateKey("dash", "subscriber", ("client", "clients")))
    with pytest.raises(ConcordError, match="source erp: unknown domain 'invoice'"):
        hub.bus.handle(AddSource("erp", ("client", "invoice")))
    with pytest.raises(ConcordError, match="role must be"):
        hub.bus.handle(CreateKey("dash", "source"))
    with pytest.raises(RecordNotFound, match="no active key named nobody"):
        hub.bus.handle(RevokeKeys("nobody"))
    assert (count(hub, ApiKey), count(hub, AuditLog)) == before


def test_subscriptions_are_changed_through_the_bus(hub: Hub) -> None:
    made = hub.bus.handle(
        CreateSubscription("crm-feed", "webhook", "https://example.com/hook", ("client",))
    )
    assert isinstance(made, SubscriptionSecret) and made.secret.startswith("whsec_")
    paused = hub.bus.handle(SetSubscriptionStatus("crm-feed", "paused", actor="ops"))
    assert isinstance(paused, Subscription)
    assert (paused.status, paused.domains, paused.id) == ("paused", ("client",), made.id)
    with pytest.raises(ConcordError, match="status must be active or paused"):
        hub.bus.handle(SetSubscriptionStatus("crm-feed", "disabled"))
    rotated = hub.bus.handle(RotateSubscriptionSecret(made.id, 60.0, actor="ops"))
    assert rotated.secret != made.secret and rotated.previous_valid_until is not None
    assert hub.bus.handle(ReplayDeliveries("crm-feed", after=0)) == 0
    hub.bus.handle(DeleteSubscription("crm-feed", actor="ops"))
    assert count(hub, SubscriptionRow) == 0
    assert audit_actions(hub) == [
        "subscription.create",
        "subscription.paused",
        "subscription.rotate-secret",
        "subscription.replay",
        "subscription.delete",
    ]


def test_steward_accounts_are_changed_through_the_bus(hub: Hub) -> None:
    hub.bus.handle(AddSteward("ann", "steward", "argon2-hash-of-a-password", actor="ops"))
    hub.bus.handle(SetStewardDisabled("ann", True, actor="ops"))
    with admin_session(hub.engine) as s:
        row = s.scalar(select(StewardRow).where(StewardRow.name == "ann"))
        assert row is not None and row.disabled
    assert audit_actions(hub) == ["steward.add", "steward.disable"]
    with pytest.raises(ConcordError, match="steward ann exists already"):
        hub.bus.handle(AddSteward("ann", "viewer", "another-hash"))


def test_a_source_gets_a_further_key_through_the_bus_its_others_still_working(hub: Hub) -> None:
    """What the demo does on every run: the first key registers the source, the next ones
    leave the earlier keys working; an unknown source without domains is refused."""
    first = hub.bus.handle(IssueSourceKey("crm", ("client",), actor="demo"))
    second = hub.bus.handle(IssueSourceKey("crm", ("client",), actor="demo"))
    with admin_session(hub.engine) as s:
        assert {access.authenticate(s, k).source for k in (first, second)} == {"crm"}
    assert audit_actions(hub) == ["key.create", "source.add", "key.create"]
    before = (count(hub, ApiKey), count(hub, AuditLog))
    with pytest.raises(RecordNotFound, match="no source system erp"):
        hub.bus.handle(IssueSourceKey("erp"))
    assert (count(hub, ApiKey), count(hub, AuditLog)) == before


def test_a_steward_s_password_is_set_through_the_bus_and_the_lock_cleared(hub: Hub) -> None:
    hub.bus.handle(SetStewardPassword("demo", "first-hash", role_if_new="steward", actor="demo"))
    with admin_session(hub.engine) as s:
        row = s.scalar(select(StewardRow).where(StewardRow.name == "demo"))
        assert row is not None and row.role == "steward"
        row.failed_logins, row.locked_until = 7, row.created_at
    hub.bus.handle(SetStewardPassword("demo", "second-hash", role_if_new="steward", actor="demo"))
    with admin_session(hub.engine) as s:
        row = s.scalar(select(StewardRow).where(StewardRow.name == "demo"))
        assert row is not None
        assert (row.password_hash, row.failed_logins, row.locked_until) == ("second-hash", 0, None)
    assert audit_actions(hub) == ["steward.add", "steward.password"]
    with pytest.raises(RecordNotFound, match="no steward bob"):
        hub.bus.handle(SetStewardPassword("bob", "a-hash"))
    assert count(hub, StewardRow) == 1


class Sink:
    """A ``ChangeSink`` standing for the changes topic: keeps what it is given, or fails."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.batches: list[Sequence[Change]] = []

    def write(self, changes: Sequence[Change]) -> tuple[int, int]:
        if self.fail:
            raise Unavailable("the broker did not acknowledge 1 of 1 changes; send it again")
        self.batches.append(changes)
        return len(changes), 0

    def close(self) -> None:
        pass


def post_one(hub: Hub, sink: Sink) -> object:
    key = hub.bus.handle(AddSource("crm", ("client",)))
    client = TestClient(create_app(replace(hub, bus=hub.bus.publishing_to(sink)), False))
    return client.post(
        "/api/v1/changes",
        json={"changes": [{"domain": "client", "key": "C-1", "attributes": {"name": "Acme"}}]},
        headers={"Authorization": f"Bearer {key}"},
    )


def test_http_ingest_writes_through_the_bus_intake(hub: Hub) -> None:
    """What the API accepts reaches the bus's intake (the topic in scale-out mode) and
    nothing else: the inbox stays empty."""
    sink = Sink()
    r = post_one(hub, sink)
    assert r.status_code == 202, r.text  # type: ignore[attr-defined]
    assert r.json() == {"accepted": 1, "duplicates": 0}  # type: ignore[attr-defined]
    assert [[(c.source, c.key) for c in batch] for batch in sink.batches] == [[("crm", "C-1")]]
    assert count(hub, InboxRow) == 0


def test_an_intake_that_cannot_keep_the_batch_answers_503(hub: Hub) -> None:
    r = post_one(hub, Sink(fail=True))
    assert r.status_code == 503, r.text  # type: ignore[attr-defined]
    assert r.headers["Retry-After"] == "1"  # type: ignore[attr-defined]
    assert "send it again" in r.json()["detail"]  # type: ignore[attr-defined]
    assert count(hub, InboxRow) == 0


def test_a_bus_without_an_admin_store_refuses_admin_commands(hub: Hub) -> None:
    from hub.services.bus import MessageBus

    bare = MessageBus(hub.bus.uow_factory, hub.bus.applier)
    with pytest.raises(TypeError, match="no handler for AddSource"):
        bare.handle(AddSource("crm", ("client",)))
