"""The time-entry rules, edge by edge, without a database."""

from __future__ import annotations

from datetime import date

import pytest

from hub.config import load_config
from hub.domain.errors import ConfigError
from hub.domain.timecheck import (
    REASONS,
    RETIRED,
    Lifespan,
    TimeEntry,
    TimeRules,
    check_entries,
    check_entry,
    parse_day,
    parse_time_rules,
)

D = date.fromisoformat
RULES = TimeRules(labor_codes=frozenset({"DEV", "PM"}))
PROJECT = Lifespan(
    "P",
    start=D("2026-01-01"),
    end=D("2026-06-30"),
    statuses=((D("2025-12-01"), "active"),),
    billable=True,
)
RESOURCE = Lifespan("R", start=D("2025-01-01"), end=D("2026-12-31"))
STAFFED = Lifespan("A", start=D("2026-02-01"), end=D("2026-03-31"), resource="R", project="P")


def entry(day: str, hours: float = 8, billable: bool = True, code: str | None = "DEV") -> TimeEntry:
    return TimeEntry("e", "T-1", "TP-1", D(day), hours, billable, code)


def reasons(
    e: TimeEntry,
    project: Lifespan | None = PROJECT,
    resource: Lifespan | None = RESOURCE,
    assignments: tuple[Lifespan, ...] = (STAFFED,),
    rules: TimeRules = RULES,
) -> tuple[str, ...]:
    return check_entry(e, rules, project, resource, assignments).reasons


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        ("2026-01-31", ("not_assigned_on_date",)),
        ("2026-02-01", ()),
        ("2026-03-31", ()),
        ("2026-04-01", ("not_assigned_on_date",)),
    ],
)
def test_assignment_dates_are_inclusive(day: str, expected: tuple[str, ...]) -> None:
    assert reasons(entry(day)) == expected


@pytest.mark.parametrize(
    ("day", "ok"),
    [("2025-12-31", False), ("2026-01-01", True), ("2026-06-30", True), ("2026-07-01", False)],
)
def test_project_dates_are_inclusive(day: str, ok: bool) -> None:
    open_assignment = Lifespan("A2", resource="R", project="P")
    got = reasons(entry(day), assignments=(open_assignment,))
    assert got == (() if ok else ("project_not_active_on_date",))


@pytest.mark.parametrize(
    ("day", "ok"),
    [("2024-12-31", False), ("2025-01-01", True), ("2026-12-31", True), ("2027-01-01", False)],
)
def test_resource_dates_are_inclusive(day: str, ok: bool) -> None:
    everywhere = Lifespan("P2")
    staffed = Lifespan("A2", resource="R", project="P2")
    got = reasons(entry(day), project=everywhere, assignments=(staffed,))
    assert got == (() if ok else ("resource_not_active_on_date",))


def test_closed_after_the_entry_date_is_ok_for_that_date() -> None:
    closed_in_march = Lifespan(
        "P",
        statuses=((D("2026-01-05"), "active"), (D("2026-03-15"), "Closed")),
    )
    staffed = Lifespan("A", resource="R", project="P")
    assert reasons(entry("2026-03-14"), project=closed_in_march, assignments=(staffed,)) == ()
    assert reasons(entry("2026-03-15"), project=closed_in_march, assignments=(staffed,)) == (
        "project_not_active_on_date",
    )
    # Before the hub first saw the project, its first known status holds.
    assert reasons(entry("2025-11-11"), project=closed_in_march, assignments=(staffed,)) == ()


def test_reopened_project_counts_as_closed_while_it_was() -> None:
    span = Lifespan(
        "P",
        statuses=(
            (D("2026-01-01"), "active"),
            (D("2026-02-01"), "closed"),
            (D("2026-03-01"), "active"),
        ),
    )
    assert [span.status_on(D(d)) for d in ("2026-01-31", "2026-02-15", "2026-03-01")] == [
        "active",
        "closed",
        "active",
    ]


def test_retired_is_inactive_in_every_domain() -> None:
    gone = Lifespan("P", statuses=((D("2026-01-01"), RETIRED),))
    assert not gone.active_on("project", D("2026-05-05"), RULES)
    assert not gone.active_on("assignment", D("2026-05-05"), RULES)


def test_first_known_status_holds_before_it() -> None:
    born_closed = Lifespan("P", statuses=((D("2026-05-01"), "closed"),))
    assert born_closed.status_on(D("2026-01-01")) == "closed"
    assert Lifespan("P").status_on(D("2026-01-01")) == ""


def test_leaver_resource_and_cancelled_assignment() -> None:
    leaver = Lifespan("R", statuses=((D("2026-02-28"), "leaver"),))
    assert reasons(entry("2026-02-10"), resource=leaver) == ("resource_not_active_on_date",)
    cancelled = Lifespan("A", resource="R", project="P", statuses=((D("2026-01-01"), "cancelled"),))
    assert reasons(entry("2026-02-10"), assignments=(cancelled,)) == ("not_assigned_on_date",)


def test_another_resources_or_projects_assignment_does_not_count() -> None:
    others = (
        Lifespan("A1", resource="R", project="OTHER"),
        Lifespan("A2", resource="SOMEONE", project="P"),
    )
    assert reasons(entry("2026-02-10"), assignments=others) == ("not_assigned_on_date",)


def test_the_first_matching_assignment_is_reported() -> None:
    later = Lifespan("A9", resource="R", project="P", start=D("2026-02-05"))
    verdict = check_entry(entry("2026-02-10"), RULES, PROJECT, RESOURCE, [STAFFED, later])
    assert verdict.golden == {"project": "P", "resource": "R", "assignment": "A"}
    verdict = check_entry(entry("2026-02-03"), RULES, PROJECT, RESOURCE, [later, STAFFED])
    assert verdict.golden["assignment"] == "A"  # A9 has not started yet


def test_billable_time_on_a_non_billable_project() -> None:
    internal = Lifespan("P", billable=False)
    staffed = Lifespan("A", resource="R", project="P")
    assert reasons(entry("2026-02-10"), project=internal, assignments=(staffed,)) == (
        "project_not_billable",
    )
    unbilled = entry("2026-02-10", billable=False)
    assert reasons(unbilled, project=internal, assignments=(staffed,)) == ()
    unknown = Lifespan("P", billable=None)  # no source says: not a reason to refuse
    assert reasons(entry("2026-02-10"), project=unknown, assignments=(staffed,)) == ()


@pytest.mark.parametrize(
    ("hours", "ok"),
    [(0.24, False), (0.25, True), (24, True), (24.01, False), (-1, False), (float("nan"), False)],
)
def test_hours_range_is_inclusive(hours: float, ok: bool) -> None:
    assert reasons(entry("2026-02-10", hours=hours)) == (() if ok else ("hours_out_of_range",))


def test_labor_codes() -> None:
    assert reasons(entry("2026-02-10", code="PM")) == ()
    assert reasons(entry("2026-02-10", code="pm")) == ("invalid_labor_code",)
    assert reasons(entry("2026-02-10", code=None)) == ("invalid_labor_code",)
    anything = TimeRules()
    assert reasons(entry("2026-02-10", code=None), rules=anything) == ()


def test_unknown_keys_skip_what_cannot_be_judged() -> None:
    # Without both records there is no assignment to look for, so none is missing.
    assert reasons(entry("2026-02-10"), project=None, assignments=()) == ("unknown_project",)
    assert reasons(entry("2026-02-10"), resource=None, assignments=()) == ("unknown_resource",)
    # What is known is still judged: the project is over by 2030.
    assert reasons(entry("2030-01-01"), resource=None) == (
        "unknown_resource",
        "project_not_active_on_date",
    )
    both = check_entry(entry("2026-02-10", hours=30), RULES, None, None, [STAFFED])
    assert both.reasons == ("unknown_project", "unknown_resource", "hours_out_of_range")
    assert both.golden == {"project": None, "resource": None, "assignment": None}


def test_reasons_come_in_the_fixed_order() -> None:
    closed = Lifespan("P", billable=False, statuses=((D("2026-01-01"), "closed"),))
    gone = Lifespan("R", end=D("2026-01-01"))
    got = reasons(entry("2026-02-10", hours=0, code="X"), closed, gone, assignments=())
    assert got == (
        "project_not_active_on_date",
        "project_not_billable",
        "resource_not_active_on_date",
        "not_assigned_on_date",
        "hours_out_of_range",
        "invalid_labor_code",
    )
    assert set(got) <= set(REASONS)


def test_check_entries_looks_up_by_the_callers_keys() -> None:
    entries = [
        TimeEntry("1", "T-1", "TP-1", D("2026-02-10"), 8, True, "DEV"),
        TimeEntry("2", "T-2", "TP-1", D("2026-02-10"), 8, True, "DEV"),
    ]
    staffed = {("R", "P"): [STAFFED]}
    out = check_entries(entries, RULES, {"TP-1": PROJECT}, {"T-1": RESOURCE}, staffed)
    assert [(v.id, v.verdict, v.reasons) for v in out] == [
        ("1", "ok", ()),
        ("2", "rejected", ("unknown_resource",)),
    ]


def test_parse_day() -> None:
    assert parse_day("2026-02-28") == D("2026-02-28")
    assert parse_day("2026-02-30") is None
    assert parse_day(None) is None
    assert parse_day(20260228) is None


def test_rules_from_configuration() -> None:
    config = load_config(
        text="time_entries: {hours: {max: 10}, labor_codes: [DEV], "
        "inactive_statuses: {project: [Done]}}"
    )
    rules = config.time_rules
    assert (rules.hours_min, rules.hours_max, rules.labor_codes) == (0.25, 10.0, {"DEV"})
    assert rules.is_inactive("project", "done")
    assert not rules.is_inactive("project", "closed")  # the firm replaced the list
    assert rules.is_inactive("resource", "leaver")  # the default stays


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("time_entries: []", "time_entries: expected a mapping"),
        ("time_entries: {hour: {}}", "time_entries: unknown key 'hour'"),
        ("time_entries: {hours: {min: x}}", "time_entries.hours.min"),
        ("time_entries: {hours: {min: -1}}", "time_entries.hours.min"),
        ("time_entries: {hours: {min: 5, max: 4}}", "time_entries.hours.max"),
        ("time_entries: {hours: {max: true}}", "time_entries.hours.max"),
        ("time_entries: {hours: {avg: 1}}", "time_entries.hours: unknown key 'avg'"),
        ("time_entries: {labor_codes: DEV}", "time_entries.labor_codes"),
        ("time_entries: {inactive_statuses: {client: [x]}}", "inactive_statuses.client"),
        ("time_entries: {inactive_statuses: {project: closed}}", "inactive_statuses.project"),
    ],
)
def test_bad_rules_name_the_key(text: str, names: str) -> None:
    with pytest.raises(ConfigError, match=names.replace(".", r"\.").replace("[", r"\[")):
        load_config(text=text)


def test_default_rules_parse() -> None:
    assert parse_time_rules(None) == TimeRules()
    assert load_config().time_rules.hours_max == 24


def test_a_project_with_dimension_issues_takes_no_time() -> None:
    flagged = Lifespan("p1", statuses=((date(2026, 1, 1), "active"),), invalid_dimension=True)
    entry = TimeEntry("e1", "r", "p", date(2026, 3, 2), 8.0, True, "DEV")
    person = Lifespan("r1", statuses=((date(2026, 1, 1), "active"),))
    staffed = Lifespan("a1", resource="r1", project="p1", statuses=((date(2026, 1, 1), "x"),))
    verdict = check_entry(entry, RULES, flagged, person, [staffed])
    assert verdict.reasons == ("invalid_dimension",)
