"""Handlers of the administration commands: sources, keys, subscriptions, steward accounts.

They go through the bus like every other write (docs/architecture.md, "The parts"), so the
CLI, the API, the steward site and the Kafka worker change these the same way: one
transaction, the audit entry in it, and the bus's retry when the database gave up on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from hub.domain.accounts import LoggedIn, lock_seconds
from hub.domain.admin import Subscription, SubscriptionSecret
from hub.domain.commands import (
    AddSource,
    AddSteward,
    CreateKey,
    CreateSubscription,
    DeleteSubscription,
    EndStewardSessions,
    IssueSourceKey,
    RecordLogin,
    ReplayDeliveries,
    RevokeKeys,
    RotateSourceKey,
    RotateSubscriptionSecret,
    SetStewardDisabled,
    SetStewardPassword,
    SetSubscriptionStatus,
)
from hub.domain.errors import ConcordError, RecordNotFound
from hub.services.ports import Administration

AdminFactory = Callable[[], Administration]
T = TypeVar("T")
ROLES = ("subscriber", "steward", "admin")  # a source's key comes with the source
STATUSES = ("active", "paused")  # "disabled" is the receiver's 410, never an admin's


def _in_one(admin: AdminFactory, work: Callable[[Administration], T]) -> T:
    """``work`` in one admin transaction, committed only if it returned."""
    with admin() as a:
        result = work(a)
        a.commit()
    return result


def add_source(cmd: AddSource, admin: AdminFactory) -> str:
    return _in_one(
        admin, lambda a: a.add_source(cmd.name, cmd.domains, cmd.kind, cmd.rank, cmd.actor)
    )


def rotate_source_key(cmd: RotateSourceKey, admin: AdminFactory) -> str:
    return _in_one(admin, lambda a: a.rotate_source_key(cmd.name, cmd.actor))


def issue_source_key(cmd: IssueSourceKey, admin: AdminFactory) -> str:
    """Registering a missing source and issuing the key are one transaction, so a source is
    never left registered without the key its caller was to be given."""

    def work(a: Administration) -> str:
        if a.has_source(cmd.name):
            return a.issue_source_key(cmd.name, cmd.actor)
        if cmd.register_with is None:
            raise RecordNotFound(f"no source system {cmd.name}")
        return a.add_source(cmd.name, cmd.register_with, None, None, cmd.actor)

    return _in_one(admin, work)


def create_key(cmd: CreateKey, admin: AdminFactory) -> str:
    if cmd.role not in ROLES:
        raise ConcordError(f"key {cmd.name}: role must be {', '.join(ROLES)}, not {cmd.role!r}")
    return _in_one(
        admin,
        lambda a: a.create_key(cmd.name, cmd.role, cmd.read_domains, cmd.personal, cmd.actor),
    )


def revoke_keys(cmd: RevokeKeys, admin: AdminFactory) -> int:
    return _in_one(admin, lambda a: a.revoke_keys(cmd.name, cmd.actor))


def create_subscription(cmd: CreateSubscription, admin: AdminFactory) -> SubscriptionSecret:
    fields = {
        "name": cmd.name,
        "kind": cmd.kind,
        "url": cmd.url,
        "domains": list(cmd.domains),
        "source": cmd.source,
        "echo": cmd.echo,
        "personal": cmd.personal,
        "start": cmd.start,
    }
    return _in_one(admin, lambda a: a.create_subscription(fields, cmd.actor))


def set_subscription_status(cmd: SetSubscriptionStatus, admin: AdminFactory) -> Subscription:
    if cmd.status not in STATUSES:
        raise ConcordError(
            f"subscription {cmd.ref}: status must be {' or '.join(STATUSES)}, not {cmd.status!r}"
        )
    return _in_one(admin, lambda a: a.set_subscription_status(cmd.ref, cmd.status, cmd.actor))


def delete_subscription(cmd: DeleteSubscription, admin: AdminFactory) -> None:
    _in_one(admin, lambda a: a.delete_subscription(cmd.ref, cmd.actor))


def rotate_subscription_secret(
    cmd: RotateSubscriptionSecret, admin: AdminFactory
) -> SubscriptionSecret:
    return _in_one(
        admin, lambda a: a.rotate_subscription_secret(cmd.ref, cmd.overlap_seconds, cmd.actor)
    )


def replay_deliveries(cmd: ReplayDeliveries, admin: AdminFactory) -> int:
    return _in_one(
        admin,
        lambda a: a.replay_deliveries(cmd.ref, cmd.event_id, cmd.dead, cmd.after, cmd.actor),
    )


def add_steward(cmd: AddSteward, admin: AdminFactory) -> None:
    _in_one(admin, lambda a: a.add_steward(cmd.name, cmd.role, cmd.password_hash, cmd.actor))


def set_steward_disabled(cmd: SetStewardDisabled, admin: AdminFactory) -> None:
    _in_one(admin, lambda a: a.set_steward_disabled(cmd.name, cmd.disabled, cmd.actor))


def set_steward_password(cmd: SetStewardPassword, admin: AdminFactory) -> None:
    def work(a: Administration) -> None:
        if a.has_steward(cmd.name):
            a.set_steward_password(cmd.name, cmd.password_hash, cmd.actor)
        elif cmd.role_if_new is not None:
            a.add_steward(cmd.name, cmd.role_if_new, cmd.password_hash, cmd.actor)
        else:
            raise RecordNotFound(f"no steward {cmd.name}")

    _in_one(admin, work)


def record_login(cmd: RecordLogin, admin: AdminFactory) -> LoggedIn | None:
    """Committed whether the login is let in or refused: a refusal's count must stay."""
    return _in_one(admin, lambda a: a.record_login(cmd.name, cmd.password_ok, cmd.at, lock_seconds))


def end_steward_sessions(cmd: EndStewardSessions, admin: AdminFactory) -> None:
    _in_one(admin, lambda a: a.end_steward_sessions(cmd.steward_id))


HANDLERS: dict[type, Callable[[Any, AdminFactory], Any]] = {
    AddSource: add_source,
    RotateSourceKey: rotate_source_key,
    IssueSourceKey: issue_source_key,
    CreateKey: create_key,
    RevokeKeys: revoke_keys,
    CreateSubscription: create_subscription,
    SetSubscriptionStatus: set_subscription_status,
    DeleteSubscription: delete_subscription,
    RotateSubscriptionSecret: rotate_subscription_secret,
    ReplayDeliveries: replay_deliveries,
    AddSteward: add_steward,
    SetStewardDisabled: set_steward_disabled,
    SetStewardPassword: set_steward_password,
    RecordLogin: record_login,
    EndStewardSessions: end_steward_sessions,
}
