"""An app that is gone takes its hub with it: nothing module-level keeps it alive.

FastAPI caches, per endpoint function, whether it is a coroutine or a generator (4,096 of
them, module-wide). An endpoint that closed over its app (the docs pages did) kept the app,
its hub, the hub's engine and its compiled statements alive after use; a test suite builds
hundreds of apps, and the collector then spent a quarter of the suite's CPU walking them."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

from fastapi.testclient import TestClient

from hub.app import create_app
from tests.conftest import make_hub


def test_a_used_app_and_its_hub_are_freed(tmp_path: Path) -> None:
    hub = make_hub(f"sqlite:///{tmp_path / 'c.db'}")
    app = create_app(hub)
    with TestClient(app) as client:
        for path in ("/docs", "/redoc", "/healthz", "/openapi.json", "/steward/login"):
            assert client.get(path).status_code == 200, path
        assert client.get("/api/v1/feed").status_code == 401
    gone_app, gone_hub = weakref.ref(app), weakref.ref(hub)
    hub.close()
    del app, hub, client
    gc.collect()
    assert gone_app() is None and gone_hub() is None
