"""Source systems, API keys and the audit log.

Keys are random (256 bits), so a SHA-256 of the key is enough to store: there is nothing to
brute-force, and looking a key up stays one indexed query on every request.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import re
import secrets
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, text, update
from sqlalchemy.orm import Session

from hub.domain.access import Principal
from hub.domain.errors import ConcordError, RecordNotFound, Unauthorized
from hub.domain.spec import HUB_SOURCE, SOURCE_KINDS
from hub.store.tables import ApiKey, AuditGolden, AuditLog, SourceSystem

GENESIS = "0" * 64


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return "ck_" + secrets.token_urlsafe(32)


def infer_kind(name: str) -> str | None:
    """``crm`` is a crm; ``northwind-crm`` is a crm too (an acquired firm's)."""
    for kind in SOURCE_KINDS:
        if name == kind or name.endswith("-" + kind) or name.startswith(kind + "-"):
            return kind
    return None


def _entry_hash(prev: str, at: datetime, actor: str, action: str, detail: Any) -> str:
    body = json.dumps([prev, at.isoformat(), actor, action, detail], sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def audit(session: Session, actor: str, action: str, detail: dict[str, Any]) -> None:
    """Append to the hash chain: each entry's hash covers the previous entry's hash.

    The chain is read and extended under a lock (PostgreSQL) so two admins acting at once
    cannot both extend the same entry and fork the chain.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(3, 0)"))
    last = session.execute(select(AuditLog.hash).order_by(AuditLog.id.desc()).limit(1)).scalar()
    prev = last or GENESIS
    at = datetime.now(UTC).replace(microsecond=0)
    entry = AuditLog(
        at=at,
        actor=actor,
        action=action,
        detail=detail,
        prev_hash=prev,
        hash=_entry_hash(prev, at, actor, action, detail),
    )
    session.add(entry)
    session.flush()
    names = sorted(golden_ids_in(detail))
    if names:  # the trail's index, in the entry's transaction
        session.execute(
            insert(AuditGolden), [{"golden_id": g, "audit_id": entry.id} for g in names]
        )


_GOLDEN_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def golden_ids_in(value: Any) -> set[str]:
    """Every id-shaped text in an audit entry's detail, nested or inside a sentence: the keys
    of the trail's index (``audit_golden``). An id that names something else (a subscription)
    is indexed too and simply never asked for by a golden record."""
    if isinstance(value, str):
        return set(_GOLDEN_ID.findall(value))
    if isinstance(value, dict):
        return {i for v in value.values() for i in golden_ids_in(v)}
    if isinstance(value, list | tuple):
        return {i for v in value for i in golden_ids_in(v)}
    return set()


def verify_audit(session: Session) -> tuple[int, AuditLog | None, str]:
    """Walk the chain: (entries checked, first broken entry or None, what is wrong with it)."""
    prev = GENESIS
    count = 0
    for entry in session.scalars(select(AuditLog).order_by(AuditLog.id)):
        if entry.prev_hash != prev:
            return count, entry, "its prev_hash is not the hash of the entry before it"
        if entry.hash != _entry_hash(prev, entry.at, entry.actor, entry.action, entry.detail):
            return count, entry, "its content does not match its hash"
        prev = entry.hash
        count += 1
    return count, None, ""


def rotate_key(session: Session, name: str, actor: str = "cli") -> str:
    """A new key for a source; the old ones stop working at once."""
    src = session.get(SourceSystem, name)
    if src is None:
        raise RecordNotFound(f"no source system {name}")
    with contextlib.suppress(RecordNotFound):  # all revoked already: this is the first new one
        revoke_keys(session, name, actor=actor)
    key = create_key(session, name, "source", source=name, actor=actor)
    audit(session, actor, "source.rotate-key", {"name": name})
    return key


def add_source(
    session: Session,
    name: str,
    domains: list[str],
    kind: str | None,
    rank: int | None,
    known_domains: set[str],
    actor: str = "cli",
) -> str:
    """Register a source system and give it its first key (returned, never stored)."""
    if name == HUB_SOURCE:
        raise ConcordError(f"source {name}: the hub's own name (its project shells); pick another")
    for d in domains:  # first: a misspelt domain is the likelier mistake, and says more
        if d not in known_domains:
            close = difflib.get_close_matches(d, sorted(known_domains), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConcordError(
                f"source {name}: unknown domain {d!r}{hint}; "
                f"domains are {', '.join(sorted(known_domains))}"
            )
    kinds = ", ".join(SOURCE_KINDS)
    if kind is not None and kind not in SOURCE_KINDS:
        raise ConcordError(f"source {name}: unknown kind {kind!r}; kinds are {kinds}")
    kind = kind or infer_kind(name)
    if kind is None:
        raise ConcordError(
            f"source {name}: its name does not say its kind; give it with --kind ({kinds})"
        )
    if session.get(SourceSystem, name) is not None:
        raise ConcordError(f"source {name} exists already")
    if rank is None:
        same = session.scalars(select(SourceSystem.rank).where(SourceSystem.kind == kind)).all()
        rank = (max(same) + 1) if same else 0
    session.add(
        SourceSystem(name=name, kind=kind, rank=rank, domains=domains, created_at=datetime.now(UTC))
    )
    key = create_key(session, name, "source", source=name, actor=actor)
    audit(
        session, actor, "source.add", {"name": name, "kind": kind, "rank": rank, "domains": domains}
    )
    return key


def create_key(
    session: Session,
    name: str,
    role: str,
    source: str | None = None,
    actor: str = "cli",
    *,
    read_domains: Sequence[str] | None = None,
    personal: bool = False,
    known_domains: Collection[str] | None = None,
) -> str:
    """A new key (returned, never stored). ``read_domains`` and ``personal`` scope what a
    subscriber or source key reads; steward and admin keys read everything."""
    if read_domains is not None:
        if role in ("steward", "admin"):
            raise ConcordError(f"a {role} key reads every domain; give no domains")
        if not read_domains:
            raise ConcordError("domains: name at least one domain")
        unknown = [d for d in read_domains if known_domains is not None and d not in known_domains]
        if unknown:
            raise ConcordError(f"unknown domain {unknown[0]!r}")
    key = new_key()
    session.add(
        ApiKey(
            name=name,
            role=role,
            source=source,
            key_hash=hash_key(key),
            prefix=key[:10],
            created_at=datetime.now(UTC),
            read_domains=list(read_domains) if read_domains is not None else None,
            personal=personal or role in ("steward", "admin"),
        )
    )
    detail: dict[str, Any] = {"name": name, "role": role, "prefix": key[:10]}
    if read_domains is not None or personal:
        detail |= {"read_domains": read_domains, "personal": personal}
    audit(session, actor, "key.create", detail)
    return key


def revoke_keys(session: Session, name: str, actor: str = "cli") -> int:
    now = datetime.now(UTC)
    result = session.execute(
        update(ApiKey)
        .where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    count = int(result.rowcount)  # type: ignore[attr-defined]
    if count == 0:
        raise RecordNotFound(f"no active key named {name}")
    audit(session, actor, "key.revoke", {"name": name, "count": count})
    return count


def authenticate(session: Session, key: str) -> Principal:
    row = session.execute(
        select(ApiKey).where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None))
    ).scalar_one_or_none()
    if row is None:
        raise Unauthorized("unknown or revoked API key")
    domains: tuple[str, ...] = ()
    if row.role == "source" and row.source:
        src = session.get(SourceSystem, row.source)
        domains = tuple(src.domains) if src else ()
    return Principal(
        name=row.name,
        role=row.role,
        source=row.source,
        domains=domains,
        read_domains=_read_scope(row, domains),
        personal=row.personal or row.role in ("steward", "admin"),
    )


def _read_scope(row: ApiKey, own: tuple[str, ...]) -> frozenset[str] | None:
    """None reads every domain: stewards and admins, and subscribers not given domains (as
    before scopes existed). A source key reads its own domains unless granted others."""
    if row.role in ("steward", "admin"):
        return None
    if row.read_domains is not None:
        return frozenset(row.read_domains)
    return frozenset(own) if row.role == "source" else None


def list_sources(session: Session) -> list[SourceSystem]:
    return list(
        session.scalars(select(SourceSystem).order_by(SourceSystem.kind, SourceSystem.rank))
    )
