"""The demo's "opportunity to project" story (issue 17): ERP's reference data, a deal that CRM
moves to contracted, the project shell the hub makes for it, PSA's project joining the shell,
and a second deal that waits as a setup exception because its client has no tax id.

Built from the same seeded world as :mod:`hub.demo.world`, so the deals name clients the demo
loaded: the good one is a client ERP knows (legal name, tax id) and PSA holds projects of; the
other a client with no tax id anywhere, in a country whose projects require one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from hub.demo.facts import _ENTITIES, _GEO, _PRACTICES, _clients, _people, _projects
from hub.demo.world import Change

TAXED = {"GB", "DE", "FR", "NL", "IE"}
SEQUENCE = 9_000_000  # above every sequence of the world's own changes


def _change(domain: str, key: str, n: int, **attrs: object) -> Change:
    return {"domain": domain, "key": key, "sequence": SEQUENCE + n, "attributes": attrs}


@dataclass(frozen=True)
class DealStory:
    reference: list[Change]  # ERP
    proposal: list[Change]  # CRM: both deals in the proposal stage
    contracted: list[Change]  # CRM: both deals contracted
    good_deal: str
    waiting_deal: str
    psa_client_key: str  # PSA's own key of the good deal's client

    def psa_project(self, shell_code: str) -> list[Change]:
        """PSA creates the project with the shell's code, for its own copy of the client."""
        return [
            _change(
                "project",
                "PP-9001",
                20,
                code=shell_code,
                name="ERP rollout (PSA)",
                status="active",
                client_key=self.psa_client_key,
            )
        ]


def _reference_data() -> list[Change]:
    """ERP's reference data: the firm's legal entities, its practices' cost centers, billing
    and labor codes (one closed) and a rate card, which the shells' dimensions must name."""
    reference: list[Change] = []
    for n, (country, entity) in enumerate(sorted(_ENTITIES.items())):
        reference.append(
            _change("legal_entity", f"LE-{country}", n, code=entity, name=entity,
                    country=country, currency=_GEO[country][2], status="active")
        )  # fmt: skip
    for n, code in enumerate([*_PRACTICES.values(), "CC-9000"]):
        reference.append(_change("cost_center", code, n, code=code, status="active"))
    for n, (code, name, billable) in enumerate(
        [("TM", "Time and materials", True), ("FF", "Fixed fee", True), ("INT", "Internal", False)]
    ):
        reference.append(
            _change("billing_code", code, n, code=code, name=name, billable=billable,
                    status="active")
        )  # fmt: skip
    for n, (code, status) in enumerate(
        [("DEV", "active"), ("PM", "active"), ("QA", "active"), ("ADV", "active"),
         ("LEGACY", "closed")]
    ):  # fmt: skip
        reference.append(_change("labor_code", code, n, code=code, status=status))
    reference.append(
        _change("rate_card", "STD-GBP-2026", 0, code="STD-GBP-2026", currency="GBP",
                valid_from="2026-01-01", valid_to="2026-12-31",
                rates={"partner": 2400, "manager": 1650, "consultant": 1100}, status="active")
    )  # fmt: skip
    return reference


def deal_story(seed: int = 7) -> DealStory:
    rng = random.Random(seed)  # the world's first draws: the same clients, people, projects
    clients = _clients(rng)
    people = _people(rng)
    projects = _projects(rng, clients, people)
    delivered = {p.client.i for p in projects if p.status != "proposed"}
    with_projects = {p.client.i for p in projects}
    good = next(
        c for c in clients if c.in_erp and c.active and c.i in delivered and c.country in TAXED
    )
    waiting = next(
        c
        for c in clients
        if not c.in_erp
        and not c.crm_has_tax
        and c.active
        and c.country in TAXED
        and c.i in with_projects
    )
    reference = _reference_data()

    def deal(key: str, client_i: int, stage: str, n: int) -> Change:
        return _change(
            "opportunity", key, n, name="ERP rollout" if key == "DEAL-1" else "Pricing review",
            stage=stage, amount=420000 if key == "DEAL-1" else 85000,
            currency=_GEO[clients[client_i - 1].country][2], expected_start="2026-03-02",
            expected_end="2026-09-30", service_line="technology",
            billing_type="time_and_materials", owner="dana@northbridge-consulting.com",
            client_key=f"A-{client_i}",
        )  # fmt: skip

    return DealStory(
        reference=reference,
        proposal=[deal("DEAL-1", good.i, "proposal", 1), deal("DEAL-2", waiting.i, "proposal", 2)],
        contracted=[
            deal("DEAL-1", good.i, "contracted", 3),
            deal("DEAL-2", waiting.i, "contracted", 4),
        ],
        good_deal="DEAL-1",
        waiting_deal="DEAL-2",
        psa_client_key=f"PC-{good.i:04d}",
    )
