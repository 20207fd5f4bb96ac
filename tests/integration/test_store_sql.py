"""``one_of``, the set lookup every repository's batch reads go through: the same rows as a
plain ``IN`` on both stores, whatever the values hold, from a statement whose text does not
grow with the list (an expanded ``IN`` was re-rendered for every batch)."""

from __future__ import annotations

import pytest
from sqlalchemy import event, insert, select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from hub.bootstrap import Hub
from hub.store import tables as t
from hub.store.match_keys import SqlKeys
from hub.store.sql import Built, among, array_literal, chunks, listed, one_of, table_of

AWKWARD = [
    *("plain", "it's", 'say "hi"', "back\\slash", "[1, 2]", "ünïcødé ✓", "", "null", " x "),
    *("{a,b}", "a,b", "NULL", '\\"', "}", "tab\there"),  # PostgreSQL's array text's own marks
]


def _rows(s: Session) -> None:
    bk = table_of(t.BlockingKeyRow)
    s.execute(
        insert(bk),
        [{"domain": "client", "key": k, "golden_id": f"g{i}"} for i, k in enumerate(AWKWARD)],
    )


def test_one_of_finds_exactly_the_listed_values(hub: Hub) -> None:
    bk = table_of(t.BlockingKeyRow)
    with Session(hub.engine) as s, s.begin():
        _rows(s)
        for wanted in ([AWKWARD[1], AWKWARD[3], AWKWARD[6]], AWKWARD, ["absent", "null "]):
            found = s.scalars(select(bk.c.key).where(one_of(s, bk.c.key, wanted))).all()
            assert sorted(found) == sorted(set(wanted) & set(AWKWARD))
        ids = s.scalars(select(bk.c.id).where(bk.c.key.in_(AWKWARD[:4]))).all()
        by_id = s.scalars(select(bk.c.key).where(one_of(s, bk.c.id, ids))).all()
        assert sorted(by_id) == sorted(AWKWARD[:4])  # integers too


_BK = table_of(t.BlockingKeyRow)
_KEYS = Built(lambda pg: select(_BK.c.key).where(among(_BK.c.key, "keys", pg)))
_BY_ID = Built(lambda pg: select(_BK.c.key).where(among(_BK.c.id, "ids", pg)))


def test_a_built_statement_finds_exactly_the_values_bound_when_it_runs(hub: Hub) -> None:
    """The same lookup as ``one_of`` from a statement built once: awkward strings, integers
    and no values at all, each bound at execution."""
    with Session(hub.engine) as s, s.begin():
        _rows(s)
        assert _KEYS(s) is _KEYS(s)  # built once for this dialect, then kept
        for wanted in ([AWKWARD[1], AWKWARD[3], AWKWARD[6]], AWKWARD, ["absent", "null "], []):
            found = s.execute(_KEYS(s), {"keys": listed(s, wanted)}).scalars().all()
            assert sorted(found) == sorted(set(wanted) & set(AWKWARD))
        ids = s.scalars(select(_BK.c.id).where(_BK.c.key.in_(AWKWARD[:4]))).all()
        by_id = s.execute(_BY_ID(s), {"ids": listed(s, ids)}).scalars().all()
        assert sorted(by_id) == sorted(AWKWARD[:4])


def test_the_server_reads_the_listed_values_once_not_for_every_row(hub: Hub) -> None:
    """The values go as a parameter of array type (``$1::VARCHAR[]``), which the planner
    sees as a constant. Cast inside the statement (``CAST($1 AS VARCHAR[])``) they were an
    expression a sequential scan evaluated for every row it read: on a young hub's small
    tables the key lookups went from milliseconds to seconds, and the applier fell behind."""
    if hub.engine.dialect.name != "postgresql":
        pytest.skip("the plan is PostgreSQL's; SQLite reads a JSON array")
    with Session(hub.engine) as s, s.begin():
        _rows(s)
        s.execute(text("SET LOCAL enable_indexscan = off"))
        s.execute(text("SET LOCAL enable_bitmapscan = off"))  # a scan that reads every row
        wanted = ["plain", "absent", 'say "hi"']
        for stmt in (_KEYS(s), select(_BK.c.key).where(one_of(s, _BK.c.key, wanted))):
            compiled = stmt.compile(dialect=s.get_bind().dialect)
            given = {**compiled.params, "keys": listed(s, wanted)}
            raw = s.connection().connection.driver_connection
            with raw.cursor() as cur:
                cur.execute("EXPLAIN (VERBOSE) " + str(compiled), given)
                plan = "\n".join(row[0] for row in cur.fetchall())
            assert "Seq Scan" in plan
            assert "cstring" not in plan and "CAST" not in str(compiled), plan


def test_only_strings_and_integers_are_listed_on_either_database(hub: Hub) -> None:
    """SQLite's JSON would hold a bool, and match the row whose id is 1."""
    with Session(hub.engine) as s:
        assert listed(s, ["a", 1])
        for wrong in ([1.5], [True], ["a", None]):
            with pytest.raises(TypeError):
                listed(s, wrong)


def test_a_built_statement_run_without_its_values_is_refused(hub: Hub) -> None:
    """A misnamed parameter ran as a lookup of nothing: a delete that deleted nothing."""
    with Session(hub.engine) as s, s.begin():
        _rows(s)
        with pytest.raises(StatementError):
            s.execute(_KEYS(s), {"key": listed(s, ["plain"])})


def test_a_key_longer_than_the_index_holds_is_found_under_its_first_characters(
    hub: Hub,
) -> None:
    """The index keeps a key cut to its column's length; a lookup of the whole key found
    nothing on either database, so a record with a long identifier made a second golden
    record instead of joining its own."""
    long, other = "d:code:" + "x" * 700, "d:code:" + "x" * 650
    gid = "0" * 36
    with Session(hub.engine) as s, s.begin():
        keys = SqlKeys(s)
        keys.replace("client", {gid: {long, "short"}})
        assert keys.find("client", [long, "short", "absent"]) == {long: {gid}, "short": {gid}}
        # another long key with the same first characters stands for the same index entry
        assert keys.count("client", [long, other, "short"]) == {long: 1, other: 1, "short": 1}


def test_one_of_does_not_cut_a_longer_value_to_the_column_s_length(hub: Hub) -> None:
    """A cast to ``VARCHAR(36)[]`` cut each value to 36 characters, so a longer value found
    the row named by its first 36."""
    bk = table_of(t.BlockingKeyRow)
    gid = "0" * 36
    with Session(hub.engine) as s, s.begin():
        s.execute(insert(bk), [{"domain": "client", "key": "k", "golden_id": gid}])
        assert s.scalars(select(bk.c.key).where(one_of(s, bk.c.golden_id, [gid]))).all() == ["k"]
        longer = s.scalars(select(bk.c.key).where(one_of(s, bk.c.golden_id, [gid + "0"]))).all()
        assert longer == []


def test_one_of_keeps_one_statement_text_for_any_number_of_values(hub: Hub) -> None:
    bk = table_of(t.BlockingKeyRow)
    sent: set[str] = set()

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        sent.add(statement)

    event.listen(hub.engine, "before_cursor_execute", seen)
    try:
        with Session(hub.engine) as s:
            for part in [["one"], *chunks([f"k{i}" for i in range(1000)], 7)]:
                s.execute(select(bk.c.id).where(one_of(s, bk.c.key, part))).all()
    finally:
        event.remove(hub.engine, "before_cursor_execute", seen)
    assert len({q for q in sent if "blocking_key" in q}) == 1


def test_array_text_is_made_for_strings_and_integers_only() -> None:
    """Any other value goes to psycopg as a list: its text form is psycopg's to make."""
    assert array_literal(["a", 'b"', "c\\"]) == '{"a","b\\"","c\\\\"}'
    assert array_literal([1, 22]) == '{"1","22"}'
    assert array_literal([]) == "{}"
    assert array_literal(["a", None]) is None
    assert array_literal([1.5]) is None
    assert array_literal([True]) is None  # a bool is an int to Python, not to PostgreSQL
