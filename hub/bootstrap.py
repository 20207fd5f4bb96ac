"""Wiring: the one place (with app.py) that builds engines, config, matcher and bus together."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from hub.config import HubConfig, Settings, config_path, load_config
from hub.domain.errors import ConfigError
from hub.services.apply import Applier
from hub.services.bus import MessageBus
from hub.services.ports import Matcher
from hub.services.project_setup import ProjectSetup
from hub.store.admin import SqlAdministration
from hub.store.db import make_engine
from hub.store.sql import is_transient
from hub.store.uow import SqlUnitOfWork, session_factory
from matching import (
    DEFAULT_SPECS,
    DeterministicKey,
    DeterministicMatcher,
    FellegiSunterMatcher,
    KeyPart,
    MatchSpec,
)
from matching.model import FellegiSunterModel, model_from_dict
from matching.spec_config import spec_from_config

if TYPE_CHECKING:
    from connectors.outbound.worker import DeliveryWorker


@dataclass
class Hub:
    """Everything a process needs, built once: settings, config, engine, bus."""

    settings: Settings
    config: HubConfig
    engine: Engine
    bus: MessageBus

    def uow(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(session_factory(self.engine))

    def close(self) -> None:
        self.engine.dispose()


def deterministic_matcher(config: HubConfig) -> DeterministicMatcher:
    return DeterministicMatcher(
        {
            name: [
                DeterministicKey(k.name, tuple(KeyPart(f, n) for f, n in k.parts))
                for k in spec.keys
            ]
            for name, spec in config.domains.items()
        }
    )


def fuzzy_matcher(config: HubConfig) -> FellegiSunterMatcher:
    """Deterministic keys first, then Fellegi-Sunter for the domains whose match is enabled,
    with the firm's thresholds from concord.yaml laid over the spec's defaults."""
    specs = {}
    for domain, build in DEFAULT_SPECS.items():
        settings = config.match.get(domain)
        if domain not in config.domains or (settings is not None and not settings.enabled):
            continue
        spec = build()
        if settings is not None:
            spec = replace(
                spec,
                t_auto=settings.t_auto or spec.t_auto,
                t_review=settings.t_review or spec.t_review,
            )
            if settings.declared:
                spec = spec_from_config(spec, settings.declared, f"match.{domain}")
            if settings.model is not None:
                spec = spec.with_model(_trained(domain, settings.model, spec))
        specs[domain] = spec
    return FellegiSunterMatcher(specs, deterministic=deterministic_matcher(config))


def _trained(domain: str, path: Path, spec: MatchSpec) -> FellegiSunterModel:
    """A model written by ``concord match train``; any mistake names the file and field."""
    where = f"match.{domain}.model ({path})"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{where}: cannot read it: {exc}") from exc
    if not isinstance(data, dict) or data.get("domain") != domain:
        raise ConfigError(f"{where}: not a model of domain {domain!r}")
    try:
        return model_from_dict(data, spec.comparisons)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def bootstrap(
    settings: Settings | None = None,
    config: HubConfig | None = None,
    matcher: Matcher | None = None,
) -> Hub:
    settings = settings or Settings()
    config = config or load_config(config_path(settings))
    engine = make_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
    )
    factory = session_factory(engine)
    matcher = matcher or fuzzy_matcher(config)
    applier = Applier(
        config.domains,
        matcher,
        cache_size=settings.apply_cache_size,
        key_cache_size=settings.apply_key_cache_size,
    )
    setup = ProjectSetup(config.project_setup, matcher)
    domains = frozenset(config.domains)
    bus = MessageBus(
        lambda: SqlUnitOfWork(factory),
        applier,
        setup,
        is_transient,
        admin=lambda: SqlAdministration(engine, domains),
    )
    return Hub(settings=settings, config=config, engine=engine, bus=bus)


def delivery_worker(
    engine: Engine,
    settings: Settings,
    personal_fields: Mapping[str, frozenset[str]] | None = None,
) -> DeliveryWorker:
    """The delivery worker on the SQL store: the connector knows the store only by its port
    (``hub.services.delivery_ports``). Imported when asked for, so a command that delivers
    nothing loads no HTTP or Kafka client. ``personal_fields`` default: ``concord.yaml``'s."""
    from connectors.outbound.worker import DeliveryWorker
    from hub.store.delivery_store import SqlDeliveryStore

    if personal_fields is None:
        personal_fields = load_config(config_path(settings)).personal_fields
    return DeliveryWorker(SqlDeliveryStore(engine), settings, personal_fields)
