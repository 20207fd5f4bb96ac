"""The ``domains`` section of concord.yaml read into domain specs, checked at start.

Each mistake names its key, the domain and the field (``domains.client.keys.vat: unknown field
'vat_no' of domain client``), so a typo stops the start instead of linking by a key that is
never filled."""

from __future__ import annotations

from typing import Any

from hub.domain.errors import ConfigError
from hub.domain.spec import (
    FIELD_TYPES,
    ISSUER_FIELD,
    PSEUDO_FIELDS,
    RULE_NAMES,
    SOURCE_FIELD,
    SOURCE_KINDS,
    DomainSpec,
    FieldSpec,
    KeySpec,
    ReferenceSpec,
)

NORMALISER_NAMES = ("text", "code", "email", "website", "tax_id", "country", "identity")


def _names(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of names, got {value!r}")
    return tuple(value)


def _field(domain: str, name: str, raw: Any) -> FieldSpec:
    where = f"domains.{domain}.fields.{name}"
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping, got {raw!r}")
    unknown = set(raw) - {"type", "owners", "rules", "personal"}
    if unknown:
        raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    ftype = raw.get("type", "string")
    if ftype not in FIELD_TYPES:
        raise ConfigError(f"{where}.type: {ftype!r} is not one of {', '.join(FIELD_TYPES)}")
    owners = _names(raw.get("owners", []), f"{where}.owners")
    for owner in owners:
        if owner not in SOURCE_KINDS:
            raise ConfigError(
                f"{where}.owners: {owner!r} is not a kind of source system "
                f"({', '.join(SOURCE_KINDS)})"
            )
    default_rules = ["union"] if ftype == "list" else ["source_priority", "most_recent"]
    rules = _names(raw.get("rules", default_rules), f"{where}.rules")
    if not rules:
        raise ConfigError(f"{where}.rules: at least one rule is needed")
    for rule in rules:
        if rule not in RULE_NAMES:
            raise ConfigError(f"{where}.rules: {rule!r} is not one of {', '.join(RULE_NAMES)}")
    if "source_priority" in rules and not owners:
        raise ConfigError(f"{where}: rule source_priority needs owners")
    if "union" in rules and ftype != "list":
        raise ConfigError(f"{where}.rules: union makes a list; the field's type is {ftype}")
    personal = raw.get("personal", False)
    if not isinstance(personal, bool):
        raise ConfigError(f"{where}.personal: expected true or false, got {personal!r}")
    return FieldSpec(name=name, type=ftype, owners=owners, rules=rules, personal=personal)  # type: ignore[arg-type]


def domain_spec(name: str, raw: Any, domains: set[str]) -> DomainSpec:
    """One domain of concord.yaml's ``domains``, checked against the other ``domains``."""
    where = f"domains.{name}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping")
    unknown = set(raw) - {"fields", "references", "keys", "display"}
    if unknown:
        raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    raw_fields = raw.get("fields") or {}
    if not isinstance(raw_fields, dict) or not raw_fields:
        raise ConfigError(f"{where}.fields: a domain needs at least one field")
    fields = tuple(_field(name, f, spec) for f, spec in raw_fields.items())
    refs = _references(name, raw, domains)
    keys = _keys(name, raw, set(raw_fields) | {r.name for r in refs})
    display = _names(raw.get("display", [fields[0].name]), f"{where}.display")
    for d in display:
        if d not in raw_fields:
            raise ConfigError(f"{where}.display: unknown field {d!r}")
    return DomainSpec(name=name, fields=fields, references=refs, keys=keys, display=display)


def _references(name: str, raw: dict[str, Any], domains: set[str]) -> tuple[ReferenceSpec, ...]:
    where = f"domains.{name}"
    raw_fields = raw.get("fields") or {}
    refs: list[ReferenceSpec] = []
    for ref_name, spec in (raw.get("references") or {}).items():
        rwhere = f"{where}.references.{ref_name}"
        if not isinstance(spec, dict) or "target" not in spec:
            raise ConfigError(f"{rwhere}: needs a target domain")
        if spec["target"] not in domains:
            raise ConfigError(f"{rwhere}.target: unknown domain {spec['target']!r}")
        if ref_name in raw_fields:
            raise ConfigError(f"{rwhere}: the name is also a field of {name}")
        unknown = set(spec) - {"attribute", "target", "required", "owners"}
        if unknown:
            raise ConfigError(f"{rwhere}: unknown key {sorted(unknown)[0]!r}")
        owners = _names(spec.get("owners", []), f"{rwhere}.owners")
        for owner in owners:
            if owner not in SOURCE_KINDS:
                raise ConfigError(
                    f"{rwhere}.owners: {owner!r} is not a kind of source system "
                    f"({', '.join(SOURCE_KINDS)})"
                )
        refs.append(
            ReferenceSpec(
                name=ref_name,
                attribute=str(spec.get("attribute", f"{ref_name}_key")),
                target=spec["target"],
                required=bool(spec.get("required", False)),
                owners=owners,
            )
        )
    return tuple(refs)


def _keys(name: str, raw: dict[str, Any], known: set[str]) -> tuple[KeySpec, ...]:
    where = f"domains.{name}"
    keys: list[KeySpec] = []
    for key_name, parts in (raw.get("keys") or {}).items():
        kwhere = f"{where}.keys.{key_name}"
        if not isinstance(parts, list) or not parts:
            raise ConfigError(
                f"{kwhere}: expected a list of [field, normaliser] pairs "
                f"({SOURCE_FIELD!r} as a field scopes the key to one source system, "
                f"{ISSUER_FIELD!r} to the systems of one firm)"
            )
        checked: list[tuple[str, str]] = []
        for part in parts:
            if not (isinstance(part, list) and len(part) == 2):
                raise ConfigError(f"{kwhere}: expected [field, normaliser], got {part!r}")
            fname, norm = str(part[0]), str(part[1])
            if fname not in known and fname not in PSEUDO_FIELDS:
                raise ConfigError(f"{kwhere}: unknown field {fname!r} of domain {name}")
            if norm not in NORMALISER_NAMES:
                raise ConfigError(f"{kwhere}: unknown normaliser {norm!r} for field {fname!r}")
            checked.append((fname, norm))
        keys.append(KeySpec(name=key_name, parts=tuple(checked)))
    return tuple(keys)
