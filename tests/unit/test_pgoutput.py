"""pgoutput messages, as PostgreSQL 15 sent them (bytes captured from a real slot)."""

from __future__ import annotations

import struct

import pytest

from connectors.inbound.pgoutput import (
    UNCHANGED,
    Begin,
    Commit,
    Parser,
    ProtocolError,
    RowChange,
    Skipped,
    Truncate,
    int_to_lsn,
    lsn_to_int,
    text_value,
)

RELATION = (
    b"R\x00\x00@\x00public\x00t\x00d\x00\x06\x01id\x00\x00\x00\x00\x17\xff\xff\xff\xff\x00"
    b"name\x00\x00\x00\x00\x19\xff\xff\xff\xff\x00d\x00\x00\x00\x04:\xff\xff\xff\xff\x00n\x00"
    b"\x00\x00\x06\xa4\xff\xff\xff\xff\x00b\x00\x00\x00\x00\x10\xff\xff\xff\xff\x00s\x00\x00"
    b"\x00\x03\xf1\xff\xff\xff\xff"
)
INSERT = (
    b"I\x00\x00@\x00N\x00\x06t\x00\x00\x00\x011t\x00\x00\x00\x01at\x00\x00\x00\n2026-01-02t"
    b'\x00\x00\x00\x031.5t\x00\x00\x00\x01tt\x00\x00\x00\t{x,"y z"}'
)
BEGIN = b"B\x00\x00\x00\x00\x01S\xb9\x18\x00\x03\x04%?n\x0b\xc5\x00\x00\x02\xd6"
COMMIT = b"C\x00\x00\x00\x00\x00\x01S\xb9\x18\x00\x00\x00\x00\x01S\xb9H\x00\x03\x04%?n\x0b\xc5"
DELETE = b"D\x00\x00@\x00K\x00\x06t\x00\x00\x00\x011nnnnn"


def test_a_transaction_parses_into_begin_relation_insert_commit() -> None:
    p = Parser()
    begin = p.parse(BEGIN)
    assert isinstance(begin, Begin)
    assert (int_to_lsn(begin.final_lsn), begin.xid) == ("0/153B918", 726)
    rel = p.parse(RELATION)
    assert [c.name for c in rel.columns] == ["id", "name", "d", "n", "b", "s"]  # type: ignore[union-attr]
    assert [c.is_key for c in rel.columns] == [True] + [False] * 5  # type: ignore[union-attr]
    insert = p.parse(INSERT)
    assert isinstance(insert, RowChange)
    assert insert.kind == "insert" and insert.relation.table == "public.t"
    assert insert.new == {"id": 1, "name": "a", "d": "2026-01-02", "n": 1.5, "b": True,
                          "s": ["x", "y z"]}  # fmt: skip
    commit = p.parse(COMMIT)
    assert isinstance(commit, Commit)
    assert commit.commit_lsn == begin.final_lsn
    assert commit.end_lsn == lsn_to_int("0/153B948")
    assert commit.committed_at == begin.committed_at


def test_a_delete_carries_the_key() -> None:
    p = Parser()
    p.parse(RELATION)
    delete = p.parse(DELETE)
    assert isinstance(delete, RowChange)
    assert delete.kind == "delete" and delete.new is None
    assert delete.old == {"id": 1, "name": None, "d": None, "n": None, "b": None, "s": None}


def test_an_update_with_an_unchanged_toasted_value_marks_it() -> None:
    p = Parser()
    p.parse(RELATION)
    update = b"U\x00\x00@\x00N\x00\x06t\x00\x00\x00\x011unnnn"
    change = p.parse(update)
    assert isinstance(change, RowChange)
    assert change.new is not None and change.new["name"] is UNCHANGED


def test_truncate_and_skipped_messages() -> None:
    p = Parser()
    p.parse(RELATION)
    assert p.parse(b"T" + struct.pack("!IBI", 1, 0, 0x4000)) == Truncate((p.relations[0x4000],))
    assert p.parse(b"Y\x00\x00\x00\x01") == Skipped("Y")


def test_a_change_before_its_relation_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="before its Relation"):
        Parser().parse(INSERT)
    with pytest.raises(ProtocolError, match="unknown pgoutput message"):
        Parser().parse(b"Z")


@pytest.mark.parametrize(
    ("text", "oid", "value"),
    [
        ("t", 16, True),
        ("f", 16, False),
        ("true", 16, True),
        ("false", 16, False),
        ("{t,f}", 1000, [True, False]),
        ("-42", 20, -42),
        ("100", 1700, 100),
        ("100.25", 1700, 100.25),
        ("2.5", 701, 2.5),
        ('{"a": [1]}', 3802, {"a": [1]}),
        ('{a,"b \\"c\\"",NULL,"d,e"}', 1009, ["a", 'b "c"', None, "d,e"]),
        ("{}", 1009, []),
        ("{1,2}", 1007, [1, 2]),
        ("2026-01-02", 1082, "2026-01-02"),
        (None, 25, None),
    ],
)
def test_text_values_become_python_values(text: str | None, oid: int, value: object) -> None:
    assert text_value(text, oid) == value


def test_a_boolean_spelled_otherwise_is_a_protocol_error_not_false() -> None:
    with pytest.raises(ProtocolError, match="not a boolean"):
        text_value("yes", 16)


def test_lsn_round_trip() -> None:
    assert lsn_to_int("16/B374D848") == 0x16B374D848
    assert int_to_lsn(0x16B374D848) == "16/B374D848"
