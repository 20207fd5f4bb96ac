"""Project setup: read the golden opportunity and client changes from the outbox, and make,
reopen or cancel project shells, or record why one cannot be made yet.

A process manager beside the apply path, not inside it: it reads committed golden changes in
commit order (the outbox, like any subscriber), and writes what it decides as changes of the
hub's own source into the inbox, in the same transaction as its cursor. The apply path then
links, survives and publishes each shell like any record, so a shell is versioned, keyed and
delivered by the same rules as a project PSA sends (docs/architecture.md, "Project setup").
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hub.domain.commands import DecideSetupException, NoteValidatedTime
from hub.domain.errors import ConcordError, Conflict, RecordNotFound
from hub.domain.events import QualityChanged
from hub.domain.model import Change, GoldenRecord
from hub.domain.project_setup import (
    DIMENSIONS,
    Golden,
    Lookup,
    Problem,
    SetupRules,
    plan_shell,
    project_issues,
)
from hub.domain.spec import HUB_SOURCE, ISSUER_FIELD
from hub.services.ports import Matcher, UnitOfWork
from hub.services.setup_ports import SetupRepo
from hub.services.survival import outbox_entry

REFERENCE = DIMENSIONS
ACTIONS = {"resolve": "resolved", "defer": "deferred", "override": "overridden"}
WATCHED = ("opportunity", "client", "project", *REFERENCE)


def _golden(g: GoldenRecord) -> Golden:
    return Golden(g.id, g.attributes, g.references, g.status)


class ProjectSetup:
    def __init__(self, rules: SetupRules, matcher: Matcher) -> None:
        self.rules = rules
        self.matcher = matcher

    def advance(self, uow: UnitOfWork, limit: int = 500) -> int:
        """One round: the golden changes after the cursor; returns how many it read."""
        if not self.rules.enabled:
            return 0
        with uow as entered:
            # The SQL store keeps setup state; the unit tests' in-memory store does not.
            store: SetupRepo | None = getattr(entered, "setup", None)
            if store is None:
                return 0
            cursor = store.claim_cursor()
            if cursor is None:
                return 0
            events = store.events_after(cursor, WATCHED, limit)
            if not events:
                return 0
            now = datetime.now(UTC)
            lookup = self._lookup(uow)
            seen = {gid: at for _, _, gid, at in events}  # when each last changed
            opportunities = {gid for _, domain, gid, _ in events if domain == "opportunity"}
            opportunities |= store.waiting_on({gid for _, d, gid, _ in events if d == "client"})
            changes: list[Change] = []
            # every deal and client of the round in two queries, not two per deal
            known = uow.golden.load(sorted(opportunities))
            clients = {g.references.get("client") for g in known.values()} - {None}
            known.update(uow.golden.load(sorted(str(c) for c in clients)))
            for gid in sorted(opportunities):
                changes += self._decide(uow, store, gid, now, lookup, seen.get(gid), known=known)
            if changes:
                uow.inbox.add(changes, now)
            projects = {gid for _, domain, gid, _ in events if domain == "project"}
            self._milestones(uow, store, {gid: seen[gid] for gid in projects})
            if any(domain in REFERENCE for _, domain, _, _ in events):
                projects = set(store.active_ids("project"))  # a code changed: check them all
            self._check_projects(uow, store, projects, lookup, now)
            store.move_cursor(events[-1][0])
            uow.commit()
        return len(events)

    def check_all(self, uow: UnitOfWork) -> int:
        """Check the financial dimensions of every active golden project now (after a change
        of the rules, and for the benchmark); returns how many were checked."""
        with uow as entered:
            store: SetupRepo | None = getattr(entered, "setup", None)
            if store is None:
                return 0
            ids = set(store.active_ids("project"))
            self._check_projects(uow, store, ids, self._lookup(uow), datetime.now(UTC))
            uow.commit()
        return len(ids)

    def note_time(self, uow: UnitOfWork, cmd: NoteValidatedTime) -> int:
        """Count the time entries validated per golden project; returns how many."""
        counts: dict[str, int] = {}
        for gid, n in cmd.entries:
            counts[gid] = counts.get(gid, 0) + n
        if not counts:
            return 0
        with uow as entered:
            store: SetupRepo | None = getattr(entered, "setup", None)
            if store is None:
                return 0
            store.note_time(counts, datetime.now(UTC))
            uow.commit()
        return sum(counts.values())

    def decide_exception(self, uow: UnitOfWork, cmd: DecideSetupException) -> dict[str, Any]:
        """Finance's decision on a waiting deal, audited; ``override`` makes the shell now,
        without the dimensions that failed (the exception stays, as overridden, to say so)."""
        if cmd.action not in ACTIONS:
            raise ConcordError(f"action: {cmd.action!r} is not one of {', '.join(ACTIONS)}")
        with uow as entered:
            store: SetupRepo | None = getattr(entered, "setup", None)
            if store is None:
                raise ConcordError("this store keeps no project setup state")
            row = store.exception(cmd.opportunity_id)
            if row is None:
                raise RecordNotFound(f"no setup exception for opportunity {cmd.opportunity_id}")
            if row.status not in ("open", "deferred"):
                raise Conflict(f"the setup exception is {row.status} already")
            now = datetime.now(UTC)
            changes: list[Change] = []
            if cmd.action == "override":
                changes = self._decide(
                    uow, store, cmd.opportunity_id, now, self._lookup(uow), None, force=True
                )
                if not changes:
                    raise Conflict(
                        "no shell can be made even so: the deal is not contracted, or its "
                        "client has no live source record"
                    )
                uow.inbox.add(changes, now)
            status = ACTIONS[cmd.action]
            store.decide_exception(cmd.opportunity_id, status, cmd.actor, cmd.reason, now)
            uow.audit(
                cmd.actor,
                f"setup_exception.{cmd.action}",
                {
                    "opportunity_id": cmd.opportunity_id,
                    "before": row.status,
                    "after": status,
                    "problems": row.problems,
                    "reason": cmd.reason,
                },
            )
            uow.commit()
        return {"opportunity_id": cmd.opportunity_id, "status": status, "shell": bool(changes)}

    # -- one opportunity ---------------------------------------------------------------------

    def _milestones(self, uow: UnitOfWork, store: SetupRepo, changed: dict[str, datetime]) -> None:
        """A shell's project published (its first event) and joined by PSA's or ERP's record,
        each at the commit of the version that showed it: the setup cycle's KPI."""
        loaded = uow.golden.load(sorted(changed))
        for gid, at in changed.items():
            g = loaded.get(gid)
            shells = [x["key"] for x in (g.xref if g else []) if x.get("source") == HUB_SOURCE]
            if not shells:
                continue
            store.mark(shells[0], "published", at)
            if any(x.get("source") != HUB_SOURCE for x in g.xref):  # type: ignore[union-attr]
                store.mark(shells[0], "linked", at)

    def _check_projects(
        self, uow: UnitOfWork, store: SetupRepo, ids: set[str], lookup: Lookup, now: datetime
    ) -> None:
        """The data-quality issues of these golden projects, from any source (a retired or
        merged one has none left). None to check, nothing read: most rounds of a busy hub
        carry no project, and asking which dimensions hold data cost a query each."""
        if not ids:
            return
        issues: dict[str, list[dict[str, str]]] = {}
        events: list[dict[str, Any]] = []
        held = {dim: bool(store.active_ids(dim, limit=1)) for dim in DIMENSIONS}
        ordered = sorted(ids)
        for start in range(0, len(ordered), 1000):
            part = ordered[start : start + 1000]
            loaded = uow.golden.load(part)
            before = store.issues_of(part)
            for gid in part:
                g = loaded.get(gid)
                found = (
                    project_issues(_golden(g), lookup, held.__getitem__)
                    if g is not None and g.status == "active"
                    else []
                )
                issues[gid] = [p.as_dict() for p in found]
                if g is not None and g.status == "active" and issues[gid] != before.get(gid, []):
                    events.append(_quality_event(g, issues[gid], now))
        store.set_issues("project", issues, now)
        if events:  # in the events too, so a subscriber need not read the golden record
            uow.outbox.add(events)

    def _decide(
        self,
        uow: UnitOfWork,
        store: SetupRepo,
        gid: str,
        now: datetime,
        lookup: Lookup,
        changed_at: datetime | None = None,
        force: bool = False,
        known: dict[str, GoldenRecord] | None = None,
    ) -> list[Change]:
        known = known if known is not None else {}

        def golden(gid: str) -> GoldenRecord | None:
            return known[gid] if gid in known else uow.golden.load([gid]).get(gid)

        opp = golden(gid)
        if opp is None or opp.status != "active":
            return []
        stage = self.rules.stage(opp.attributes)
        shell = store.shell(gid)
        if stage == "lost":
            store.resolve_exception(gid, now)
            if shell is None or shell.status != "created":
                return []
            return self._cancel(uow, store, gid, now)
        if stage != "contracted":
            return []  # a deal that goes back a stage keeps its shell: one shell per deal
        if shell is not None and shell.status == "created":
            return []
        client_id = opp.references.get("client")
        client = golden(client_id) if client_id else None
        planned, problems = plan_shell(
            _golden(opp),
            _source_key(opp),
            _golden(client) if client else None,
            self._client_ref(uow, client),
            lookup,
            self.rules,
            force,
        )
        if planned is None or (problems and not force):
            store.open_exception(gid, client_id, [p.as_dict() for p in problems], now)
            return []
        since = store.waiting_since(gid)
        if not force:
            store.resolve_exception(gid, now)
        if shell is None:
            changed_at = since or changed_at
            planned["code"] = store.add_shell(
                gid, client_id, lambda n: self.rules.code(n, now.date()), now, changed_at
            )
        else:  # cancelled before, contracted again: the same shell comes back
            planned["code"] = shell.code
            store.set_shell_status(gid, "created", now)
        return [self._change(gid, planned, now, "created")]

    def _cancel(self, uow: UnitOfWork, store: SetupRepo, gid: str, now: datetime) -> list[Change]:
        """Cancel the shell of a lost deal, unless time was validated against its project:
        then the deal waits as an exception, for a person to close the project where it lives
        (the time is real work, billed or not). A shell that PSA or ERP joined but nobody
        booked time on is cancelled, and they hear it as the project's new status."""
        held = uow.records.load([(HUB_SOURCE, "project", gid)]).get((HUB_SOURCE, "project", gid))
        if held is None or held.golden_id is None:
            return []
        entries, since = store.time_on(held.golden_id)
        if entries:
            day = since.date().isoformat() if since else "an unknown day"
            problem = Problem(
                "shell.lost",
                f"project {held.golden_id}",
                f"the deal was lost, but {entries} time "
                + ("entry was" if entries == 1 else "entries were")
                + f" validated against the project since {day}",
                "close the project in PSA and ERP, or move its time, then resolve this",
            )
            store.open_exception(gid, None, [problem.as_dict()], now)
            return []
        store.set_shell_status(gid, "cancelled", now)
        return [self._change(gid, {**held.attributes, "status": "cancelled"}, now, "cancelled")]

    @staticmethod
    def _change(gid: str, attrs: dict[str, Any], now: datetime, what: str) -> Change:
        return Change(
            source=HUB_SOURCE,
            domain="project",
            key=gid,
            op="upsert",
            event_id=f"shell:{gid}:{what}:{now.isoformat()}",
            attributes=attrs,
            changed_at=now,
        )

    def _client_ref(self, uow: UnitOfWork, client: GoldenRecord | None) -> str | None:
        """One live source record of the golden client, as ``source:key``: the shell names its
        client through it, so the reference follows the client through merges."""
        if client is None:
            return None
        live = [
            r
            for r in uow.records.linked_to([client.id]).get(client.id, [])
            if not r.deleted and r.source != HUB_SOURCE
        ]
        if not live:
            return None
        first = min(live, key=lambda r: (r.source, r.key))
        return f"{first.source}:{first.key}"

    def _lookup(self, uow: UnitOfWork) -> Lookup:
        """Active golden reference data by code, through the key index (the firm's own codes:
        issuer scope rank 0); remembered for the round, since thousands of projects share a
        handful of codes."""
        seen: dict[tuple[str, str], Golden | None] = {}

        def lookup(domain: str, code: str) -> Golden | None:
            if (domain, code) not in seen:
                view = {"code": code, ISSUER_FIELD: "rank:0"}
                keys = self.matcher.deterministic_keys(domain, view)
                ids = set().union(*uow.keys.find(domain, keys).values()) if keys else set()
                found = [g for g in uow.golden.load(sorted(ids)).values() if g.status == "active"]
                seen[(domain, code)] = _golden(found[0]) if len(found) == 1 else None
            return seen[(domain, code)]

        return lookup


def _quality_event(g: GoldenRecord, issues: list[dict[str, str]], now: datetime) -> dict[str, Any]:
    return outbox_entry(QualityChanged(g.domain, g.id, g.version, issues, now), now, None)


def _source_key(opp: GoldenRecord) -> str:
    """CRM's own key of the deal (the first source's when several hold it)."""
    keys = sorted((x["source"], x["key"]) for x in opp.xref if x.get("source") != HUB_SOURCE)
    return keys[0][1] if keys else opp.id
