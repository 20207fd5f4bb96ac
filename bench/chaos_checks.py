"""The invariants the chaos checker holds the end state to, once the load has stopped and the
inbox has drained.

Each check returns a list of violations, each a line that names the record: an empty list is
a pass. They read the database directly (the hub's own tables) and the feed over HTTP, the way
a subscriber would replay it.
"""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from typing import Any

import httpx
from sqlalchemy import Engine, func, select

from bench.chaos_load import Ledger
from hub.store.tables import (
    DeadLetter,
    GoldenRecordRow,
    GoldenVersionRow,
    InboxRow,
    OutboxRow,
    SourceRecordRow,
)


def stranded_records(engine: Engine) -> list[str]:
    """Every live source record sits on an active golden record (issue 19, item 1)."""
    with engine.connect() as c:
        rows = c.execute(
            select(SourceRecordRow.source, SourceRecordRow.source_key, GoldenRecordRow.status)
            .outerjoin(GoldenRecordRow, GoldenRecordRow.id == SourceRecordRow.golden_id)
            .where(SourceRecordRow.deleted.is_(False))
            .where((GoldenRecordRow.status != "active") | GoldenRecordRow.id.is_(None))
        ).all()
    return [
        f"live record {s}/{k} sits on a golden record that is {st or 'missing'}"
        for s, k, st in rows
    ]


def version_gaps(engine: Engine) -> list[str]:
    """Versions 1..n of each golden record, each once, and one outbox event per version."""
    with engine.connect() as c:
        goldens = dict(c.execute(select(GoldenRecordRow.id, GoldenRecordRow.version)).all())
        versions: dict[str, list[int]] = defaultdict(list)
        for gid, v in c.execute(select(GoldenVersionRow.golden_id, GoldenVersionRow.version)):
            versions[gid].append(v)
        events: dict[str, list[int]] = defaultdict(list)
        # a quality_changed event announces issues at a version; it makes none of its own
        versioned = select(OutboxRow.golden_id, OutboxRow.version).where(
            ~OutboxRow.type.like("%.quality_changed")
        )
        for gid, v in c.execute(versioned):
            events[gid].append(v)
    out = []
    for gid, top in goldens.items():
        want = list(range(1, top + 1))
        if sorted(versions[gid]) != want:
            out.append(f"golden {gid} (version {top}): versions {_short(versions[gid])}")
        if sorted(events[gid]) != want:
            out.append(f"golden {gid} (version {top}): outbox events {_short(events[gid])}")
    return out


def _short(values: list[int]) -> str:
    values = sorted(values)
    return str(values) if len(values) <= 12 else f"{values[:6]} ... {values[-6:]} ({len(values)})"


def feed_replay(engine: Engine, base: str, key: str) -> list[str]:
    """The feed replayed from zero rebuilds every golden record as the database holds it,
    and gives each record's versions in order."""
    last: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    after = "0"
    with httpx.Client(base_url=base, timeout=60) as http:
        while True:
            r = http.get(
                "/api/v1/feed",
                params={"after": after, "limit": 1000},
                headers={"Authorization": f"Bearer {key}"},
            )
            if r.status_code != 200:
                return [f"feed after {after}: HTTP {r.status_code} {r.text[:200]}"]
            page = r.json()
            for item in page["events"]:
                if item["event"]["type"].endswith(".quality_changed"):
                    continue  # issues at a version already seen: no state of its own
                data = item["event"]["data"]
                seen = last.get(data["id"])
                if seen is not None and data["version"] != seen["version"] + 1:
                    problems.append(
                        f"feed: golden {data['id']} version {data['version']} "
                        f"after {seen['version']} (seq {item['seq']})"
                    )
                last[data["id"]] = data
            if not page["events"]:
                break
            after = page["next"]
    with engine.connect() as c:
        rows = c.execute(
            select(
                GoldenRecordRow.id,
                GoldenRecordRow.version,
                GoldenRecordRow.status,
                GoldenRecordRow.attributes,
            )
        ).all()
    for gid, version, status, attributes in rows:
        got = last.get(gid)
        if got is None:
            problems.append(f"feed: golden {gid} never published")
            continue
        if (got["version"], got["status"], got["attributes"]) != (version, status, attributes):
            problems.append(
                f"feed: golden {gid} replays as v{got['version']} {got['status']}, "
                f"the database holds v{version} {status}"
                + ("" if got["attributes"] == attributes else " with other attributes")
            )
    return problems


def audit_chain(env: dict[str, str]) -> list[str]:
    """``concord audit verify``: the hash chain of steward and admin actions is whole."""
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        return [f"concord audit verify: exit {done.returncode}: {done.stdout[-300:]}"]
    return []


def promises_kept(engine: Engine, ledger: Ledger) -> list[str]:
    """Nothing that got a 2xx is missing: every acknowledged change is in the inbox and
    applied (or stale); each record holds its newest acknowledged change, or is deleted if that
    was a delete; every acknowledged merge left its loser merged; no change died."""
    with engine.connect() as c:
        inbox = {
            (src, eid): status
            for src, eid, status in c.execute(
                select(InboxRow.source, InboxRow.event_id, InboxRow.status)
            )
        }
        records = {
            (r.source, r.source_key): r
            for r in c.execute(
                select(
                    SourceRecordRow.source,
                    SourceRecordRow.source_key,
                    SourceRecordRow.sequence,
                    SourceRecordRow.deleted,
                    SourceRecordRow.attributes,
                )
            )
        }
        status_of = dict(c.execute(select(GoldenRecordRow.id, GoldenRecordRow.status)).all())
        dead = c.execute(select(func.count()).select_from(DeadLetter)).scalar_one()
    out = []
    for src, eid in sorted(ledger.event_ids):
        status = inbox.get((src, eid))
        if status not in ("applied", "stale"):
            out.append(f"change {src}/{eid} got 202 but is {status or 'not in the inbox'}")
    for (src, key), acked in sorted(ledger.changes.items()):
        seq, op, marker = max(acked)
        rec = records.get((src, key))
        if rec is None:
            out.append(f"record {src}/{key}: acknowledged, never stored")
        elif rec.sequence != seq:
            out.append(f"record {src}/{key} holds sequence {rec.sequence}, newest 202 was {seq}")
        elif rec.deleted != (op == "delete"):
            out.append(f"record {src}/{key}: deleted={rec.deleted} after a {op} at {seq}")
        elif op == "upsert" and (rec.attributes or {}).get("industry") != marker:
            out.append(f"record {src}/{key} holds {rec.attributes.get('industry')}, not {marker}")
    for loser, winner in ledger.merges:
        if status_of.get(loser) != "merged":
            out.append(
                f"merge {loser} into {winner} answered 200; {loser} is {status_of.get(loser)}"
            )
    if dead:
        out.append(f"{dead} dead letters, though every change sent was valid")
    return out


def pending_changes(engine: Engine) -> int:
    with engine.connect() as c:
        return int(
            c.execute(
                select(func.count()).select_from(InboxRow).where(InboxRow.status == "pending")
            ).scalar_one()
        )


def stall_report(engine: Engine, pids: dict[int, str]) -> list[str]:
    """What holds the inbox when it stops draining: every session of the database (which
    process, its transaction's age, what it waits for, its last statement), who holds
    advisory locks, and the records the pending changes are for. ``pids`` names the
    harness's processes (their connections carry ``concord[pid]`` as application name)."""
    out: list[str] = []
    with engine.connect() as c:
        sessions = c.exec_driver_sql(
            "SELECT pid, application_name, state, "
            "round(extract(epoch FROM now() - xact_start)::numeric, 1), "
            "wait_event_type, wait_event, pg_blocking_pids(pid), left(query, 160) "
            "FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() ORDER BY xact_start NULLS LAST"
        ).all()
        for pid, app, state, age, wtype, wevent, blockers, query in sessions:
            who = next((name for p, name in pids.items() if f"[{p}]" in (app or "")), app)
            out.append(
                f"session {pid} ({who}): {state}, transaction {age} s, waits "
                f"{wtype or '-'}:{wevent or '-'}, blocked by {blockers or '-'}: {query!r}"
            )
        for pid, n in c.exec_driver_sql(
            "SELECT pid, count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "GROUP BY pid ORDER BY pid"
        ):
            out.append(f"session {pid} holds {n} advisory locks")
        for source, key, n, first in c.exec_driver_sql(
            "SELECT source, source_key, count(*), min(id) FROM inbox "
            "WHERE status = 'pending' GROUP BY source, source_key ORDER BY min(id) LIMIT 15"
        ):
            out.append(f"pending: {n} changes of {source}/{key}, the first inbox row {first}")
    return out
