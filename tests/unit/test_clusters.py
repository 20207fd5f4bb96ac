"""The queue's rows of one record stand together, where the likeliest of them stands."""

from stewardship.clusters import grouped


def test_a_record_s_candidates_follow_its_likeliest() -> None:
    rows = [
        {"id": 1, "source_record_id": 7, "probability": 0.9},
        {"id": 2, "source_record_id": 8, "probability": 0.8},
        {"id": 3, "source_record_id": 7, "probability": 0.7},
        {"id": 4, "source_record_id": 9, "probability": 0.6},
    ]
    assert [r["id"] for r in grouped(rows)] == [1, 3, 2, 4]
    assert grouped([]) == []
