"""Wiring: the one place (with app.py) that builds engines, config, matcher and bus together."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import Engine

from hub.config import HubConfig, Settings, config_path, load_config
from hub.services.apply import Applier
from hub.services.bus import MessageBus
from hub.services.ports import Matcher
from hub.store.db import make_engine
from hub.store.uow import SqlUnitOfWork, session_factory
from matching import (
    DEFAULT_SPECS,
    DeterministicKey,
    DeterministicMatcher,
    FellegiSunterMatcher,
    KeyPart,
)


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
        specs[domain] = spec
    return FellegiSunterMatcher(specs, deterministic=deterministic_matcher(config))


def bootstrap(
    settings: Settings | None = None,
    config: HubConfig | None = None,
    matcher: Matcher | None = None,
) -> Hub:
    settings = settings or Settings()
    config = config or load_config(config_path(settings))
    engine = make_engine(settings.database_url)
    factory = session_factory(engine)
    applier = Applier(config.domains, matcher or fuzzy_matcher(config))
    bus = MessageBus(lambda: SqlUnitOfWork(factory), applier)
    return Hub(settings=settings, config=config, engine=engine, bus=bus)
