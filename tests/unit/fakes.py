"""In-memory fakes of the storage ports, for the unit tier (no database, no network).

``FakeDatabase`` is the committed state that outlives a transaction; ``FakeUnitOfWork`` is one
transaction over it. The first read or write of a unit of work takes the database's writer lock
and a deep copy of the committed state (its working copy); ``commit`` makes the working copy the
committed state and ``rollback`` or leaving without commit throws it away, both giving the lock
back, so a test sees exactly what a real transaction would keep, and two units of work in two
threads serialise as on SQLite. ``tests/contract`` runs the same tests against these fakes and
the SQL store.

The repositories follow ``hub/store/repositories.py`` row for row: the same unique constraints
(a violation raises ``FakeIntegrityError``), the same ordering, and copies in and out so that
mutating a loaded object changes nothing until it is saved, as with rows read from SQL.

Examples:
    >>> db = FakeDatabase()
    >>> bus = fake_bus(db)
    >>> accept(bus, change("crm", "client", "A-17", 1, name="Acme Ltd"))
    Accepted(accepted=1, duplicates=0)
    >>> bus.drain().applied
    1
"""

from __future__ import annotations

import copy
import functools
import threading
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.bootstrap import deterministic_matcher
from hub.config import HubConfig, load_config
from hub.domain.commands import AcceptChanges
from hub.domain.model import (
    CandidateGolden,
    CandidateMember,
    Change,
    GoldenRecord,
    Op,
    SourceRecord,
    UnreadableMessage,
    derive_event_id,
)
from hub.domain.spec import SourceSpec
from hub.services.apply import Applier
from hub.services.bus import MessageBus
from hub.services.handlers import Accepted
from hub.services.key_ports import KeyChanges, KeyDiff
from hub.services.ports import Matcher, RecordKey, UnitOfWork

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

DEFAULT_SOURCES: tuple[SourceSpec, ...] = (
    SourceSpec("crm", "crm", 0),
    SourceSpec("northwind-crm", "crm", 1),
    SourceSpec("erp", "erp", 0),
    SourceSpec("psa", "psa", 0),
    SourceSpec("hr", "hr", 0),
    SourceSpec("time", "time", 0),
)


class FakeIntegrityError(Exception):
    """A unique constraint the SQL schema declares was violated."""


class FakeLockTimeout(Exception):
    """Another unit of work held the database too long (SQLite's "database is locked")."""


LOCK_TIMEOUT = 5.0
"""Seconds a unit of work waits for another's transaction to end before giving up."""


class FakeTransientError(Exception):
    """Stands for a deadlock or a lost connection: says nothing about the change."""


@dataclass
class FakeState:
    """Every table the hub's unit of work writes, as plain Python values."""

    inbox: dict[int, dict[str, Any]] = field(default_factory=dict)
    records: dict[int, SourceRecord] = field(default_factory=dict)
    golden: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    keys: list[dict[str, Any]] = field(default_factory=list)
    # the key-change log: (id, domain, keys); the writer lock makes ids follow commit order
    key_log: list[tuple[int, str, list[str]]] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    candidates: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    audit: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)


class FakeDatabase:
    """The committed state, shared by every unit of work of one test.

    Identity counters live outside the transactional state, like PostgreSQL sequences: a
    rolled-back id is never handed out again, and outbox ``seq`` only ever increases.

    One transaction writes at a time, as on SQLite (``BEGIN IMMEDIATE``): a unit of work takes
    ``writer`` at its first read or write and gives it back at commit or rollback, so a second
    unit of work waits and then sees the first one's commit instead of overwriting it.
    """

    def __init__(self, sources: Iterable[SourceSpec] = DEFAULT_SOURCES) -> None:
        self.state = FakeState()
        self.source_specs = {s.name: s for s in sources}
        self._counters: dict[str, int] = {}
        self.commits = 0
        self.locks: list[tuple[str, str]] = []
        self.writer = threading.Lock()

    @property
    def audit(self) -> list[tuple[str, str, dict[str, Any]]]:
        """The committed audit log (written in the transaction, like the SQL audit table)."""
        return self.state.audit

    def next_id(self, table: str) -> int:
        self._counters[table] = self._counters.get(table, 0) + 1
        return self._counters[table]

    # -- reading the committed state, for assertions -----------------------------------------

    def record(self, source: str, domain: str, key: str) -> SourceRecord:
        for r in self.state.records.values():
            if (r.source, r.domain, r.key) == (source, domain, key):
                return copy.deepcopy(r)
        raise KeyError((source, domain, key))

    def golden_of(self, source: str, domain: str, key: str) -> dict[str, Any]:
        gid = self.record(source, domain, key).golden_id
        assert gid is not None, f"{source}/{domain}/{key} is not linked"
        return self.state.golden[gid]

    def goldens(self, domain: str) -> list[dict[str, Any]]:
        return [g for g in self.state.golden.values() if g["domain"] == domain]

    def versions_of(self, golden_id: str) -> list[dict[str, Any]]:
        return [v for (gid, _), v in sorted(self.state.versions.items()) if gid == golden_id]

    def events(
        self, type_: str | None = None, golden_id: str | None = None
    ) -> list[dict[str, Any]]:
        return [
            row["payload"]
            for row in self.state.outbox
            if (type_ is None or row["type"] == type_)
            and (golden_id is None or row["golden_id"] == golden_id)
        ]

    def inbox_status(self) -> dict[str, str]:
        """Inbox status by event id."""
        return {row["event_id"]: row["status"] for row in self.state.inbox.values()}


class FakeInbox:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow
        self.dead_at_claim = 0  # every fake row reads back
        self.busy_at_claim = 0  # one applier: nobody else holds a partition

    def add(self, changes: Sequence[Change], received_at: datetime) -> int:
        """Store changes; a repeated (source, event_id) is skipped. Returns how many were new."""
        rows = self._uow.work.inbox
        seen = {(r["source"], r["event_id"]) for r in rows.values()}
        new = 0
        for c in changes:
            if (c.source, c.event_id) in seen:
                continue
            seen.add((c.source, c.event_id))
            rows[self._uow.db.next_id("inbox")] = {
                "change": copy.deepcopy(c),
                "source": c.source,
                "event_id": c.event_id,
                "received_at": received_at,
                "status": "pending",
                "applied_at": None,
            }
            new += 1
        return new

    def claim(self, limit: int, applier: str = "") -> list[tuple[int, Change]]:
        rows = self._uow.work.inbox
        pending = [i for i in sorted(rows) if rows[i]["status"] == "pending"][:limit]
        return [(i, copy.deepcopy(rows[i]["change"])) for i in pending]

    def mark(self, statuses: Mapping[int, str], at: datetime) -> None:
        for inbox_id, status in statuses.items():
            row = self._uow.work.inbox.get(inbox_id)
            if row is not None:  # an UPDATE of a missing row touches nothing
                row["status"], row["applied_at"] = status, at


class FakeRecords:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    def load(self, keys: Iterable[RecordKey]) -> dict[RecordKey, SourceRecord]:
        wanted = set(keys)
        return {
            (r.source, r.domain, r.key): copy.deepcopy(r)
            for r in self._uow.work.records.values()
            if (r.source, r.domain, r.key) in wanted
        }

    def linked_to(self, golden_ids: Iterable[str]) -> dict[str, list[SourceRecord]]:
        wanted = set(golden_ids)
        out: dict[str, list[SourceRecord]] = {}
        for rid in sorted(self._uow.work.records):
            r = self._uow.work.records[rid]
            if r.golden_id in wanted:
                out.setdefault(r.golden_id, []).append(copy.deepcopy(r))
        return out

    def live(self, golden_ids: Iterable[str]) -> dict[str, list[CandidateMember]]:
        return {
            gid: [
                CandidateMember(r.source, r.domain, r.key, r.digest, r.attributes, gid)
                for r in rs
                if not r.deleted
            ]
            for gid, rs in self.linked_to(golden_ids).items()
            if any(not r.deleted for r in rs)
        }

    def members(self, golden_ids: Iterable[str]) -> dict[str, tuple[tuple[str, ...], ...]]:
        return {
            gid: tuple((r.source, r.domain, r.key, r.digest) for r in rs if not r.deleted)
            for gid, rs in self.linked_to(golden_ids).items()
            if any(not r.deleted for r in rs)
        }

    def save(self, records: Sequence[SourceRecord], at: datetime) -> None:
        """Insert those not yet stored (a new id is given to the stored row only, as COPY
        does not write it back), update the others by (source, domain, key)."""
        table = self._uow.work.records
        by_key = {(r.source, r.domain, r.key): rid for rid, r in table.items()}
        for r in records:
            stored = replace(copy.deepcopy(r), dirty=False, stored=True)
            k = (r.source, r.domain, r.key)
            if not r.stored:
                if k in by_key:
                    raise FakeIntegrityError(f"source_record {r.source}/{r.domain}/{r.key}")
                stored.id = self._uow.db.next_id("source_record")
                table[stored.id] = stored
                by_key[k] = stored.id
            elif k in by_key:
                stored.id = by_key[k]
                table[by_key[k]] = stored
        for r in records:
            r.dirty = False
            r.stored = True


class FakeGolden:
    def referring_to(self, ids: Iterable[str]) -> set[str]:
        wanted = set(ids)
        return {
            g["id"]
            for g in self._uow.work.golden.values()
            if wanted & {str(v) for v in g["references"].values()}
        }

    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    def active_ids(self, domain: str, after: str, limit: int) -> list[str]:
        rows = self._uow.work.golden.values()
        ids = sorted(
            r["id"]
            for r in rows
            if r["domain"] == domain and r["status"] == "active" and r["id"] > after
        )
        return ids[:limit]

    def load(self, ids: Iterable[str], lock: bool = False) -> dict[str, GoldenRecord]:
        table = self._uow.work.golden
        return {
            gid: GoldenRecord(
                id=row["id"],
                domain=row["domain"],
                version=row["version"],
                status=row["status"],
                attributes=copy.deepcopy(row["attributes"]),
                provenance=copy.deepcopy(row["provenance"]),
                references=copy.deepcopy(row["references"]),
                overrides=copy.deepcopy(row["overrides"] or {}),
                xref=copy.deepcopy(row["xref"] or []),
                created_at=row["created_at"],
                merged_into=row["merged_into"],
                compared=copy.deepcopy(row.get("compared")),
            )
            for gid in sorted(set(ids))
            if (row := table.get(gid)) is not None
        }

    def candidates(self, ids: Iterable[str], values: bool = True) -> dict[str, CandidateGolden]:
        table = self._uow.work.golden
        return {
            gid: CandidateGolden(
                g.id,
                g.domain,
                g.version,
                g.status,
                g.attributes if values else None,
                g.references if values else None,
                table[gid].get("updated_at"),
                copy.deepcopy(table[gid].get("compared")),
            )
            for gid, g in self.load(ids).items()
        }

    def stamps(self, ids: Iterable[str]) -> dict[str, tuple[int, str, object]]:
        table = self._uow.work.golden
        return {
            gid: (row["version"], row["status"], row.get("updated_at"))
            for gid in set(ids)
            if (row := table.get(gid)) is not None
        }

    def keep_compared(self, compared: Mapping[str, Any]) -> None:
        for gid, kept in compared.items():
            self._uow.work.golden[gid]["compared"] = copy.deepcopy(kept)

    def save(
        self,
        records: Sequence[tuple[GoldenRecord, list[str], str]],
        search_names: Mapping[str, str],
        at: datetime,
        compared: Mapping[str, Any] | None = None,
    ) -> None:
        work = self._uow.work
        for g, changed, cause in records:
            content = {
                "compared": copy.deepcopy((compared or {}).get(g.id)),
                "version": g.version,
                "status": g.status,
                "attributes": copy.deepcopy(g.attributes),
                "provenance": copy.deepcopy(g.provenance),
                "references": copy.deepcopy(g.references),
                "xref": copy.deepcopy(g.xref),
            }
            if g.version == 1:
                if g.id in work.golden:
                    raise FakeIntegrityError(f"golden_record {g.id}")
                work.golden[g.id] = {
                    "id": g.id,
                    "domain": g.domain,
                    **content,
                    "overrides": copy.deepcopy(g.overrides),
                    "merged_into": None,
                    "search_name": search_names.get(g.id, "")[:500],
                    "created_at": at,
                    "updated_at": at,
                }
            elif g.id in work.golden:
                work.golden[g.id].update(
                    content,
                    overrides=copy.deepcopy(g.overrides),
                    merged_into=g.merged_into,
                    search_name=search_names.get(g.id, "")[:500],
                    updated_at=at,
                )
            if (g.id, g.version) in work.versions:
                raise FakeIntegrityError(f"golden_version {g.id} v{g.version}")
            work.versions[(g.id, g.version)] = {
                "golden_id": g.id,
                "domain": g.domain,
                **copy.deepcopy(content),
                "changed_fields": list(changed),
                "cause": cause,
                "created_at": at,
            }


class FakeKeys:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow
        self.changed = False

    def find(self, domain: str, keys: Iterable[str]) -> dict[str, set[str]]:
        wanted = set(keys)
        out: dict[str, set[str]] = {}
        for row in self._uow.work.keys:
            if row["domain"] == domain and row["key"] in wanted:
                out.setdefault(row["key"], set()).add(row["golden_id"])
        return out

    def count(self, domain: str, keys: Iterable[str]) -> dict[str, int]:
        wanted = set(keys)
        out: dict[str, int] = {}
        for row in self._uow.work.keys:
            if row["domain"] == domain and row["key"] in wanted:
                out[row["key"]] = out.get(row["key"], 0) + 1
        return out

    def replace(self, domain: str, keys: Mapping[str, set[str]]) -> KeyDiff | None:
        """Drop every key of the given golden records (of any domain), then add the new ones."""
        work = self._uow.work
        before = {(r["key"], r["golden_id"]) for r in work.keys if r["golden_id"] in keys}
        work.keys = [row for row in work.keys if row["golden_id"] not in keys]
        taken = {(row["domain"], row["key"], row["golden_id"]) for row in work.keys}
        for gid, ks in keys.items():
            for k in sorted(ks):
                row = {"domain": domain, "key": k[:600], "golden_id": gid}
                ident = (domain, row["key"], gid)
                if ident in taken:
                    raise FakeIntegrityError(f"blocking_key {ident}")
                taken.add(ident)
                work.keys.append(row)
        after = {(k[:600], g) for g, ks in keys.items() for k in ks}
        added, removed = sorted(after - before), sorted(before - after)
        if not added and not removed:
            return None
        self.changed = True
        writer = self._uow.db.next_id("key_change")
        work.key_log.append((writer, domain, sorted({k for k, _ in added + removed})))
        return KeyDiff(writer, domain, tuple(added), tuple(removed))

    def changes_since(self, horizon: int | None, skip: Collection[int]) -> KeyChanges:
        log = self._uow.work.key_log
        out = KeyChanges(max((i for i, _, _ in log), default=0), datetime.now(UTC))
        if horizon is None:
            return out
        out.horizon = max(out.horizon, horizon)
        for i, domain, keys in log:
            if i > horizon and i not in skip:
                out.keys.setdefault(domain, set()).update(keys)
        return out

    def prune_changes(self, retention: timedelta) -> int:
        """Kept whole: a test's log is short."""
        return 0


class FakePending:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    def waiting_for(self, targets: Iterable[RecordKey]) -> set[str]:
        wanted = set(targets)
        return {
            row["golden_id"]
            for row in self._uow.work.pending
            if (row["source"], row["target_domain"], row["target_key"]) in wanted
        }

    def replace(self, golden_ids: Iterable[str], rows: Sequence[dict[str, Any]]) -> None:
        work = self._uow.work
        gone = set(golden_ids)
        work.pending = [row for row in work.pending if row["golden_id"] not in gone]
        taken = {(r["golden_id"], r["source"], r["source_key"], r["name"]) for r in work.pending}
        for r in rows:
            ident = (r["golden_id"], r["source"], r["source_key"], r["name"])
            if ident in taken:
                raise FakeIntegrityError(f"pending_reference {ident}")
            taken.add(ident)
            work.pending.append({**copy.deepcopy(r), "created_at": datetime.now(UTC)})


class FakeOutbox:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    def add(self, events: Sequence[dict[str, Any]]) -> None:
        work = self._uow.work
        taken = {row["event_id"] for row in work.outbox}
        for e in events:
            if e["event"]["id"] in taken:
                raise FakeIntegrityError(f"outbox event {e['event']['id']}")
            taken.add(e["event"]["id"])
            work.outbox.append(
                {
                    "seq": self._uow.db.next_id("outbox"),
                    "event_id": e["event"]["id"],
                    "domain": e["domain"],
                    "golden_id": e["golden_id"],
                    "version": e["version"],
                    "type": e["type"],
                    "payload": copy.deepcopy(e["event"]),
                    "correlation_id": e.get("correlation_id"),
                    "created_at": e["at"],
                }
            )


class FakeCandidates:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    def rejected(self, key: tuple[str, str, str]) -> set[str]:
        ids = {i for i, r in self._uow.work.records.items() if (r.source, r.domain, r.key) == key}
        return {
            c["golden_id"]
            for c in self._uow.work.candidates
            if c["source_record_id"] in ids and c.get("status") == "rejected"
        }

    def kept_apart(self, a: str, b: str) -> bool:
        records = self._uow.work.records
        return any(
            c.get("status") == "rejected"
            and {records[c["source_record_id"]].golden_id, c["golden_id"]} == {a, b}
            for c in self._uow.work.candidates
        )

    def get(self, candidate_id: int, lock: bool = True) -> dict[str, Any] | None:
        for c in self._uow.work.candidates:
            if c["id"] == candidate_id:
                r = self._uow.work.records[c["source_record_id"]]
                return {**c, "source": r.source, "source_key": r.key}
        return None

    def decide(self, candidate_id: int, status: str, by: str, reason: str, at: datetime) -> None:
        target = next((c for c in self._uow.work.candidates if c["id"] == candidate_id), None)
        if target is None:  # an UPDATE of a missing row touches nothing
            return
        target.update(status=status, decided_by=by, reason=reason, decided_at=at)
        if status == "merged":
            for c in self._uow.work.candidates:
                if (
                    c["source_record_id"] == target["source_record_id"]
                    and c.get("status") == "pending"
                    and c is not target
                ):
                    c.update(status="superseded", decided_by=by, decided_at=at)

    def exclude(
        self, key: tuple[str, str, str], golden_id: str, by: str, reason: str, at: datetime
    ) -> None:
        rid = next(
            i for i, r in self._uow.work.records.items() if (r.source, r.domain, r.key) == key
        )
        self._uow.work.candidates.append(
            {
                "id": self._uow.db.next_id("match_candidate"),
                "domain": key[1],
                "source_record_id": rid,
                "golden_id": golden_id,
                "probability": 0.0,
                "weights": {},
                "notes": None,
                "rule": "steward:split",
                "status": "rejected",
                "decided_by": by,
                "reason": reason,
                "created_at": at,
                "decided_at": at,
                "run_id": None,
            }
        )

    def add(self, rows: Sequence[dict[str, Any]]) -> None:
        ids = {(r.domain, r.source, r.key): i for i, r in self._uow.work.records.items()}
        now = datetime.now(UTC)
        for r in rows:
            self._uow.work.candidates.append(
                {
                    "id": self._uow.db.next_id("match_candidate"),
                    "domain": r["domain"],
                    # KeyError if the record was never stored, as the SQL lookup would raise
                    "source_record_id": ids[(r["domain"], *r["source_key"])],
                    "golden_id": r["golden_id"],
                    "probability": r["probability"],
                    "weights": copy.deepcopy(r["weights"]),
                    "notes": copy.deepcopy(r.get("notes") or None),
                    "rule": r["rule"],
                    "status": "pending",
                    "decided_by": None,
                    "reason": None,
                    "created_at": now,
                    "decided_at": None,
                    "run_id": r.get("run_id"),
                    "levels": copy.deepcopy(r.get("levels") or None),
                    "golden_version": r.get("golden_version"),
                }
            )

    def follow(self, merged: Mapping[str, str], retired: Collection[str], at: datetime) -> None:
        records = self._uow.work.records
        pending = [c for c in self._uow.work.candidates if c.get("status") == "pending"]
        final = {}
        for loser in merged:  # a winner merged away in the same batch passes them on
            winner = merged[loser]
            while winner in merged and winner != loser:
                winner = merged[winner]
            final[loser] = winner
        for c in pending:
            if c["golden_id"] in final:
                c.update(golden_id=final[c["golden_id"]], golden_version=None)
        seen: set[tuple[int, str]] = set()
        for c in sorted(pending, key=lambda c: c["id"]):
            pair = (c["source_record_id"], c["golden_id"])
            on = records[c["source_record_id"]].golden_id
            if c["golden_id"] in retired or (
                c["golden_id"] in final.values() and (on == c["golden_id"] or pair in seen)
            ):
                c.update(status="superseded", decided_by="concord", decided_at=at)
            if c["golden_id"] in final.values():
                seen.add(pair)

    def refresh(self, candidate_id: int, scored: Mapping[str, Any] | None, at: datetime) -> None:
        for c in self._uow.work.candidates:
            if c["id"] == candidate_id and c.get("status") == "pending":
                if scored is None:
                    c.update(status="superseded", decided_by="concord", decided_at=at)
                else:
                    c.update(copy.deepcopy(dict(scored)))


class FakeDeadLetters:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    def replay(self, ids: Sequence[int] | None, at: datetime) -> int:
        rows = [
            d
            for d in self._uow.work.dead_letters
            if d.get("replayed_at") is None and (ids is None or d["id"] in ids)
        ]
        for d in rows:
            d["replayed_at"] = at
            row = self._uow.work.inbox.get(d["inbox_id"])
            if row is not None and row["status"] == "dead":
                row["status"], row["applied_at"] = "pending", None
        return len(rows)

    def add_unreadable(self, messages: Sequence[UnreadableMessage], at: datetime) -> int:
        kept = {(d["source"], d["event_id"]) for d in self._uow.work.dead_letters}
        new = 0
        for m in messages:
            if (m.origin, m.position) in kept:
                continue
            kept.add((m.origin, m.position))
            new += 1
            self._uow.work.dead_letters.append(
                {
                    "id": self._uow.db.next_id("dead_letter"),
                    "inbox_id": 0,
                    "source": m.origin,
                    "event_id": m.position,
                    "payload": copy.deepcopy(m.payload),
                    "reason": m.reason[:4000],
                    "created_at": at,
                }
            )
        return new

    def add(self, inbox_id: int, change: Change, reason: str, at: datetime) -> None:
        self._uow.work.dead_letters.append(
            {
                "id": self._uow.db.next_id("dead_letter"),
                "inbox_id": inbox_id,
                "source": change.source,
                "event_id": change.event_id,
                "payload": {
                    "domain": change.domain,
                    "key": change.key,
                    "op": change.op,
                    "sequence": change.sequence,
                    "changed_at": change.changed_at.isoformat(),
                    "attributes": copy.deepcopy(change.attributes),
                },
                "reason": reason[:4000],
                "created_at": at,
            }
        )


class FakeUnitOfWork:
    """One transaction over a ``FakeDatabase``; satisfies ``hub.services.ports.UnitOfWork``."""

    def __init__(self, db: FakeDatabase | None = None) -> None:
        self.db = db if db is not None else FakeDatabase()
        self._work: FakeState | None = None
        self.active = False
        self.committed = False
        self.inbox = FakeInbox(self)
        self.records = FakeRecords(self)
        self.golden = FakeGolden(self)
        self.keys = FakeKeys(self)
        self.pending = FakePending(self)
        self.outbox = FakeOutbox(self)
        self.candidates = FakeCandidates(self)
        self.dead_letters = FakeDeadLetters(self)

    def sources(self) -> dict[str, SourceSpec]:
        return dict(self.db.source_specs)

    def refresh_statistics(self) -> None:
        """Nothing to analyse in memory."""

    def audit(self, actor: str, action: str, detail: dict[str, Any]) -> None:
        self.work.audit.append((actor, action, copy.deepcopy(detail)))

    def lock(self, namespace: str, names: Iterable[str], wait: bool = True) -> None:
        """The database's writer lock serialises whole transactions already (see
        ``FakeDatabase``); the names are recorded for assertions."""
        self.db.locks.extend((namespace, n) for n in names)

    def lock_free(self, namespace: str, names: Iterable[str]) -> set[str]:
        """Every lock is free: the writer lock already keeps other transactions out."""
        taken = set(names)
        self.lock(namespace, sorted(taken))
        return taken

    @property
    def work(self) -> FakeState:
        """This transaction's working copy of the committed state. The first use begins the
        transaction: it waits for the writer lock (as SQLite's ``BEGIN IMMEDIATE`` does at the
        first statement) and copies the committed state as it is then."""
        if self._work is None:
            if not self.db.writer.acquire(timeout=LOCK_TIMEOUT):
                raise FakeLockTimeout("database is locked: another unit of work holds it")
            self._work = copy.deepcopy(self.db.state)
        return self._work

    def _end(self) -> None:
        if self._work is not None:
            self._work = None
            self.db.writer.release()

    def __enter__(self) -> FakeUnitOfWork:
        self.active = True
        return self

    def __exit__(self, *args: object) -> None:
        self.rollback()
        self.active = False

    def commit(self) -> None:
        assert self.active, "commit outside a transaction"
        if self._work is not None:
            self.db.state = self._work
        self.db.commits += 1
        self.committed = True
        self._end()

    def rollback(self) -> None:
        self._end()

    @contextmanager
    def savepoint(self) -> Iterator[object]:
        before = copy.deepcopy(self.work)
        try:
            yield self
        except BaseException:
            self._work = before
            raise

    def transient(self, exc: BaseException) -> bool:
        return isinstance(exc, FakeTransientError)


def _check_protocol(uow: FakeUnitOfWork) -> UnitOfWork:
    return uow  # mypy checks here that the fake satisfies the port


@functools.cache
def default_config() -> HubConfig:
    return load_config()


class DelegatingMatcher:
    """The deterministic matcher on the default configuration, to subclass: a test's matcher
    overrides the one method it makes fail and hands the rest on."""

    def __init__(self) -> None:
        self.inner = deterministic_matcher(default_config())

    def deterministic_keys(self, domain: str, record: Mapping[str, object]) -> list[str]:
        return self.inner.deterministic_keys(domain, record)

    def blocking_keys(self, domain: str, record: Mapping[str, object]) -> list[str]:
        return self.inner.blocking_keys(domain, record)

    def value_keys(self, domain: str, record: Mapping[str, object]) -> dict[str, str]:
        return self.inner.value_keys(domain, record)

    def key_fields(self, domain: str) -> None:
        return None  # a subclass may compute keys from anything: keep none by fields

    def spec(self, domain: str) -> None:
        return None

    def score(
        self,
        domain: str,
        record: Mapping[str, object],
        candidates: Sequence[tuple[str, object]],
        holders: Mapping[str, int] | None = None,
        population: int = 0,
        levels: object = None,
    ) -> list[Any]:
        return self.inner.score(domain, record, candidates)

    def levels_many(
        self, domain: str, work: Sequence[tuple[Mapping[str, object], Sequence[object]]]
    ) -> list[None]:
        return self.inner.levels_many(domain, work)

    def compared_values(self, domain: str, views: Sequence[Mapping[str, object]]) -> None:
        return None

    def compared_fingerprint(self, domain: str) -> None:
        return None

    def exact_labels(self, domain: str, levels: object) -> frozenset[str]:
        return frozenset()


def fake_bus(db: FakeDatabase | None = None, matcher: Matcher | None = None) -> MessageBus:
    """The real message bus and applier, on the default configuration and fake storage.

    Args:
        db: The committed state to share; a fresh one when omitted. Keep a reference to it
            (or read ``bus.uow_factory().db``) to assert on what was committed.
        matcher: Replaces the deterministic matcher built from the default configuration.
    """
    config = default_config()
    store = db if db is not None else FakeDatabase()
    applier = Applier(config.domains, matcher or deterministic_matcher(config))
    return MessageBus(lambda: FakeUnitOfWork(store), applier)


def change(
    source: str,
    domain: str,
    key: str,
    seq: int | None = None,
    op: Op = "upsert",
    at: datetime | None = None,
    event_id: str | None = None,
    **attributes: Any,
) -> Change:
    """A change as the ingest API would build it; ``at`` defaults to T0 plus ``seq`` minutes."""
    changed_at = at if at is not None else T0 + timedelta(minutes=seq or 0)
    return Change(
        source=source,
        domain=domain,
        key=key,
        op=op,
        event_id=event_id
        or derive_event_id(source, domain, key, seq, changed_at.isoformat(), op, dict(attributes)),
        attributes=dict(attributes),
        changed_at=changed_at,
        sequence=seq,
    )


def accept(bus: MessageBus, *changes: Change) -> Accepted:
    """Put changes into the inbox, one ``AcceptChanges`` per source, and total the result."""
    by_source: dict[str, list[Change]] = {}
    for c in changes:
        by_source.setdefault(c.source, []).append(c)
    accepted = duplicates = 0
    for source, batch in by_source.items():
        result = bus.accept(AcceptChanges(source, tuple(batch)))
        accepted += result.accepted
        duplicates += result.duplicates
    return Accepted(accepted=accepted, duplicates=duplicates)
