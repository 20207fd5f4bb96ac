"""The queue's sorts, claim views and page cursors (issue 16, item 6), without a database."""

from __future__ import annotations

import pytest

from stewardship.queue import BadFilter, QueueFilter, cursor, parse_cursor


def test_sort_and_claims_are_checked_and_kept_in_links_but_the_viewer_is_not() -> None:
    f = QueueFilter.parse({"sort": "age", "claims": "mine", "me": "mallory"}, set(), me="ann")
    assert (f.sort, f.claims, f.me) == ("age", "mine", "ann")  # me comes from the session
    assert f.query() == {"sort": "age", "claims": "mine"}
    with pytest.raises(BadFilter, match="sort: 'size'"):
        QueueFilter.parse({"sort": "size"}, set())
    with pytest.raises(BadFilter, match="claims: 'theirs'"):
        QueueFilter.parse({"claims": "theirs"}, set())


@pytest.mark.parametrize(
    ("sort", "row", "text", "place"),
    [
        ("", {"p0": 0.93, "p1": 7}, "0.93:7", (0.93, 7)),
        ("age", {"p0": 7}, "7", (7,)),
        ("source", {"p0": "a:b-crm", "p1": 7}, "a:b-crm:7", ("a:b-crm", 7)),
    ],
)
def test_a_cursor_reads_back_as_the_group_head_s_place(
    sort: str, row: dict[str, object], text: str, place: tuple[object, ...]
) -> None:
    assert cursor(sort, row) == text
    assert parse_cursor(sort, text) == place


def test_a_bad_cursor_is_no_place() -> None:
    assert parse_cursor("", "x:y") is None
    assert parse_cursor("age", "0.5:3") is None
    assert parse_cursor("source", ":3") is None
