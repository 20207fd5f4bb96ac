"""A record sent again with the image the hub holds (a CDC update of a column no mapping
reads) makes no new golden version when it cannot change a value, and one when its new
recency can (issue 14, must-have 1: the least work per change, never a wrong golden record)."""

from __future__ import annotations

from sqlalchemy import func, select

from hub.store.tables import GoldenVersionRow, OutboxRow
from hub.store.uow import session_factory
from tests.conftest import Api, ChangeFactory

ACME = {"name": "Acme Ltd", "tax_id": "GB123", "country": "GB"}


def _versions(api: Api, gid: str) -> tuple[int, int]:
    with session_factory(api.hub.engine)() as s:
        versions = s.scalar(
            select(func.count())
            .select_from(GoldenVersionRow)
            .where(GoldenVersionRow.golden_id == gid)
        )
        events = s.scalar(
            select(func.count()).select_from(OutboxRow).where(OutboxRow.golden_id == gid)
        )
    return int(versions or 0), int(events or 0)


def test_a_resend_that_changes_no_value_makes_no_version(api: Api, change: ChangeFactory) -> None:
    api.post("crm", change("client", "C-1", 1, **ACME, industry="legal"))
    api.post("erp", change("client", "E-1", 1, **ACME, city="Leeds"))
    api.apply()
    golden = api.golden_of("crm", "client", "C-1")
    assert golden["id"] == api.golden_of("erp", "client", "E-1")["id"]
    gid = str(golden["id"])
    before = _versions(api, gid)
    # the same images again, newer: CRM owns every field it sends, ERP's city is the value
    api.post("crm", change("client", "C-1", 2, **ACME, industry="legal"))
    api.post("erp", change("client", "E-1", 2, **ACME, city="Leeds"))
    report = api.apply()
    assert report.applied == 2  # the source records moved on
    assert _versions(api, gid) == before
    assert api.golden_of("crm", "client", "C-1")["attributes"] == golden["attributes"]


def test_a_resend_whose_recency_can_win_a_field_is_survived_again(
    api: Api, change: ChangeFactory
) -> None:
    # industry is owned by CRM alone; without a CRM value the newest sender's wins
    api.post("erp", change("client", "E-1", 1, **ACME, industry="energy"))
    api.apply()
    api.post("psa", change("client", "P-1", 1, **ACME, industry="software"))
    api.apply()
    golden = api.golden_of("erp", "client", "E-1")
    assert golden["attributes"]["industry"] == "software"  # type: ignore[index]
    before = _versions(api, str(golden["id"]))
    api.post("erp", change("client", "E-1", 2, **ACME, industry="energy"))
    api.apply()
    after = api.golden_of("erp", "client", "E-1")
    assert after["attributes"]["industry"] == "energy"  # type: ignore[index]
    assert _versions(api, str(golden["id"])) == (before[0] + 1, before[1] + 1)
