"""The steward page's small rules, without I/O: throttling, typed overrides, queue filters,
history diffs and the login redirect."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hub.config import Settings
from hub.domain.errors import ConcordError
from stewardship.accounts import lock_seconds
from stewardship.queue import BadFilter, QueueFilter
from stewardship.records import history_diffs
from stewardship.routes_auth import _safe_next
from stewardship.routes_golden import typed_value
from stewardship.security import session_secret


def test_lock_grows_after_five_failures_and_is_capped() -> None:
    assert [lock_seconds(n) for n in range(5)] == [0] * 5
    assert [lock_seconds(n) for n in (5, 6, 7)] == [30, 60, 120]
    assert lock_seconds(50) == 15 * 60


def test_override_text_becomes_the_fields_type() -> None:
    assert typed_value("number", "cost_rate", "85.5") == 85.5
    assert typed_value("boolean", "billable", "yes") is True
    assert typed_value("date", "start_date", "2026-02-01") == "2026-02-01"
    assert typed_value("list", "skills", "java, , sql") == ["java", "sql"]
    assert typed_value("string", "name", "  Acme  ") == "Acme"
    assert typed_value("map", "rates", "senior=1200; analyst=800") == {
        "senior": 1200,
        "analyst": 800,
    }
    with pytest.raises(ConcordError, match="field rates: 'senior' is not a valid map"):
        typed_value("map", "rates", "senior")
    with pytest.raises(ConcordError, match="field cost_rate: 'cheap' is not a valid number"):
        typed_value("number", "cost_rate", "cheap")
    with pytest.raises(ConcordError, match="start_date"):
        typed_value("date", "start_date", "1 Feb")


def test_queue_filter_refuses_what_it_does_not_know() -> None:
    f = QueueFilter.parse({"domain": "client", "band": "high", "other": "x"}, {"client"})
    assert f.query() == {"domain": "client", "band": "high"}
    assert f.query(after="0.9:3") == {"domain": "client", "band": "high", "after": "0.9:3"}
    assert f.without_domain().query() == {"band": "high"}
    with pytest.raises(BadFilter, match="domain: unknown domain 'planet'"):
        QueueFilter.parse({"domain": "planet"}, {"client"})
    with pytest.raises(BadFilter, match="band"):
        QueueFilter.parse({"band": "huge"}, {"client"})


def test_history_shows_before_and_after_per_changed_field_newest_first() -> None:
    history = [
        {"version": 1, "attributes": {"name": "Acme"}, "changed_fields": ["name"]},
        {"version": 2, "attributes": {"name": "Acme Ltd", "city": "Leeds"}, "changed_fields": []},
    ]
    v2, v1 = history_diffs(history)
    assert v1["diffs"] == [{"field": "name", "before": None, "after": "Acme"}]
    assert {d["field"]: (d["before"], d["after"]) for d in v2["diffs"]} == {
        "name": ("Acme", "Acme Ltd"),
        "city": (None, "Leeds"),
    }


def test_login_only_sends_back_to_the_steward_page() -> None:
    assert _safe_next("/steward/candidates/3") == "/steward/candidates/3"
    for bad in ("https://evil.example/", "//evil.example", "/api/v1/feed", "/steward/login"):
        assert _safe_next(bad) == "/steward/"


def test_session_secret_is_kept_beside_sqlite_and_required_on_postgres(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/c.db"
    first = session_secret(Settings(database_url=url))
    assert len(first) >= 32 and session_secret(Settings(database_url=url)) == first
    with pytest.raises(ConcordError, match="CONCORD_SESSION_SECRET"):
        session_secret(Settings(database_url="postgresql+psycopg://u@h/db"))
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(session_secret="short")  # type: ignore[arg-type]


def test_level_is_the_one_the_matcher_scored() -> None:
    from matching import DEFAULT_SPECS
    from stewardship.records import level_of

    by_label = {c.label: c for c in DEFAULT_SPECS["client"]().comparisons}
    name = by_label["name"]
    assert level_of(name, {"name": "Acme Ltd"}, {"name": "ACME Limited"}) == name.level_names[0]
    assert level_of(name, {"name": "Acme"}, {"name": "Zenith Partners"}) == name.level_names[-1]
    assert level_of(name, {}, {"name": "Acme"}) == "missing"
    assert level_of(None, {"name": "a"}, {"name": "a"}) == ""
