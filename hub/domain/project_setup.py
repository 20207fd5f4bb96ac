"""From a contracted opportunity to a project shell: the rules, as pure functions.

When CRM moves a deal to a stage the firm calls contracted, the hub checks the client's master
data, derives the project's financial dimensions from the firm's rules, checks each against
active reference data, and plans a project shell that PSA and ERP then create on their side
(docs/architecture.md, "Project setup"). Everything here takes values and returns values: the
service loads the golden records, calls :func:`plan_shell`, and writes what it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

DIMENSIONS: tuple[str, ...] = ("legal_entity", "cost_center", "billing_code", "rate_card")
"""The financial dimensions a project carries, each a reference-data domain of that name whose
code the project holds in the field of that name."""

INACTIVE_REFERENCE = frozenset({"inactive", "closed", "retired", "blocked"})

CheckKind = Literal["required", "one_of", "required_in_countries"]


@dataclass(frozen=True)
class ClientCheck:
    """One rule a client's master data must meet before a project is set up for it."""

    field: str
    kind: CheckKind = "required"
    values: frozenset[str] = frozenset()  # one_of: allowed values; required_in_countries
    fix: str = ""


@dataclass(frozen=True)
class DimensionRule:
    """``code`` when every condition holds; a condition names an opportunity field
    (``service_line``) or a client field (``client.country``) and the values it may take."""

    code: str
    when: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def applies(self, opportunity: Mapping[str, Any], client: Mapping[str, Any]) -> bool:
        for name, allowed in self.when.items():
            record, attr = (client, name[7:]) if name.startswith("client.") else (opportunity, name)
            if _fold(record.get(attr)) not in allowed:
                return False
        return True


@dataclass(frozen=True)
class SetupRules:
    """``project_setup`` in concord.yaml."""

    enabled: bool = True
    contracted: frozenset[str] = frozenset({"contracted", "closed_won"})
    lost: frozenset[str] = frozenset({"closed_lost", "lost"})
    # the other stages CRM uses; a deal in a stage none of these lists names is kept and
    # reported (a renamed stage in CRM must not silently stop every shell)
    open_stages: frozenset[str] = frozenset(
        {"lead", "qualified", "discovery", "proposal", "negotiation", "verbal"}
    )
    code_pattern: str = "PRJ-{year}-{number:05d}"
    client_checks: tuple[ClientCheck, ...] = ()
    dimensions: Mapping[str, tuple[DimensionRule, ...]] = field(default_factory=dict)

    def stage(self, opportunity: Mapping[str, Any]) -> Literal["contracted", "lost", "open"]:
        stage = _fold(opportunity.get("stage"))
        if stage in self.contracted:
            return "contracted"
        return "lost" if stage in self.lost else "open"

    def known_stage(self, stage: Any) -> bool:
        return _blank(stage) or _fold(stage) in self.contracted | self.lost | self.open_stages

    def code(self, number: int, today: date) -> str:
        return self.code_pattern.format(number=number, year=today.year)


@dataclass(frozen=True)
class Problem:
    """Why a shell cannot be made yet, for the finance team that fixes it: which rule, which
    record, what is wrong and what would fix it."""

    rule: str
    record: str
    message: str
    fix: str

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "record": self.record, "message": self.message, "fix": self.fix}


@dataclass(frozen=True)
class Golden:
    """What the rules read of a golden record."""

    id: str
    attributes: Mapping[str, Any]
    references: Mapping[str, Any] = field(default_factory=dict)
    status: str = "active"


Lookup = Callable[[str, str], Golden | None]
"""The active golden reference record of a domain with a code, or None."""


def _fold(value: Any) -> str:
    return str(value).strip().casefold() if value not in (None, "") else ""


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def check_client(client: Golden | None, country: str, rules: SetupRules) -> list[Problem]:
    """The client's master data against the firm's checks; ``country`` is the project's
    legal entity's (a tax id is required where that entity's country requires one)."""
    if client is None or client.status != "active":
        return [
            Problem(
                "client",
                "opportunity",
                "the opportunity's client is not an active golden client",
                "send the client from CRM, or link the opportunity to an active client",
            )
        ]
    out = []
    for check in rules.client_checks:
        value = client.attributes.get(check.field)
        where = f"client {client.id}"
        if check.kind == "one_of" and _fold(value) not in check.values:
            allowed = ", ".join(sorted(check.values))
            out.append(
                Problem(
                    f"client.{check.field}",
                    where,
                    f"{check.field} is {value!r}, not one of {allowed}",
                    check.fix or f"set {check.field} to one of {allowed} in its owning system",
                )
            )
        elif check.kind == "required_in_countries" and country in check.values and _blank(value):
            out.append(
                Problem(
                    f"client.{check.field}",
                    where,
                    f"{check.field} is missing; a project billed from {country} requires it",
                    check.fix or f"send the client's {check.field} from its owning system",
                )
            )
        elif check.kind == "required" and _blank(value):
            out.append(
                Problem(
                    f"client.{check.field}",
                    where,
                    f"{check.field} is missing",
                    check.fix or f"send the client's {check.field} from its owning system",
                )
            )
    return out


def derive_dimensions(
    opportunity: Golden, client: Golden | None, lookup: Lookup, rules: SetupRules
) -> tuple[dict[str, Golden], list[Problem]]:
    """Each dimension's reference record by the firm's rules (the first rule that applies),
    checked to exist and be active, and the dimensions checked to agree."""
    found: dict[str, Golden] = {}
    problems: list[Problem] = []
    client_attrs = client.attributes if client else {}
    for dim, dim_rules in rules.dimensions.items():
        rule = next((r for r in dim_rules if r.applies(opportunity.attributes, client_attrs)), None)
        if rule is None:
            problems.append(
                Problem(
                    f"dimension.{dim}",
                    f"opportunity {opportunity.id}",
                    f"no rule of project_setup.dimensions.{dim} applies "
                    f"(service line {opportunity.attributes.get('service_line')!r})",
                    f"add a rule for it to project_setup.dimensions.{dim}",
                )
            )
            continue
        ref = lookup(dim, rule.code)
        if ref is None or _fold(ref.attributes.get("status")) in INACTIVE_REFERENCE:
            problems.append(
                Problem(
                    f"dimension.{dim}",
                    f"{dim} {rule.code}",
                    f"{dim} {rule.code} is {'not active' if ref else 'unknown'}",
                    f"send {dim} {rule.code} from ERP as active, or change the rule",
                )
            )
            continue
        found[dim] = ref
    problems += agreement(found, opportunity.attributes.get("currency"))
    return found, problems


def agreement(dims: Mapping[str, Golden], currency: Any) -> list[Problem]:
    """Dimensions that exist must also agree: the cost center belongs to the legal entity,
    and the currency is the legal entity's or one it allows."""
    out = []
    entity, center = dims.get("legal_entity"), dims.get("cost_center")
    if entity and center and center.references.get("legal_entity") not in (None, entity.id):
        out.append(
            Problem(
                "dimension.cost_center",
                f"cost_center {center.attributes.get('code')}",
                f"cost center {center.attributes.get('code')} belongs to another legal entity "
                f"than {entity.attributes.get('code')}",
                "change the cost center rule, or the cost center's legal entity in ERP",
            )
        )
    if entity and not _blank(currency):
        allowed = {_fold(entity.attributes.get("currency"))} | {
            _fold(c) for c in entity.attributes.get("currencies") or []
        }
        if _fold(currency) not in allowed:
            out.append(
                Problem(
                    "dimension.currency",
                    f"legal_entity {entity.attributes.get('code')}",
                    f"currency {currency} is not billed by legal entity "
                    f"{entity.attributes.get('code')}",
                    "change the opportunity's currency, or allow it on the legal entity",
                )
            )
    return out


def plan_shell(
    opportunity: Golden,
    opportunity_key: str,
    client: Golden | None,
    client_ref: str | None,
    lookup: Lookup,
    rules: SetupRules,
    force: bool = False,
) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The shell project's attributes (without its code, which is numbered when it is made),
    or the problems that keep it from being made; with ``force`` (finance overrode them) the
    attributes despite the problems, without the dimensions that failed.

    ``opportunity_key`` is CRM's own key of the deal: the shell carries it as
    ``opportunity_id``, a key by which PSA's project, carrying it too, joins the shell.

    ``client_ref`` names one source record of the golden client as ``source:key``: the shell
    refers to its client through it (see :func:`hub.domain.spec.reference_target`).
    """
    dims, problems = derive_dimensions(opportunity, client, lookup, rules)
    entity = dims.get("legal_entity")
    country = _fold((entity.attributes if entity else {}).get("country")).upper()
    country = country or _fold((client.attributes if client else {}).get("country")).upper()
    problems = check_client(client, country, rules) + problems
    if client_ref is None or (problems and not force):
        return None, problems
    opp = opportunity.attributes
    currency = opp.get("currency") or (entity.attributes.get("currency") if entity else None)
    attrs: dict[str, Any] = {
        "name": opp.get("name"),
        "status": "proposed",
        "start_date": opp.get("expected_start"),
        "end_date": opp.get("expected_end"),
        "billing_type": opp.get("billing_type"),
        "currency": currency,
        "contract_value": opp.get("amount"),
        "opportunity_id": opportunity_key,
        "client_key": client_ref,
    }
    for dim, ref in dims.items():
        attrs[dim] = ref.attributes.get("code")
    return {k: v for k, v in attrs.items() if v not in (None, "")}, problems


def project_issues(
    project: Golden, lookup: Lookup, held: Callable[[str], bool] = lambda dim: True
) -> list[Problem]:
    """The financial dimensions a golden project carries, from any source, checked: each
    names an active reference record, and they agree. A project with issues takes no time
    (``invalid_dimension``) until they are fixed. A dimension of which the hub ``held`` no
    reference data at all is not checked: a firm that has not loaded its cost centers yet
    must not see every project flagged (as labour codes pass while none are loaded)."""
    found: dict[str, Golden] = {}
    problems: list[Problem] = []
    for dim in DIMENSIONS:
        code = project.attributes.get(dim)
        if _blank(code) or not held(dim):
            continue
        ref = lookup(dim, str(code))
        if ref is None or _fold(ref.attributes.get("status")) in INACTIVE_REFERENCE:
            problems.append(
                Problem(
                    f"dimension.{dim}",
                    f"project {project.id}",
                    f"{dim} {code} is {'not active' if ref else 'unknown'}",
                    f"send {dim} {code} from ERP as active, or correct the project's {dim}",
                )
            )
        else:
            found[dim] = ref
    return problems + agreement(found, project.attributes.get("currency"))
