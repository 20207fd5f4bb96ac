"""GET /healthz: 200 once migrations are applied and the worker runs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hub.api.deps import HubDep
from hub.store.migrate import is_current

router = APIRouter(tags=["health"])


@router.get("/healthz", responses={503: {"description": "Not ready"}})
def healthz(hub: HubDep, request: Request) -> Any:
    try:
        migrated = is_current(hub.engine)
    except Exception as exc:  # an unreachable database is "not ready", not a 500
        return JSONResponse(status_code=503, content={"status": "down", "database": str(exc)})
    worker = getattr(request.app.state, "worker", None)
    worker_ok = (worker is None and not request.app.state.expects_worker) or (
        worker is not None and worker.alive
    )
    body = {
        "status": "ok" if migrated and worker_ok else "starting",
        "migrations": "current" if migrated else "behind",
        "worker": "running" if worker is not None and worker.alive else "absent",
    }
    return JSONResponse(status_code=200 if migrated and worker_ok else 503, content=body)


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus exposition, on the API's own port (no redirect, no separate server)."""
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
