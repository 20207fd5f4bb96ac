"""The SQL side of ``Administration``: one admin transaction over sources, keys,
subscriptions and steward accounts, each change audited by the store function that makes it."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hub.domain.accounts import LoggedIn
from hub.domain.admin import Subscription, SubscriptionSecret
from hub.store import access, deliveries, stewards
from hub.store.tables import SourceSystem, SubscriptionRow
from hub.store.uow import session_factory


def subscription(row: SubscriptionRow) -> Subscription:
    return Subscription(
        id=row.id,
        name=row.name,
        kind=row.kind,
        url=row.url,
        domains=tuple(row.domains),
        source=row.source,
        echo=row.echo,
        personal=row.personal,
        status=row.status,
        status_reason=row.status_reason,
        created_at=row.created_at,
    )


class SqlAdministration:
    """``known_domains`` are the configuration's: a source, key or subscription naming
    another domain is refused with the name it was given."""

    def __init__(self, engine: Engine, known_domains: Collection[str]) -> None:
        self._factory = session_factory(engine)
        self._domains = set(known_domains)

    def __enter__(self) -> SqlAdministration:
        self.session: Session = self._factory()
        return self

    def __exit__(self, *args: object) -> None:
        self.session.rollback()
        self.session.close()

    def commit(self) -> None:
        self.session.commit()

    def add_source(
        self, name: str, domains: Sequence[str], kind: str | None, rank: int | None, actor: str
    ) -> str:
        return access.add_source(
            self.session, name, list(domains), kind, rank, self._domains, actor=actor
        )

    def rotate_source_key(self, name: str, actor: str) -> str:
        return access.rotate_key(self.session, name, actor=actor)

    def has_source(self, name: str) -> bool:
        return self.session.get(SourceSystem, name) is not None

    def issue_source_key(self, name: str, actor: str) -> str:
        return access.create_key(self.session, name, "source", source=name, actor=actor)

    def create_key(
        self, name: str, role: str, read_domains: Sequence[str] | None, personal: bool, actor: str
    ) -> str:
        return access.create_key(
            self.session,
            name,
            role,
            actor=actor,
            read_domains=read_domains,
            personal=personal,
            known_domains=self._domains,
        )

    def revoke_keys(self, name: str, actor: str) -> int:
        return access.revoke_keys(self.session, name, actor=actor)

    def subscription_names(self) -> set[str]:
        return set(self.session.scalars(select(SubscriptionRow.name)))

    def create_subscription(self, fields: Mapping[str, Any], actor: str) -> SubscriptionSecret:
        row, secret = deliveries.create_subscription(
            self.session, **fields, known_domains=self._domains, actor=actor
        )
        return SubscriptionSecret(id=row.id, name=row.name, secret=secret)

    def set_subscription_status(self, ref: str, status: str, actor: str) -> Subscription:
        row = deliveries.set_status(self.session, ref, status, None, actor)
        self.session.flush()
        return subscription(row)

    def delete_subscription(self, ref: str, actor: str) -> None:
        deliveries.delete_subscription(self.session, ref, actor)

    def rotate_subscription_secret(
        self, ref: str, overlap_seconds: float, actor: str
    ) -> SubscriptionSecret:
        row, secret = deliveries.rotate_secret(self.session, ref, overlap_seconds, actor)
        return SubscriptionSecret(row.id, row.name, secret, row.previous_secret_until)

    def replay_deliveries(
        self, ref: str, event_id: str | None, dead: bool, after: int | None, actor: str
    ) -> int:
        return deliveries.replay(
            self.session, ref, event_id=event_id, dead=dead, after=after, actor=actor
        )

    def add_steward(self, name: str, role: str, password_hash: str, actor: str) -> None:
        stewards.add_steward(self.session, name, role, password_hash, actor=actor)

    def set_steward_disabled(self, name: str, disabled: bool, actor: str) -> None:
        stewards.set_disabled(self.session, name, disabled, actor=actor)

    def has_steward(self, name: str) -> bool:
        return stewards.find(self.session, name) is not None

    def set_steward_password(self, name: str, password_hash: str, actor: str) -> None:
        stewards.set_password(self.session, name, password_hash, actor=actor)

    def record_login(
        self, name: str, ok: bool, at: datetime, lock_for: Callable[[int], int]
    ) -> LoggedIn | None:
        row = stewards.record_login(self.session, name, ok, at, lock_for)
        return LoggedIn(row.id, row.name, row.role, row.session_generation) if row else None

    def end_steward_sessions(self, steward_id: int) -> None:
        stewards.end_sessions(self.session, steward_id)
