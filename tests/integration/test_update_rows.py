"""``update_rows``, how an apply batch writes back golden records and source records: on
PostgreSQL one statement over a JSON document of the rows, which must store exactly what one
``UPDATE`` per row stored: every value as its column types it, awkward text, nested and
empty documents, nulls, timestamps with and without a zone, and the last of two rows with
the same keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from hub.bootstrap import Hub
from hub.store import tables as t
from hub.store.sql import is_postgres, table_of
from hub.store.update_rows import _each, update_rows

_SR = table_of(t.SourceRecordRow)
_KEYS = ("source_key", "source", "domain")
AWKWARD = [
    *("plain", "it's", 'say "hi"', "back\\slash", "[1, 2]", "ünïcødé ✓", "", "null", " x "),
    *("{a,b}", "a,b", "NULL", '\\"', "}", "tab\there", "line\nbreak", "emoji 🧾"),
]
WHEN = datetime(2026, 12, 6, 10, 30, 15, 123456, tzinfo=UTC)


def _attributes(n: int) -> dict[str, Any]:
    return {
        "name": AWKWARD[n % len(AWKWARD)],
        "all": AWKWARD,
        "nested": {"a": [1, 2.5, None, True, False], "b": {}, "c": [], "d": {"x": "y"}},
        "big": 2**62 + n,
        "float": 0.1 + n,
        "blank": None,
        "flag": n % 2 == 0,
    }


def _stored(n: int) -> dict[str, Any]:
    return {
        "source_key": f"k{n}",
        "source": "crm",
        "domain": "client",
        "golden_id": None,
        "attributes": {},
        "sequence": 1,
        "changed_at": WHEN,
        "digest": "d",
        "deleted": False,
        "link_rule": "",
        "updated_at": WHEN,
    }


def _change(n: int, when: datetime) -> dict[str, Any]:
    return {
        "source_key": f"k{n}",
        "source": "crm",
        "domain": "client",
        "golden_id": None if n % 3 == 0 else f"g-{n}",
        "attributes": _attributes(n),
        "sequence": 2**40 + n,
        "changed_at": when,
        "digest": f"digest-{n}",
        "deleted": n % 2 == 1,
        "link_rule": AWKWARD[(n + 3) % len(AWKWARD)],
        "updated_at": when,
    }


def _read(s: Session) -> dict[str, dict[str, Any]]:
    rows = s.execute(select(_SR).order_by(_SR.c.source_key)).mappings().all()
    return {r["source_key"]: {c: r[c] for c in _change(0, WHEN) if c in r} for r in rows}


def test_one_statement_stores_what_a_statement_per_row_stored(hub: Hub) -> None:
    """Rows 0-19 are updated by ``update_rows``, their twins 100-119 by one ``UPDATE`` a row;
    every column of each pair reads back the same, and as it was given."""
    naive = datetime(2026, 12, 6, 11, 0)  # UTC, as UtcDateTime stores a naive one
    zoned = datetime(2026, 12, 6, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    with Session(hub.engine) as s, s.begin():
        if is_postgres(s):  # a naive time read in the session's zone would be 9 hours off
            s.execute(text("SET LOCAL TIME ZONE 'Asia/Tokyo'"))
        s.execute(insert(_SR), [_stored(n) for n in [*range(20), *range(100, 120)]])
        mine = [_change(n, (naive, zoned, WHEN)[n % 3]) for n in range(20)]
        update_rows(s, _SR, _KEYS, mine)
        twins = [mine[n] | {"source_key": f"k{n + 100}"} for n in range(20)]
        each = [{"_" + c: v for c, v in row.items()} for row in twins]
        s.execute(_each(_SR, _KEYS, tuple(twins[0])), each)
    with Session(hub.engine) as s:
        stored = _read(s)
    for n in range(20):
        got, twin = dict(stored[f"k{n}"]), dict(stored[f"k{n + 100}"])
        got.pop("source_key"), twin.pop("source_key")
        assert got == twin, n
        want = _change(n, (naive.replace(tzinfo=UTC), zoned, WHEN)[n % 3])
        want.pop("source_key")
        assert got == want, n


def test_of_two_rows_with_the_same_keys_the_last_is_stored(hub: Hub) -> None:
    with Session(hub.engine) as s, s.begin():
        s.execute(insert(_SR), [_stored(1), _stored(2)])
        first, last = _change(1, WHEN), _change(1, WHEN)
        first["digest"], last["digest"] = "first", "last"
        update_rows(s, _SR, _KEYS, [first, _change(2, WHEN), last])
        update_rows(s, _SR, _KEYS, [])  # nothing to do, and no statement run
    with Session(hub.engine) as s:
        stored = _read(s)
    assert stored["k1"]["digest"] == "last"
    assert stored["k2"]["digest"] == "digest-2"


def test_rows_that_match_nothing_change_nothing(hub: Hub) -> None:
    with Session(hub.engine) as s, s.begin():
        s.execute(insert(_SR), [_stored(1)])
        update_rows(s, _SR, _KEYS, [_change(7, WHEN) | {"source": "erp"}, _change(8, WHEN)])
    with Session(hub.engine) as s:
        assert _read(s)["k1"]["digest"] == "d"
        assert set(_read(s)) == {"k1"}


def test_a_value_too_long_for_its_column_is_refused_not_cut(hub: Hub) -> None:
    """The document's strings are read without a length, so the column's own length decides
    as the value is stored: refused, as one ``UPDATE`` a row refused it (SQLite keeps no
    lengths)."""
    with Session(hub.engine) as s:
        if not is_postgres(s):
            pytest.skip("SQLite stores a string of any length in a VARCHAR(36)")
        s.execute(insert(_SR), [_stored(1)])
        with pytest.raises(DBAPIError, match="too long"):
            update_rows(s, _SR, _KEYS, [_change(1, WHEN) | {"golden_id": "g" * 37}])
