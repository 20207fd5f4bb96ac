"""May this time be posted? The rules that check time entries against golden records.

A timekeeping system asks before it sends time on to the ERP, so finance learns at entry time,
not at month end, that a consultant booked a closed project or one they are not staffed on.
This module only decides; the store loads what it needs (``hub.store.time_entries``) and the
API (``hub.api.time_entries``) wires the two, so every rule here is testable without a database.

"Active on a date" means the same for a project, a resource and an assignment:

* the date lies within the record's ``start_date`` .. ``end_date``, both ends included, and an
  absent end is open;
* and the record's status *on that date* is not one of the domain's inactive statuses (from
  configuration: a project ``closed``, a resource ``leaver``, an assignment ``cancelled``).

The status on a date is read from the golden record's history, because a project the ERP closes
on the 15th must still take time dated the 10th: each golden version counts from the day the hub
recorded it (UTC), and the status on a date is that of the last version recorded on or before
it. Before the first version, the first version's status holds (a project first seen closed is
taken to have always been closed: the hub cannot tell when it closed). A golden record that was
retired (every source deleted it) counts as inactive from that version on.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from hub.domain.errors import ConfigError

REASONS: tuple[str, ...] = (
    "unknown_project",
    "unknown_resource",
    "project_not_active_on_date",
    "project_not_billable",
    "invalid_dimension",
    "resource_not_active_on_date",
    "not_assigned_on_date",
    "hours_out_of_range",
    "invalid_labor_code",
)
"""Every reason a time entry can be rejected for, in the order they are reported."""

RETIRED = "retired"
"""The status of a version whose golden record was retired; inactive in every domain."""

DEFAULT_INACTIVE: dict[str, tuple[str, ...]] = {
    "project": ("proposed", "closed", "cancelled"),
    "resource": ("leaver", "terminated", "inactive"),
    "assignment": ("proposed", "cancelled"),
    "labor_code": ("inactive", "closed", "retired"),
}


@dataclass(frozen=True)
class TimeRules:
    """The firm's rules for time entries (``time_entries`` in concord.yaml).

    Attributes:
        hours_min: Fewest hours one entry may carry, included.
        hours_max: Most hours one entry may carry, included.
        labor_codes: The labour codes accepted; empty accepts any code, or none.
        labor_codes_from_reference: The codes are the hub's active ``labor_code`` records,
            so an empty set accepts no code (every labour code was closed), not any.
        inactive: Per domain (project, resource, assignment), statuses (case-insensitive) under
            which no time may be posted.
    """

    hours_min: float = 0.25
    hours_max: float = 24.0
    labor_codes: frozenset[str] = frozenset()
    labor_codes_from_reference: bool = False
    inactive: Mapping[str, frozenset[str]] = field(
        default_factory=lambda: {d: frozenset(s) for d, s in DEFAULT_INACTIVE.items()}
    )

    def is_inactive(self, domain: str, status: str | None) -> bool:
        if status == RETIRED:
            return True
        return (status or "").casefold() in self.inactive.get(domain, frozenset())


@dataclass(frozen=True)
class Lifespan:
    """What the rules need of one golden project, resource or assignment.

    Attributes:
        golden_id: The golden record's id, reported back to the caller.
        start: First day the record is active; ``None`` is open.
        end: Last day the record is active; ``None`` is open.
        statuses: ``(from day, status)`` pairs, oldest first, one per golden version.
        billable: A project's golden ``billable``; ``None`` when no source says.
        resource: An assignment's golden resource id.
        project: An assignment's golden project id.
        invalid_dimension: A project whose financial dimensions have open data-quality
            issues (unknown, closed or disagreeing): no time until they are fixed.
    """

    golden_id: str
    start: date | None = None
    end: date | None = None
    statuses: tuple[tuple[date, str], ...] = ()
    billable: bool | None = None
    resource: str | None = None
    project: str | None = None
    invalid_dimension: bool = False

    def status_on(self, day: date) -> str:
        """The status of the last version recorded on or before ``day`` (see module doc).

        Examples:
            >>> span = Lifespan("p", statuses=((date(2026, 1, 5), "active"),
            ...                                (date(2026, 3, 15), "closed")))
            >>> span.status_on(date(2026, 3, 14)), span.status_on(date(2026, 3, 15))
            ('active', 'closed')
        """
        if not self.statuses:
            return ""
        current = self.statuses[0][1]
        for since, status in self.statuses:
            if since > day:
                break
            current = status
        return current

    def active_on(self, domain: str, day: date, rules: TimeRules) -> bool:
        if self.start is not None and day < self.start:
            return False
        if self.end is not None and day > self.end:
            return False
        return not rules.is_inactive(domain, self.status_on(day))


@dataclass(frozen=True)
class TimeEntry:
    """One entry as the timekeeping source sent it, in that source's own keys."""

    id: str
    resource_key: str
    project_key: str
    date: date
    hours: float
    billable: bool
    labor_code: str | None = None


@dataclass(frozen=True)
class Verdict:
    """``ok``, or ``rejected`` with reasons from :data:`REASONS`; the golden ids it used."""

    id: str
    verdict: str
    reasons: tuple[str, ...]
    golden: dict[str, str | None]


def _project_reasons(entry: TimeEntry, project: Lifespan, rules: TimeRules) -> list[str]:
    """What is wrong with booking ``entry`` on a known project, in the order reasons are told."""
    reasons = []
    if not project.active_on("project", entry.date, rules):
        reasons.append("project_not_active_on_date")
    if entry.billable and project.billable is False:
        reasons.append("project_not_billable")
    if project.invalid_dimension:
        reasons.append("invalid_dimension")
    return reasons


def _assignment_on(
    day: date,
    project: Lifespan,
    resource: Lifespan,
    assignments: Iterable[Lifespan],
    rules: TimeRules,
) -> Lifespan | None:
    """The first of the pair's assignments active on ``day``: it is the one the entry cites."""
    return next(
        (
            a
            for a in assignments
            if a.resource == resource.golden_id
            and a.project == project.golden_id
            and a.active_on("assignment", day, rules)
        ),
        None,
    )


def check_entry(
    entry: TimeEntry,
    rules: TimeRules,
    project: Lifespan | None,
    resource: Lifespan | None,
    assignments: Iterable[Lifespan] = (),
) -> Verdict:
    """Judge one entry against its golden project, resource and their assignments.

    Args:
        entry: The time entry.
        rules: The firm's rules.
        project: The golden project the entry's ``project_key`` resolves to, ``None`` if unknown.
        resource: The golden resource of ``resource_key``, ``None`` if unknown.
        assignments: The pair's assignments, in the order to try them (others are ignored,
            so passing all of the resource's assignments is fine).

    Examples:
        >>> p, r = Lifespan("P1", start=date(2026, 1, 1)), Lifespan("R1")
        >>> a = Lifespan("A1", resource="R1", project="P1")
        >>> e = TimeEntry("e1", "T-7", "PRJ-1", date(2026, 2, 2), 8, True, None)
        >>> check_entry(e, TimeRules(), p, r, [a]).verdict
        'ok'
        >>> check_entry(e, TimeRules(hours_max=7), p, None, [a]).reasons
        ('unknown_resource', 'hours_out_of_range')
    """
    reasons: list[str] = []
    day = entry.date
    if project is None:
        reasons.append("unknown_project")
    if resource is None:
        reasons.append("unknown_resource")
    if project is not None:
        reasons.extend(_project_reasons(entry, project, rules))
    if resource is not None and not resource.active_on("resource", day, rules):
        reasons.append("resource_not_active_on_date")
    assignment = None
    if project is not None and resource is not None:
        assignment = _assignment_on(day, project, resource, assignments, rules)
        if assignment is None:
            reasons.append("not_assigned_on_date")
    if not (rules.hours_min <= entry.hours <= rules.hours_max) or not math.isfinite(entry.hours):
        reasons.append("hours_out_of_range")
    checked = rules.labor_codes or rules.labor_codes_from_reference
    if checked and entry.labor_code not in rules.labor_codes:
        reasons.append("invalid_labor_code")
    return Verdict(
        id=entry.id,
        verdict="rejected" if reasons else "ok",
        reasons=tuple(reasons),
        golden={
            "project": project.golden_id if project else None,
            "resource": resource.golden_id if resource else None,
            "assignment": assignment.golden_id if assignment else None,
        },
    )


def check_entries(
    entries: Sequence[TimeEntry],
    rules: TimeRules,
    projects: Mapping[str, Lifespan],
    resources: Mapping[str, Lifespan],
    assignments: Mapping[tuple[str, str], Sequence[Lifespan]],
) -> list[Verdict]:
    """One verdict per entry, in order.

    Args:
        entries: The batch.
        rules: The firm's rules.
        projects: Golden project by the calling source's project key.
        resources: Golden resource by the calling source's resource key.
        assignments: Assignments by (golden resource id, golden project id).
    """
    out = []
    for e in entries:
        resource, project = resources.get(e.resource_key), projects.get(e.project_key)
        pair: Sequence[Lifespan] = ()
        if resource is not None and project is not None:
            pair = assignments.get((resource.golden_id, project.golden_id), ())
        out.append(check_entry(e, rules, project, resource, pair))
    return out


def parse_day(value: Any) -> date | None:
    """A golden date field as a date; anything else (blank, malformed) as ``None``.

    Golden dates were checked as ``YYYY-MM-DD`` at ingest, but a steward override or an older
    record may hold something else, and one odd record must not fail a whole batch.
    """
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _number(raw: Any, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise ConfigError(f"{where}: expected a number, got {raw!r}")
    return float(raw)


def parse_time_rules(raw: Any) -> TimeRules:
    """The ``time_entries`` section of concord.yaml, validated.

    Raises:
        ConfigError: Naming the key at fault (``time_entries.hours.min`` ...).

    Examples:
        >>> parse_time_rules({"hours": {"max": 12}, "labor_codes": ["DEV"]}).hours_max
        12.0
    """
    if raw is None:
        return TimeRules()
    if not isinstance(raw, dict):
        raise ConfigError("time_entries: expected a mapping")
    unknown = set(raw) - {"hours", "labor_codes", "inactive_statuses"}
    if unknown:
        raise ConfigError(f"time_entries: unknown key {sorted(unknown)[0]!r}")
    hours = raw.get("hours") or {}
    if not isinstance(hours, dict):
        raise ConfigError("time_entries.hours: expected a mapping with min and max")
    unknown = set(hours) - {"min", "max"}
    if unknown:
        raise ConfigError(f"time_entries.hours: unknown key {sorted(unknown)[0]!r}")
    low = _number(hours.get("min", 0.25), "time_entries.hours.min")
    high = _number(hours.get("max", 24), "time_entries.hours.max")
    if low < 0:
        raise ConfigError("time_entries.hours.min: must not be negative")
    if high < low:
        raise ConfigError(f"time_entries.hours.max: {high} is below min {low}")
    codes = raw.get("labor_codes") or []
    if not isinstance(codes, list) or not all(isinstance(c, str) and c for c in codes):
        raise ConfigError(f"time_entries.labor_codes: expected a list of codes, got {codes!r}")
    statuses = raw.get("inactive_statuses") or {}
    if not isinstance(statuses, dict):
        raise ConfigError("time_entries.inactive_statuses: expected a mapping of domain to list")
    inactive = {d: frozenset(s) for d, s in DEFAULT_INACTIVE.items()}
    for domain, names in statuses.items():
        where = f"time_entries.inactive_statuses.{domain}"
        if domain not in DEFAULT_INACTIVE:
            raise ConfigError(f"{where}: unknown domain (one of {', '.join(DEFAULT_INACTIVE)})")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ConfigError(f"{where}: expected a list of statuses, got {names!r}")
        inactive[domain] = frozenset(n.casefold() for n in names)
    return TimeRules(low, high, frozenset(codes), inactive=inactive)
