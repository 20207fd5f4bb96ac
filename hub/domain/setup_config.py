"""``project_setup`` of concord.yaml, read and checked at start: a mistake names its key and
the rule, so a firm's typo stops the start instead of silently making no shells."""

from __future__ import annotations

from typing import Any

from hub.domain.errors import ConfigError
from hub.domain.project_setup import DIMENSIONS, ClientCheck, DimensionRule, SetupRules


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
        countries = frozenset(
            c.upper() for c in _strings(raw["required_in_countries"], f"{where}.countries")
        )
        return ClientCheck(name, "required_in_countries", countries, fix)
    return ClientCheck(name, "required", frozenset(), fix)


def _dimension_rule(raw: Any, where: str, opp_fields: set[str], client_fields: set[str]) -> Any:
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
    return DimensionRule(raw["code"], conditions)


def parse_setup_rules(
    raw: Any, opportunity_fields: set[str], client_fields: set[str]
) -> SetupRules:
    """``project_setup`` of concord.yaml, checked: a mistake names its key (and the rule)."""
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
    dims: dict[str, tuple[DimensionRule, ...]] = {}
    for dim, rules in (raw.get("dimensions") or {}).items():
        where = f"project_setup.dimensions.{dim}"
        if dim not in DIMENSIONS:
            raise ConfigError(f"{where}: not a dimension ({', '.join(DIMENSIONS)})")
        if not isinstance(rules, list) or not rules:
            raise ConfigError(f"{where}: expected a list of rules")
        dims[dim] = tuple(
            _dimension_rule(r, f"{where}[{i}]", opportunity_fields, client_fields)
            for i, r in enumerate(rules)
        )
    checks = raw.get("client_checks") or []
    if not isinstance(checks, list):
        raise ConfigError("project_setup.client_checks: expected a list")
    return SetupRules(
        enabled=bool(raw.get("enabled", True)),
        contracted=_strings(
            raw.get("contracted_stages", ["contracted", "closed_won"]),
            "project_setup.contracted_stages",
        ),
        lost=_strings(raw.get("lost_stages", ["closed_lost", "lost"]), "project_setup.lost_stages"),
        open_stages=_strings(
            raw.get("open_stages", sorted(SetupRules.open_stages)), "project_setup.open_stages"
        ),
        code_pattern=str(pattern),
        client_checks=tuple(
            _client_check(c, f"project_setup.client_checks[{i}]", client_fields)
            for i, c in enumerate(checks)
        ),
        dimensions=dims,
    )
