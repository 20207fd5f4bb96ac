"""Configuration: where things are (environment) and what the firm decides (concord.yaml).

Both are validated at start. A mistake stops the start with a message that names the key,
the domain and the field, because an operator reading a stack trace at 3 a.m. should not have
to guess which of 60 fields was misspelt.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from connectors.outbound.targets import Policy
from hub.domain.errors import ConfigError
from hub.domain.project_setup import SetupRules
from hub.domain.setup_config import KnownDomains, parse_setup_rules
from hub.domain.spec import DomainSpec
from hub.domain.spec_config import domain_spec
from hub.domain.timecheck import TimeRules, parse_time_rules
from matching.spec import DEFAULT_SPECS
from matching.spec_config import spec_from_config


class Settings(BaseSettings):
    """Where things are. Read from ``CONCORD_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="CONCORD_", extra="ignore")

    database_url: str = "sqlite:///./concord.db"
    # The README's name is CONCORD_CONFIG; CONCORD_CONFIG_FILE, read by earlier releases, is
    # still accepted (the start warns that it is deprecated, hub/environment.py).
    config_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("config_file", "CONCORD_CONFIG", "CONCORD_CONFIG_FILE"),
    )
    max_batch: int = Field(default=1000, ge=1, le=100_000)
    worker_batch: int = Field(default=500, ge=1, le=20_000)
    worker_idle_seconds: float = Field(default=0.2, gt=0, le=60)
    # Candidate golden records each applier keeps between its batches, checked against the
    # database before each use (hub/services/candidate_cache.py); 0 keeps none.
    apply_cache_size: int = Field(default=50_000, ge=0, le=10_000_000)
    # Golden ids the applier keeps of the key index, across its cached keys, synced with the
    # key-change log before each batch (hub/services/key_cache.py); 0 keeps none.
    apply_key_cache_size: int = Field(default=2_000_000, ge=0, le=100_000_000)
    # Logs: one JSON object per line (json) or plain text, to stderr.
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    # Webhooks. The schedule is the wait before each retry; its default spans about four days.
    webhook_retry_schedule: str = "5s,30s,2m,10m,30m,1h,2h,4h,8h,12h,24h,24h,24h"
    webhook_retry_jitter: float = Field(default=0.2, ge=0, le=1)
    webhook_retry_after_max_seconds: float = Field(default=86_400, ge=0)
    webhook_timeout_seconds: float = Field(default=10, gt=0, le=300)
    webhook_concurrency: int = Field(default=16, ge=1, le=256)
    webhook_secret_overlap_seconds: float = Field(default=86_400, ge=0)
    # Webhook targets on loopback, link-local or private addresses: refused unless allowed
    # here (1 for all, or a comma-separated list of networks); see connectors/outbound/targets.
    webhook_allow_private: str = ""
    delivery_batch: int = Field(default=200, ge=1, le=10_000)
    # A process taking the delivery lead over from another waits this long first, for the old
    # leader's sends in flight; unset: the webhook timeout plus a second.
    delivery_takeover_seconds: float | None = Field(default=None, ge=0, le=3600)
    delivery_idle_seconds: float = Field(default=0.2, gt=0, le=60)
    feed_poll_seconds: float = Field(default=0.1, gt=0, le=10)
    # Connections per process. A request waits at most the timeout for one, then gets 503.
    db_pool_size: int = Field(default=8, ge=1, le=1000)
    db_pool_overflow: int = Field(default=8, ge=0, le=1000)
    db_pool_timeout_seconds: float = Field(default=10, gt=0, le=300)
    # Kafka (scale-out mode and kafka subscriptions). With a bootstrap set, ingest publishes
    # to ``kafka_changes_topic`` and ``concord worker`` applies; without, all is embedded.
    kafka_bootstrap: str | None = None
    kafka_changes_topic: str = "concord.changes"
    kafka_golden_prefix: str = "concord.golden"
    kafka_debezium_topics: str = ""  # comma-separated topics of Debezium change events
    kafka_debezium_mappings: str = ""  # comma-separated mapping files, one per source
    kafka_group: str = "concord-worker"
    kafka_worker_batch: int = Field(default=500, ge=1, le=20_000)
    kafka_worker_within_seconds: float = Field(default=0.05, gt=0, le=60)
    kafka_partitions: int = Field(default=8, ge=1, le=10_000)
    kafka_timeout_seconds: float = Field(default=30, gt=0, le=600)
    # Producer batches in bytes; 1 sends one record per batch (needed by the test broker).
    kafka_max_batch_bytes: int = Field(default=16_384, ge=1)
    kafka_linger_ms: int = Field(default=0, ge=0, le=10_000)
    # Consumer-group timers. Real Kafka refuses sessions under 6 s; tests use shorter ones.
    kafka_session_timeout_seconds: float = Field(default=10, gt=0, le=3600)
    kafka_heartbeat_seconds: float = Field(default=3, gt=0, le=600)
    kafka_rebalance_timeout_seconds: float = Field(default=60, gt=0, le=3600)
    # The steward page. Without a secret, an SQLite hub keeps a generated one in a file beside
    # its database; a PostgreSQL hub (several API processes) must be given one.
    session_secret: SecretStr | None = None
    session_https_only: bool = False
    session_max_age_seconds: int = Field(default=8 * 3600, ge=60)
    # How long a steward's claim on a match candidate holds before others may take it.
    claim_minutes: int = Field(default=30, ge=1, le=24 * 60)
    # How long after a decision the steward page still offers to undo it.
    steward_undo_seconds: int = Field(default=600, ge=0, le=7 * 86400)

    @field_validator("session_secret")
    @classmethod
    def _strong_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("CONCORD_SESSION_SECRET must be at least 32 characters")
        return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError(
                "CONCORD_DATABASE_URL must be sqlite:///... or postgresql+psycopg://..."
            )
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @field_validator("webhook_allow_private")
    @classmethod
    def _allow_private(cls, value: str) -> str:
        Policy.parse(value)  # a mistake stops the start, naming the setting
        return value

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        retry_schedule(value)  # raises ValueError naming the bad entry
        return value

    @property
    def webhook_policy(self) -> Policy:
        return Policy.parse(self.webhook_allow_private)

    @property
    def retry_delays(self) -> tuple[float, ...]:
        return retry_schedule(self.webhook_retry_schedule)

    @property
    def debezium_topics(self) -> tuple[str, ...]:
        return tuple(t.strip() for t in self.kafka_debezium_topics.split(",") if t.strip())

    @property
    def debezium_mappings(self) -> tuple[Path, ...]:
        return tuple(Path(f.strip()) for f in self.kafka_debezium_mappings.split(",") if f.strip())


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def retry_schedule(text: str) -> tuple[float, ...]:
    """``"5s,30s,2m,1h"`` or plain seconds ``"5,30,120"``: the wait before each retry.

    Examples:
        >>> retry_schedule("5s,2m,1.5")
        (5.0, 120.0, 1.5)
    """
    delays = []
    for part in (p.strip() for p in text.split(",")):
        unit = _UNITS.get(part[-1:].lower(), 0) if part else 0
        number = part[:-1] if unit else part
        try:
            seconds = float(number) * (unit or 1)
        except ValueError:
            raise ValueError(
                f"CONCORD_WEBHOOK_RETRY_SCHEDULE: {part!r} is not a number of seconds "
                "(or a number with s, m, h or d)"
            ) from None
        if seconds < 0:
            raise ValueError(f"CONCORD_WEBHOOK_RETRY_SCHEDULE: {part!r} is negative")
        delays.append(seconds)
    return tuple(delays)


def _default_document() -> dict[str, Any]:
    """A copy of the packaged defaults: every caller may change its own."""
    return copy.deepcopy(_parsed_defaults())


@functools.cache
def _parsed_defaults() -> dict[str, Any]:
    """Parsed once per process: the pure-Python YAML parser takes ~0.1 s over this file, paid
    by every command and every hub a test builds; libyaml's parser, where PyYAML has it,
    reads the same document about ten times faster."""
    text = resources.files("hub").joinpath("default_concord.yaml").read_text(encoding="utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    doc = yaml.load(text, Loader=loader)  # a safe loader, C or Python
    assert isinstance(doc, dict)
    return doc


def _overlay(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """The firm's file laid over the defaults, mapping by mapping; lists replace whole."""
    out = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _overlay(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@dataclass(frozen=True)
class MatchSettings:
    """What a firm may change of a domain's fuzzy matching without writing code."""

    enabled: bool = True
    t_auto: float | None = None
    t_review: float | None = None
    model: Path | None = None  # a model trained from steward decisions (concord match train)
    # The firm's own comparisons and/or blocking rules, as declared (matching.spec_config).
    declared: dict[str, Any] | None = None


_DECLARED = (
    "comparisons",
    "blocking",
    "identity",
    "evidence",
    "generic_at",
    "localities",
    "generic_share",
    "max_per_source",
)
"""The match keys that become part of the domain's spec (matching.spec_config)."""


def _match(raw: Any, domains: set[str]) -> dict[str, MatchSettings]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError("match: expected a mapping of domain to its match settings")
    out: dict[str, MatchSettings] = {}
    for domain, settings in raw.items():
        where = f"match.{domain}"
        if domain not in domains:
            raise ConfigError(f"{where}: unknown domain {domain!r}")
        if not isinstance(settings, dict):
            raise ConfigError(f"{where}: expected a mapping")
        unknown = set(settings) - {
            "enabled",
            "t_auto",
            "t_review",
            "model",
            *_DECLARED,
        }
        if unknown:
            raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        for key in ("t_auto", "t_review"):
            value = settings.get(key)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1
            ):
                raise ConfigError(f"{where}.{key}: expected a probability between 0 and 1")
        t_auto, t_review = settings.get("t_auto"), settings.get("t_review")
        if t_auto is not None and t_review is not None and t_review > t_auto:
            raise ConfigError(f"{where}: t_review must not be above t_auto")
        model = settings.get("model")
        if model is not None and not isinstance(model, str):
            raise ConfigError(f"{where}.model: expected the path of a model file")
        declared = {k: settings[k] for k in _DECLARED if k in settings}
        if declared:
            base = DEFAULT_SPECS.get(domain)
            if base is None:
                raise ConfigError(f"{where}: domain {domain!r} is not fuzzy-matched")
            try:
                spec_from_config(base(), declared, where)
            except ValueError as exc:
                raise ConfigError(str(exc)) from exc
        out[domain] = MatchSettings(
            bool(settings.get("enabled", True)),
            t_auto,
            t_review,
            Path(model) if model else None,
            declared or None,
        )
    return out


class HubConfig:
    """The validated firm configuration: domains with fields, owners, rules and keys."""

    def __init__(
        self,
        domains: dict[str, DomainSpec],
        raw: dict[str, Any],
        match: dict[str, MatchSettings] | None = None,
        time_rules: TimeRules | None = None,
        project_setup: SetupRules | None = None,
    ) -> None:
        self.domains = domains
        self.raw = raw
        self.match = match or {}
        self.time_rules = time_rules or TimeRules()
        self.project_setup = project_setup or SetupRules(enabled=False)

    def domain(self, name: str) -> DomainSpec:
        return self.domains[name]

    @property
    def personal_fields(self) -> dict[str, frozenset[str]]:
        """Per domain, the fields only keys granted personal fields read."""
        return {name: spec.personal_fields for name, spec in self.domains.items()}


def load_config(path: Path | None = None, text: str | None = None) -> HubConfig:
    """The built-in defaults overlaid with ``path`` (or ``text``), validated.

    Raises:
        ConfigError: naming the key, domain and field at fault.
    """
    doc = _default_document()
    if path is not None or text is not None:
        try:
            source = text if text is not None else Path(path).read_text(encoding="utf-8")  # type: ignore[arg-type]
            user = yaml.safe_load(source) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read configuration {path}: {exc}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"configuration is not valid YAML: {exc}") from exc
        if not isinstance(user, dict):
            raise ConfigError("configuration: expected a mapping at the top")
        unknown = set(user) - {"domains", "match", "time_entries", "project_setup"}
        if unknown:
            raise ConfigError(f"configuration: unknown key {sorted(unknown)[0]!r}")
        doc = _overlay(doc, user)
    raw_domains = doc.get("domains") or {}
    if not isinstance(raw_domains, dict):
        raise ConfigError("domains: expected a mapping of domain name to its settings")
    names = set(raw_domains)
    domains = {name: domain_spec(name, raw, names) for name, raw in raw_domains.items()}
    time_rules = parse_time_rules(doc.get("time_entries"))
    setup = SetupRules(enabled=False)
    if {"opportunity", "client", "project"} <= names:  # a firm may configure these away
        setup = parse_setup_rules(
            doc.get("project_setup"),
            set(domains["opportunity"].field_index),
            set(domains["client"].field_index),
            KnownDomains(frozenset(names), frozenset(domains["project"].field_index)),
        )
    return HubConfig(domains, doc, _match(doc.get("match"), names), time_rules, setup)


def config_path(settings: Settings) -> Path | None:
    """The firm's concord.yaml: the configured file, else ./concord.yaml if there is one."""
    if settings.config_file is not None:
        return settings.config_file
    local = Path("concord.yaml")
    return local if local.exists() else None
