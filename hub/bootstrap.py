"""Wiring: the one place (with app.py) that builds engines, config, matcher and bus together."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from hub.config import HubConfig, Settings, config_path, load_config
from hub.services.apply import Applier
from hub.services.bus import MessageBus
from hub.services.ports import Matcher
from hub.store.db import make_engine
from hub.store.uow import SqlUnitOfWork, session_factory
from matching import DeterministicKey, DeterministicMatcher, KeyPart


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


def bootstrap(
    settings: Settings | None = None,
    config: HubConfig | None = None,
    matcher: Matcher | None = None,
) -> Hub:
    settings = settings or Settings()
    config = config or load_config(config_path(settings))
    engine = make_engine(settings.database_url)
    factory = session_factory(engine)
    applier = Applier(config.domains, matcher or deterministic_matcher(config))
    bus = MessageBus(lambda: SqlUnitOfWork(factory), applier)
    return Hub(settings=settings, config=config, engine=engine, bus=bus)
