"""Set helpers of the apply batch (hub/services/batch.py)."""

from __future__ import annotations

from hub.services.batch import absent


def test_absent_is_the_ids_not_held_whatever_the_mapping_holds() -> None:
    held = {f"g{i}": object() for i in range(1000)}
    assert absent({"g1", "g5000", "x"}, held) == {"g5000", "x"}
    assert absent([], held) == set()
    assert absent([("crm", "client", "A")], {("crm", "client", "B"): 1}) == {("crm", "client", "A")}
