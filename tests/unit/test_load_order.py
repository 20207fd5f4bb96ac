"""A bulk load's rows go into the inbox neighbours by blocking keys, each record's rows in
their own order (hub/services/load_order.py)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from hub.services.load_order import neighbourhood_order


@dataclass(frozen=True)
class Row:
    key: str
    name: str
    n: int  # its place in the file


def _keys(row: Row) -> list[str]:
    return [f"b:first:{row.name.split()[0]}", f"b:name:{row.name}"] if row.name else []


def test_rows_that_share_a_blocking_key_come_together() -> None:
    names = ["Zeta Ltd", "Acme Ltd", "Beta plc", "Acme Holdings", "Zeta Group", ""]
    rows = [Row(f"K{i}", name, i) for i, name in enumerate(names)]
    ordered = neighbourhood_order(rows, _keys)
    assert [r.name for r in ordered] == [
        "",  # fills no rule: meets no candidate
        "Acme Holdings",
        "Acme Ltd",
        "Beta plc",
        "Zeta Group",
        "Zeta Ltd",
    ]


def test_a_records_rows_keep_their_order_where_its_first_row_sorts() -> None:
    # K1 is named twice: its later row sorts by the first one's keys, after it
    rows = [
        Row("K1", "Zeta Ltd", 0),
        Row("K2", "Acme Ltd", 1),
        Row("K1", "Acme Renamed", 2),
        Row("K3", "Beta plc", 3),
        Row("K1", "Alpha Again", 4),
    ]
    ordered = neighbourhood_order(rows, _keys)
    assert [(r.key, r.n) for r in ordered] == [
        ("K2", 1),
        ("K3", 3),
        ("K1", 0),
        ("K1", 2),
        ("K1", 4),
    ]


def test_equal_keys_keep_file_order_and_nothing_is_lost() -> None:
    rng = random.Random(7)
    rows = [
        Row(f"K{rng.randrange(60)}", rng.choice(["A x", "B y", "A z", ""]), i) for i in range(400)
    ]
    ordered = neighbourhood_order(rows, _keys)
    assert sorted(ordered, key=lambda r: r.n) == rows  # a permutation: every row, once
    first: dict[str, tuple[tuple[str, ...], int]] = {}
    for r in rows:
        first.setdefault(r.key, (tuple(_keys(r)), r.n))
    places = [(first[r.key], r.n) for r in ordered]
    assert places == sorted(places)  # by the first row's keys, then file order
    for key in {r.key for r in rows}:  # each record's rows in file order
        mine = [r.n for r in ordered if r.key == key]
        assert mine == sorted(mine)


def test_a_row_whose_keys_fail_goes_first_and_stops_nothing() -> None:
    def keys(row: Row) -> list[str]:
        if row.name == "Broken":
            raise ValueError("name: cannot normalise")
        return _keys(row)

    rows = [Row("K1", "Zeta Ltd", 0), Row("K2", "Broken", 1), Row("K3", "Acme Ltd", 2)]
    assert [r.key for r in neighbourhood_order(rows, keys)] == ["K2", "K3", "K1"]
