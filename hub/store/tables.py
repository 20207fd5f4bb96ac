"""The hub's tables, as SQLAlchemy 2 typed models.

One schema serves SQLite (embedded) and PostgreSQL (scale-out); JSON columns become JSONB on
PostgreSQL. The naming convention makes Alembic name constraints the same way every time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from hub.store.jsonref import json_text

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Json = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants a 64-bit identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always read back timezone-aware.

    SQLite keeps no zone, so without this a change's ``changed_at`` (aware) could not be
    compared with the one held (naive) when deciding which is newer.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Stamp = UtcDateTime()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class SourceSystem(Base):
    __tablename__ = "source_system"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    rank: Mapped[int] = mapped_column(Integer, default=0)
    domains: Mapped[list[str]] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(Stamp)


class ApiKey(Base):
    """A machine credential. Only a hash of the key is kept: a leaked table leaks no key."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    role: Mapped[str] = mapped_column(String(20))  # source | subscriber | admin | steward
    source: Mapped[str | None] = mapped_column(String(100))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Read scope: the domains the key reads (None: a subscriber's every domain, a source's own
    # domains) and whether it reads personal fields (docs/architecture.md, "Read scopes").
    read_domains: Mapped[list[str] | None] = mapped_column(Json)
    personal: Mapped[bool] = mapped_column(Boolean, default=False)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(Stamp)
    revoked_at: Mapped[datetime | None] = mapped_column(Stamp)


class ApplierSeen(Base):
    """Appliers that claimed from the inbox lately: how many share it decides how many
    partitions each takes in a batch (hub/store/inbox_partitions.py)."""

    __tablename__ = "applier_seen"

    applier_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(Stamp)
    # the server process of its last claim's connection: gone when the applier is
    backend_pid: Mapped[int] = mapped_column(Integer)


class InboxRow(Base):
    """A change accepted from a source, durable before it is acknowledged."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("event_id", "source"),
        # only the rows waiting to be applied: see migration 0022 for why not (status, id)
        Index(
            "ix_inbox_pending",
            "id",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(100))
    event_id: Mapped[str] = mapped_column(String(200))
    domain: Mapped[str] = mapped_column(String(50))
    source_key: Mapped[str] = mapped_column(String(500))
    op: Mapped[str] = mapped_column(String(10))
    sequence: Mapped[int | None] = mapped_column(BigInteger)
    changed_at: Mapped[datetime] = mapped_column(Stamp)
    attributes: Mapped[dict[str, Any]] = mapped_column(Json)
    run_id: Mapped[str | None] = mapped_column(String(64))
    correlation_id: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(Stamp)
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending|applied|stale|dead
    applied_at: Mapped[datetime | None] = mapped_column(Stamp)
    # a hash of (source, domain, key): appliers split the work by it (inbox_partitions.py)
    partition: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")


class CdcSlot(Base):
    """Where a logical decoding connector stands in one source database.

    The slot in the source database remembers what was confirmed; this row remembers what the
    slot cannot: whether the initial snapshot at the slot's creation point was finished. A
    connector that died mid-snapshot finds ``snapshot_done_at`` empty and starts over.
    """

    __tablename__ = "cdc_slot"

    source: Mapped[str] = mapped_column(String(100), primary_key=True)
    slot: Mapped[str] = mapped_column(String(100), primary_key=True)
    snapshot_lsn: Mapped[int | None] = mapped_column(BigInteger)
    snapshot_rows: Mapped[int] = mapped_column(BigInteger, default=0)
    snapshot_done_at: Mapped[datetime | None] = mapped_column(Stamp)
    confirmed_lsn: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(Stamp)


class SourceRecordRow(Base):
    """The latest image of one source record, and its link (xref) to a golden record."""

    __tablename__ = "source_record"
    __table_args__ = (
        # The key leads: lookups are "key IN (batch)" for one source and domain, and a fresh
        # table's missing statistics must not lead the planner to scan a whole source.
        UniqueConstraint("source_key", "source", "domain"),
        Index("ix_source_record_golden", "golden_id"),
        Index("ix_source_record_run", "run_id"),
        # The steward queue filtered by source: its count starts from the source's records.
        Index("ix_source_record_source", "source", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(100))
    domain: Mapped[str] = mapped_column(String(50))
    source_key: Mapped[str] = mapped_column(String(500))
    golden_id: Mapped[str | None] = mapped_column(String(36))
    attributes: Mapped[dict[str, Any]] = mapped_column(Json)
    sequence: Mapped[int | None] = mapped_column(BigInteger)
    changed_at: Mapped[datetime] = mapped_column(Stamp)
    digest: Mapped[str] = mapped_column(String(32))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    link_rule: Mapped[str] = mapped_column(String(100), default="")
    run_id: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(Stamp)


class GoldenRecordRow(Base):
    __tablename__ = "golden_record"
    __table_args__ = (Index("ix_golden_record_search", "domain", "search_name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    domain: Mapped[str] = mapped_column(String(50))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))  # active | retired | merged
    attributes: Mapped[dict[str, Any]] = mapped_column(Json)
    provenance: Mapped[dict[str, Any]] = mapped_column(Json)
    references: Mapped[dict[str, Any]] = mapped_column(Json)
    xref: Mapped[list[dict[str, str]]] = mapped_column(Json, default=list)
    overrides: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    search_name: Mapped[str] = mapped_column(String(500), default="")
    merged_into: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(Stamp)
    updated_at: Mapped[datetime] = mapped_column(Stamp)
    # the matcher's compared values of its views, stamped (hub/services/compared.py)
    compared: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class GoldenVersionRow(Base):
    """Every version of every golden record: attributes and lineage as they were."""

    __tablename__ = "golden_version"

    golden_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(12))
    attributes: Mapped[dict[str, Any]] = mapped_column(Json)
    provenance: Mapped[dict[str, Any]] = mapped_column(Json)
    references: Mapped[dict[str, Any]] = mapped_column(Json)
    xref: Mapped[list[dict[str, str]]] = mapped_column(Json)
    changed_fields: Mapped[list[str]] = mapped_column(Json)
    cause: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(Stamp)


class BlockingKeyRow(Base):
    """Match keys of golden records, so one record finds its candidates without a scan."""

    __tablename__ = "blocking_key"
    __table_args__ = (
        Index("ix_blocking_key_lookup", "key", "domain", "golden_id", unique=True),
        Index("ix_blocking_key_golden", "golden_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    domain: Mapped[str] = mapped_column(String(50))
    key: Mapped[str] = mapped_column(String(600))
    golden_id: Mapped[str] = mapped_column(String(36))


class KeyChangeRow(Base):
    """Which match keys a transaction changed: appliers read it to drop what they cached of
    those keys (hub/store/key_log.py). On PostgreSQL ``writer`` is the writing transaction's
    id, so a reader can tell a committed change from one still running."""

    __tablename__ = "key_change"
    # SQLite: ids never handed out again once pruned away (its reader's horizon is an id)
    __table_args__ = (Index("ix_key_change_writer", "writer"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    writer: Mapped[int | None] = mapped_column(BigInteger)
    domain: Mapped[str] = mapped_column(String(50))
    keys: Mapped[list[str]] = mapped_column(Json)


class KeyChangeMark(Base):
    """Where the key-change log stood at a time: changes older than a mark that is itself
    older than the log's retention are deleted (hub/store/key_log.py)."""

    __tablename__ = "key_change_mark"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(Stamp)
    horizon: Mapped[int] = mapped_column(BigInteger)


class PendingReference(Base):
    """A reference to a source record the hub has not seen yet; resolved when it arrives."""

    __tablename__ = "pending_reference"
    __table_args__ = (
        Index("ix_pending_reference_target", "target_key", "source", "target_domain"),
        UniqueConstraint("golden_id", "source", "source_key", "name"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    golden_id: Mapped[str] = mapped_column(String(36))
    source: Mapped[str] = mapped_column(String(100))
    source_key: Mapped[str] = mapped_column(String(500))
    name: Mapped[str] = mapped_column(String(100))
    target_domain: Mapped[str] = mapped_column(String(50))
    target_key: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(Stamp)


class MatchCandidate(Base):
    """A proposed link a steward decides: scores per field, status, who decided and why."""

    __tablename__ = "match_candidate"
    __table_args__ = (
        Index("ix_match_candidate_queue", "status", "domain", "probability"),
        Index("ix_match_candidate_run", "run_id", "status"),
        # The steward queue across all domains: pending, by falling probability, then id.
        Index("ix_match_candidate_order", "status", "probability", "id"),
        Index("ix_match_candidate_record", "source_record_id", "status", "domain"),
        # The pending candidates of a golden record that was merged away or retired.
        Index("ix_match_candidate_golden", "golden_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    domain: Mapped[str] = mapped_column(String(50))
    source_record_id: Mapped[int] = mapped_column(BigInteger)
    golden_id: Mapped[str] = mapped_column(String(36))
    probability: Mapped[float]
    weights: Mapped[dict[str, Any]] = mapped_column(Json)
    # why a weight was discounted or a tier lowered, by comparison label or "tier"
    notes: Mapped[dict[str, Any] | None] = mapped_column(Json)
    rule: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(12), default="pending")
    decided_by: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Stamp)
    decided_at: Mapped[datetime | None] = mapped_column(Stamp)
    run_id: Mapped[str | None] = mapped_column(String(64))  # the onboarding run that raised it
    # One snapshot of the evidence: the golden record's version the weights were scored
    # against, and the level per field from that same comparison (docs/architecture.md,
    # "Linking"). A golden record at another version means the evidence is stale.
    golden_version: Mapped[int | None] = mapped_column(Integer)
    levels: Mapped[dict[str, Any] | None] = mapped_column(Json)


class OutboxRow(Base):
    """A golden change waiting to go out; ``seq`` is its place in commit order (the feed)."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_domain_seq", "domain", "seq"),)

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    domain: Mapped[str] = mapped_column(String(50))
    golden_id: Mapped[str] = mapped_column(String(36))
    version: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    # The requests whose changes made this version (comma-separated), to follow in the logs.
    correlation_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(Stamp)


class DeadLetter(Base):
    """A change valid on the wire that could not be applied, with why; replayable."""

    __tablename__ = "dead_letter"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    inbox_id: Mapped[int] = mapped_column(BigInteger, index=True)
    source: Mapped[str] = mapped_column(String(100))
    event_id: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Stamp)
    replayed_at: Mapped[datetime | None] = mapped_column(Stamp)


class AuditLog(Base):
    """Append-only, hash-chained record of every admin and steward action."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(Stamp)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(100))
    detail: Mapped[dict[str, Any]] = mapped_column(Json)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditGolden(Base):
    """Which audit entries name a record by its id (a golden id, also a split's new one):
    the golden record page's trail reads its entries by index instead of scanning the
    entries' text. Written with the entry, in its transaction."""

    __tablename__ = "audit_golden"

    golden_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    audit_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class SubscriptionRow(Base):
    """A downstream system that receives golden-record changes (issue 5).

    ``cursor`` is the outbox sequence number fanned out into deliveries so far; outbox numbers
    are commit-ordered, so a cursor never skips a row. The signing secret is kept as-is
    because it must sign every request (a hash could not); the previous one signs too until
    ``previous_secret_until``, so a receiver can switch secrets without losing a request.
    """

    __tablename__ = "subscription"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # webhook | kafka
    url: Mapped[str] = mapped_column(String(2000))
    domains: Mapped[list[str]] = mapped_column(Json)
    source: Mapped[str | None] = mapped_column(String(100))
    echo: Mapped[bool] = mapped_column(Boolean, default=False)
    personal: Mapped[bool] = mapped_column(Boolean, default=False)  # sends personal fields
    status: Mapped[str] = mapped_column(String(12), default="active")  # active|paused|disabled
    status_reason: Mapped[str | None] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(String(100))
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_until: Mapped[datetime | None] = mapped_column(Stamp)
    cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    failed_attempts: Mapped[int] = mapped_column(BigInteger, default=0)
    last_success_at: Mapped[datetime | None] = mapped_column(Stamp)
    created_at: Mapped[datetime] = mapped_column(Stamp)
    updated_at: Mapped[datetime] = mapped_column(Stamp)


class DeliveryRow(Base):
    """One event for one subscription: its state survives a crash of the worker.

    ``status``: pending (due at ``next_attempt_at``), delivered, or dead (after the last try,
    with the last response kept). A pending delivery waits while an earlier one of the same
    golden record for the same subscription is not delivered: order per record.
    """

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("subscription_id", "seq"),
        Index("ix_delivery_due", "status", "next_attempt_at"),
        Index("ix_delivery_record", "subscription_id", "golden_id", "seq"),
        # a subscription's pending deliveries in outbox order (migration 0017)
        Index("ix_delivery_subscription_status_seq", "subscription_id", "status", "seq"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(String(36))
    seq: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[str] = mapped_column(String(64))
    golden_id: Mapped[str] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # replays that reset it: an outcome read before a replay is not written (migration 0025)
    replays: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(Stamp)
    last_attempt_at: Mapped[datetime | None] = mapped_column(Stamp)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_response: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Stamp)
    delivered_at: Mapped[datetime | None] = mapped_column(Stamp)


# Time-entry validation loads a batch's assignments by (golden resource, golden project).
Index(
    "ix_golden_record_assignment_pair",
    json_text(GoldenRecordRow.__table__.c.references, "resource"),
    json_text(GoldenRecordRow.__table__.c.references, "project"),
)


class OnboardingRun(Base):
    """One bulk load of an acquired firm's file (issue 7): what it matched, and its fate.

    ``status``: dry_run (nothing loaded), committed (its rows went through the inbox carrying
    this id) or rolled_back. ``report`` is the JSON report the HTML one is drawn from.
    """

    __tablename__ = "onboarding_run"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(100))
    domain: Mapped[str] = mapped_column(String(50))
    file_name: Mapped[str] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(12))
    counts: Mapped[dict[str, Any]] = mapped_column(Json)
    report: Mapped[dict[str, Any]] = mapped_column(Json)
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(Stamp)
    updated_at: Mapped[datetime] = mapped_column(Stamp)


class StewardRow(Base):
    """A person who logs in to the steward page. Only an argon2 hash of the password is kept.

    Failed logins are counted on the row (not in process memory) so that every API process
    throttles the same account the same way, and a restart does not reset the count.
    """

    __tablename__ = "steward"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))  # viewer | steward | admin
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(Stamp)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(Stamp)
    last_login_at: Mapped[datetime | None] = mapped_column(Stamp)
    # In every session cookie; logout advances it, so copies of the cookie stop working.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ProjectShell(Base):
    """The project shell the hub made for a contracted opportunity: one per opportunity, so a
    stage that goes back and forth makes one shell (docs/architecture.md, "Project setup")."""

    __tablename__ = "project_shell"

    opportunity_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    code: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))  # created | cancelled
    client_id: Mapped[str | None] = mapped_column(String(36))
    # The setup cycle, for its KPI: the deal's contracted version committed, the shell was
    # decided (created_at), published as a golden project, joined by PSA's or ERP's project.
    contracted_at: Mapped[datetime | None] = mapped_column(Stamp)
    published_at: Mapped[datetime | None] = mapped_column(Stamp)
    linked_at: Mapped[datetime | None] = mapped_column(Stamp)
    created_at: Mapped[datetime] = mapped_column(Stamp)
    updated_at: Mapped[datetime] = mapped_column(Stamp)


class SetupException(Base):
    """Why a contracted opportunity has no shell yet, for finance operations; reopened or
    resolved by itself when the opportunity or its client changes."""

    __tablename__ = "setup_exception"
    __table_args__ = (Index("ix_setup_exception_client", "client_id", "status"),)

    opportunity_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    client_id: Mapped[str | None] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(20))  # open | deferred | resolved | overridden
    problems: Mapped[list[dict[str, Any]]] = mapped_column(Json)
    decided_by: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Stamp)
    updated_at: Mapped[datetime] = mapped_column(Stamp)


class SetupCursor(Base):
    """How far project setup has read the outbox; its row lock lets one process at a time
    advance it."""

    __tablename__ = "setup_cursor"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)


class ProjectTime(Base):
    """Time entries a timekeeping system was told it may post, per golden project: a lost
    deal's shell is cancelled only while none were (issue 17, must-have 3)."""

    __tablename__ = "project_time"

    golden_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    entries: Mapped[int] = mapped_column(BigInteger)
    first_at: Mapped[datetime] = mapped_column(Stamp)
    last_at: Mapped[datetime] = mapped_column(Stamp)


class DataQuality(Base):
    """A golden record's open data-quality issues (a project's financial dimensions that do
    not exist, are closed or disagree); no row when it has none."""

    __tablename__ = "data_quality"

    golden_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    domain: Mapped[str] = mapped_column(String(50))
    issues: Mapped[list[dict[str, Any]]] = mapped_column(Json)
    updated_at: Mapped[datetime] = mapped_column(Stamp)


class CandidateClaim(Base):
    """A steward's hold on a pending match candidate, so two stewards do not decide the same
    one. One row per candidate (the key), so a candidate is never held twice; a claim past
    ``expires_at`` no longer holds and may be taken over."""

    __tablename__ = "candidate_claim"
    __table_args__ = (Index("ix_candidate_claim_steward", "steward", "expires_at"),)

    candidate_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    steward: Mapped[str] = mapped_column(String(100))
    claimed_at: Mapped[datetime] = mapped_column(Stamp)
    expires_at: Mapped[datetime] = mapped_column(Stamp)


class StewardComment(Base):
    """A steward's note on a match candidate or a golden record (``target`` is the candidate's
    id or the golden record's id); never edited, so the thread is its own history."""

    __tablename__ = "steward_comment"
    __table_args__ = (Index("ix_steward_comment_target", "kind", "target", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(12))  # candidate | golden
    target: Mapped[str] = mapped_column(String(64))
    author: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Stamp)
