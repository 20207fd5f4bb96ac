"""A message on ``concord.changes`` that is not a change is never lost: it goes to the dead
letters with its bytes and the reason before its offset is committed, like an HTTP change
that cannot be applied, and the changes around it still apply."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from hub import kafka_changes
from hub.domain.model import Change
from hub.store.tables import DeadLetter, InboxRow
from hub.store.uow import admin_session
from tests.integration.test_scale_out import ScaleOut, scale_out
from tests.kafka import produce

__all__ = ["scale_out"]  # the fixture, imported to be found

pytestmark = pytest.mark.postgres


def test_an_unreadable_message_goes_to_the_dead_letters_with_its_bytes(
    scale_out: ScaleOut,
) -> None:
    so = scale_out
    topic = so.env["CONCORD_KAFKA_CHANGES_TOPIC"]
    good = Change(
        "crm", "client", "C-1", "upsert", "e-1", {"name": "Acme"}, datetime(2026, 1, 1, tzinfo=UTC)
    )
    produce(
        so.broker.bootstrap,
        topic,
        [
            (b"k-1", b'{"op": "merge", "secret": "not a change"}'),
            (kafka_changes.key_of(good), kafka_changes.encode(good)),
        ],
    )
    so.start_worker()
    applied = select(func.count()).select_from(InboxRow).where(InboxRow.status == "applied")
    dead = select(func.count()).select_from(DeadLetter)
    so.wait(lambda: so.count(applied) == 1 and so.count(dead) == 1)
    with admin_session(so.hub.engine) as s:
        [letter] = s.scalars(select(DeadLetter)).all()
        assert letter.source == f"kafka:{topic}"
        assert "field op" in letter.reason
        assert letter.payload["value"] == '{"op": "merge", "secret": "not a change"}'
        assert letter.payload["key"] == "k-1"
        assert letter.payload["topic"] == topic
        assert isinstance(letter.payload["offset"], int)
