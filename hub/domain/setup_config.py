"""``project_setup`` of concord.yaml, read and checked at start: a mistake names its key and
the rule, so a firm's typo stops the start instead of silently making no shells."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from hub.domain.errors import ConfigError
from hub.domain.project_setup import (
    DIMENSIONS,
    INACTIVE_REFERENCE,
    ClientCheck,
    DimensionRule,
    SetupRules,
)


def _strings(value: Any, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: expected a list of names, got {value!r}")
    return frozenset(v.strip().casefold() for v in value)


def _client_check(raw: Any, where: str, client_fields: set[str]) -> ClientCheck:
    if not isinstance(raw, dict) or "field" not in raw:
        raise ConfigError(f"{where}: expected a mapping with a field")
    unknown = set(raw) - {"field", "required", "one_of", "required_in_countries", "fix"}
    if unknown:
        raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    name = raw["field"]
    if name not in client_fields:
        raise ConfigError(f"{where}.field: {name!r} is not a field of domain client")
    fix = str(raw.get("fix", ""))
    if "one_of" in raw:
        return ClientCheck(name, "one_of", _strings(raw["one_of"], f"{where}.one_of"), fix)
    if "required_in_countries" in raw:
        listed = _strings(raw["required_in_countries"], f"{where}.required_in_countries")
        countries = frozenset(c.upper() for c in listed)
        return ClientCheck(name, "required_in_countries", countries, fix)
    return ClientCheck(name, "required", frozenset(), fix)


def _dimension_rule(
    raw: Any, where: str, opp_fields: set[str], client_fields: set[str], stages: frozenset[str]
) -> DimensionRule:
    if not isinstance(raw, dict) or not isinstance(raw.get("code"), str) or not raw["code"]:
        raise ConfigError(f"{where}: expected a mapping with a code")
    unknown = set(raw) - {"code", "when"}
    if unknown:
        raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    when = raw.get("when") or {}
    if not isinstance(when, dict):
        raise ConfigError(f"{where}.when: expected a mapping of field to values")
    conditions = {}
    for name, values in when.items():
        known = name[7:] in client_fields if name.startswith("client.") else name in opp_fields
        if not known:
            raise ConfigError(
                f"{where}.when: {name!r} is neither an opportunity field nor client.<field>"
            )
        values = values if isinstance(values, list) else [values]
        conditions[name] = _strings(values, f"{where}.when.{name}")
        unknown_stages = sorted(conditions[name] - stages) if name == "stage" else []
        if unknown_stages:
            raise ConfigError(
                f"{where}.when.stage: {unknown_stages[0]!r} is not a stage of project_setup "
                "(contracted_stages, lost_stages or open_stages)"
            )
    return DimensionRule(raw["code"], conditions)


@dataclass(frozen=True)
class KnownDomains:
    """What the rest of concord.yaml declares that the setup rules must name."""

    domains: frozenset[str]
    project_fields: frozenset[str]


def _stages(raw: dict[str, Any]) -> dict[str, frozenset[str]]:
    """The three stage lists; a stage in two of them would be read as the first silently."""
    defaults = {
        "contracted_stages": ["contracted", "closed_won"],
        "lost_stages": ["closed_lost", "lost"],
        "open_stages": sorted(SetupRules.open_stages),
    }
    out = {
        name: _strings(raw.get(name, default), f"project_setup.{name}")
        for name, default in defaults.items()
    }
    seen: dict[str, str] = {}
    for name, stages in out.items():
        for stage in sorted(stages):
            if stage in seen:
                raise ConfigError(
                    f"project_setup.{name}: {stage!r} is also in project_setup.{seen[stage]}"
                )
            seen[stage] = name
    return out


def _dimensions(
    raw: dict[str, Any],
    opportunity_fields: set[str],
    client_fields: set[str],
    stages: dict[str, frozenset[str]],
    known: KnownDomains | None,
) -> dict[str, tuple[DimensionRule, ...]]:
    every_stage = frozenset().union(*stages.values())
    dims: dict[str, tuple[DimensionRule, ...]] = {}
    for dim, rules in (raw.get("dimensions") or {}).items():
        where = f"project_setup.dimensions.{dim}"
        if dim not in DIMENSIONS:
            raise ConfigError(f"{where}: not a dimension ({', '.join(DIMENSIONS)})")
        if known is not None and dim not in known.domains:
            raise ConfigError(f"{where}: no domain {dim!r} is configured to hold its codes")
        if known is not None and dim not in known.project_fields:
            raise ConfigError(f"{where}: {dim!r} is not a field of domain project")
        if not isinstance(rules, list) or not rules:
            raise ConfigError(f"{where}: expected a list of rules")
        dims[dim] = tuple(
            _dimension_rule(r, f"{where}[{i}]", opportunity_fields, client_fields, every_stage)
            for i, r in enumerate(rules)
        )
    return dims


def parse_setup_rules(
    raw: Any,
    opportunity_fields: set[str],
    client_fields: set[str],
    known: KnownDomains | None = None,
) -> SetupRules:
    """``project_setup`` of concord.yaml, checked: a mistake names its key (and the rule).

    ``known``, when given, holds the configured domains and the project domain's fields: a
    dimension must be both a reference domain and a project field, or no shell could carry it.
    """
    if raw is None:
        return SetupRules()
    if not isinstance(raw, dict):
        raise ConfigError("project_setup: expected a mapping")
    keys = {
        "enabled",
        "contracted_stages",
        "lost_stages",
        "open_stages",
        "code",
        "client_checks",
        "dimensions",
    }
    unknown = set(raw) - keys
    if unknown:
        raise ConfigError(f"project_setup: unknown key {sorted(unknown)[0]!r}")
    pattern = raw.get("code", SetupRules.code_pattern)
    try:
        str(pattern).format(number=1, year=2026)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"project_setup.code: {pattern!r} is not a pattern of {{year}} and {{number}}: {exc}"
        ) from None
    stages = _stages(raw)
    dims = _dimensions(raw, opportunity_fields, client_fields, stages, known)
    checks = raw.get("client_checks") or []
    if not isinstance(checks, list):
        raise ConfigError("project_setup.client_checks: expected a list")
    return SetupRules(
        enabled=bool(raw.get("enabled", True)),
        contracted=stages["contracted_stages"],
        lost=stages["lost_stages"],
        open_stages=stages["open_stages"],
        code_pattern=str(pattern),
        client_checks=tuple(
            _client_check(c, f"project_setup.client_checks[{i}]", client_fields)
            for i, c in enumerate(checks)
        ),
        dimensions=dims,
    )


Held = Mapping[str, Collection[tuple[Any, Any]] | None]
"""Per reference domain, the (code, status) of its active golden records; None when the
domain holds no golden record at all (a fresh install, before ERP has sent any)."""


def unheld_codes(
    rules: SetupRules, held: Held, fold: Callable[[Any], str | None]
) -> tuple[list[str], list[str]]:
    """Dimension rules whose code no active reference record holds: ``(failures, warnings)``.

    A rule naming a code the reference data lacks would hold every matching deal as a setup
    exception; caught at start, it names the rule instead. Codes compare as the lookup does
    (``fold``, the key normaliser); a domain with no data yet can only be warned about.

    Examples:
        >>> rules = SetupRules(dimensions={"cost_center": (DimensionRule("CC-9"),)})
        >>> failures, _ = unheld_codes(rules, {"cost_center": [("CC-1", "active")]}, str.upper)
        >>> failures[0].split(" is ")[0]
        "project_setup.dimensions.cost_center[0]: code 'CC-9'"
        >>> unheld_codes(rules, {"cost_center": None}, str.upper)[1][0].split(":")[0]
        'project_setup.dimensions.cost_center'
    """
    failures: list[str] = []
    warnings: list[str] = []
    if not rules.enabled:
        return failures, warnings
    for dim, dim_rules in rules.dimensions.items():
        where = f"project_setup.dimensions.{dim}"
        records = held.get(dim)
        if records is None:
            codes = ", ".join(sorted({r.code for r in dim_rules}))
            warnings.append(
                f"{where}: the hub holds no {dim} reference data yet, so the rules' codes "
                f"({codes}) are not checked until ERP sends it"
            )
            continue
        active = {
            fold(code)
            for code, status in records
            if code not in (None, "")
            and str(status or "").strip().casefold() not in INACTIVE_REFERENCE
        }
        failures += [
            f"{where}[{i}]: code {rule.code!r} is not an active {dim} in the hub's reference "
            "data (send it from ERP as active, or change the rule)"
            for i, rule in enumerate(dim_rules)
            if fold(rule.code) not in active
        ]
    return failures, warnings
