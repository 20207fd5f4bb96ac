"""The ASGI application. Building it connects nothing until it starts."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

import stewardship.web as stewardship
from connectors.outbound.worker import DeliveryWorker
from hub import __version__
from hub.api import docs, errors
from hub.api.body_limit import BodyLimit
from hub.api.routes import router
from hub.bootstrap import Hub, bootstrap, delivery_worker
from hub.logs import CORRELATION, HEADER, correlation_id
from hub.metrics import HubMetrics
from hub.runtime.children import Children
from hub.runtime.kafka_changes import TopicSink
from hub.runtime.worker import EmbeddedWorker
from hub.services.apply import ApplyReport

requests_log = logging.getLogger("concord.http")
_QUIET = ("/healthz", "/readyz", "/metrics")


def _problem_of(error: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's error location, as the index of the change and the field, like our own 422s."""
    loc = [p for p in error.get("loc", ()) if p != "body"]
    if error.get("type") == "json_invalid":  # its location is a character offset, not a field
        at = f" at character {loc[0]}" if loc and isinstance(loc[0], int) else ""
        reason = (error.get("ctx") or {}).get("error")
        return {
            "index": None,
            "field": None,
            "message": f"the body is not valid JSON{at}" + (f": {reason}" if reason else ""),
        }
    index = None
    if len(loc) >= 2 and loc[0] == "changes" and isinstance(loc[1], int):
        index, loc = loc[1], loc[2:]
    return {
        "index": index,
        "field": ".".join(str(p) for p in loc) or None,
        "message": error.get("msg", "invalid"),
    }


def _scale_out(app: FastAPI, hub: Hub) -> Hub:
    """In scale-out mode (``CONCORD_KAFKA_BOOTSTRAP``) the API's bus accepts changes onto the
    changes topic; the workers' buses, built from the same settings, keep the inbox."""
    if not hub.settings.kafka_bootstrap:
        return hub
    sink = TopicSink(hub.settings)
    app.state.changes_producer = sink  # closed with the app
    return replace(hub, bus=hub.bus.publishing_to(sink))


def _start_workers(app: FastAPI) -> tuple[EmbeddedWorker, DeliveryWorker]:
    """Embedded mode: the worker that applies the inbox, and delivery woken by its events."""
    hub: Hub = app.state.hub
    s = hub.settings
    delivery = delivery_worker(hub.engine, s, hub.config.personal_fields)
    metrics = app.state.metrics

    def observe(report: ApplyReport, seconds: float) -> None:
        metrics.applied(report, seconds)
        if report.events:  # new outbox rows: deliver them now, not at the next tick
            delivery.wake()

    aside = hub.engine.dialect.name == "postgresql"
    worker = EmbeddedWorker(hub.bus, s.worker_batch, s.worker_idle_seconds, observe, aside)
    worker.start()
    delivery.start()
    return worker, delivery


def _start_children(app: FastAPI) -> Children:
    """The same two workers as processes of their own (``hub.runtime.children``)."""
    children = Children(on_report=app.state.metrics.applied)
    children.start()
    return children


def _lifespan(run_worker: bool, apart: bool) -> Any:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.hub is None:
            app.state.hub = _scale_out(app, bootstrap())
        app.state.metrics = HubMetrics(app.state.hub.engine)
        worker: EmbeddedWorker | Children | None = None
        delivery: DeliveryWorker | None = None
        if run_worker and apart:
            worker = _start_children(app)
        elif run_worker:
            worker, delivery = _start_workers(app)
        app.state.worker = worker
        app.state.delivery_worker = delivery
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            if delivery is not None:
                delivery.stop()
            producer = getattr(app.state, "changes_producer", None)
            if producer is not None:  # scale-out ingest's Kafka producer
                producer.close()

    return lifespan


def _install_refusals(app: FastAPI) -> None:
    """Requests refused before any route: invalid bodies (as our own 422s), FastAPI's own
    HTTP errors, NUL characters in the URL, and bodies over the limit."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [_problem_of(dict(e)) for e in exc.errors()]
        first = problems[0] if problems else {"index": None, "field": None, "message": "invalid"}
        where = f"change {first['index']} " if first["index"] is not None else ""
        where += f"field {first['field']}: " if first["field"] else ""
        return JSONResponse(
            status_code=422, content={"detail": where + str(first["message"]), "errors": problems}
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            detail = "the request body is not valid JSON in UTF-8"
        return JSONResponse(
            status_code=exc.status_code,
            content={"detail": detail},
            headers=getattr(exc, "headers", None),
        )

    app.add_middleware(BodyLimit)  # innermost: a 413 still gets a correlation id and a log

    @app.middleware("http")
    async def _refuse_nul(request: Request, call_next: Any) -> Any:
        raw = request.scope.get("raw_path", b"") + b"?" + request.scope.get("query_string", b"")
        if b"%00" in raw or b"\x00" in raw or "\x00" in request.url.path:
            return JSONResponse(
                status_code=400, content={"detail": "the URL contains a NUL character"}
            )
        return await call_next(request)


async def _correlate(request: Request, call_next: Any) -> Any:
    """Outermost: every request, refused or not, gets an id, a log line and the header."""
    cid = correlation_id(request.headers.get(HEADER))
    token = CORRELATION.set(cid)
    start = time.perf_counter()
    try:
        response = await call_next(request)
    finally:
        CORRELATION.reset(token)
    response.headers[HEADER] = cid
    quiet = request.url.path.startswith(_QUIET) and response.status_code < 400
    requests_log.log(
        logging.DEBUG if quiet else logging.INFO,
        "%s %s %s",
        request.method,
        request.url.path,
        response.status_code,
        extra={
            "correlation_id": cid,
            "method": request.method,
            "path": request.url.path,
            "status": response.status_code,
            "ms": round((time.perf_counter() - start) * 1000, 1),
        },
    )
    return response


def create_app(hub: Hub | None = None, run_worker: bool = True, apart: bool = False) -> FastAPI:
    """The API with, in embedded mode, the worker that applies the inbox in the background
    and delivery: as threads of this process, or (``apart``) as processes of its own."""
    app = FastAPI(
        title="Concord",
        version=__version__,
        lifespan=_lifespan(run_worker, apart),
        description="Change-data-capture master data hub.",
        docs_url=None,  # served from local files by hub.api.docs, not from a CDN
        redoc_url=None,
    )
    app.state.hub = _scale_out(app, hub) if hub is not None else None
    app.state.worker = None
    app.state.metrics = HubMetrics(hub.engine) if hub is not None else None
    app.state.expects_worker = run_worker
    errors.install(app)
    docs.install(app)
    _install_refusals(app)
    app.middleware("http")(_correlate)
    app.include_router(router)
    stewardship.mount(app)  # the steward web page under /steward
    return app
