"""One mapping from domain errors to HTTP responses, instead of a try block in every route."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from hub.domain.errors import (
    BatchTooLarge,
    ConcordError,
    Conflict,
    Forbidden,
    InvalidBatch,
    RecordNotFound,
    Unauthorized,
    Unavailable,
)

BUSY = {"Retry-After": "1"}


def install(app: FastAPI) -> None:
    @app.exception_handler(PoolTimeout)
    async def _pool_busy(_: Request, exc: PoolTimeout) -> JSONResponse:
        """Overload: every connection stayed busy for the pool's timeout. The client may
        send again; nothing of this request was written."""
        return JSONResponse(
            status_code=503,
            content={"detail": "the hub is busy (no database connection free); retry"},
            headers=BUSY,
        )

    @app.exception_handler(OperationalError)
    async def _database(_: Request, exc: OperationalError) -> JSONResponse:
        """SQLite's lock wait ran out, or the database went away: a retry may succeed."""
        busy = "database is locked" in str(exc.orig)
        what = "busy (the database is locked by a writer)" if busy else "database unavailable"
        return JSONResponse(
            status_code=503, content={"detail": f"the hub is {what}; retry"}, headers=BUSY
        )

    @app.exception_handler(Unavailable)
    async def _unavailable(_: Request, exc: Unavailable) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(exc)}, headers=BUSY)

    @app.exception_handler(InvalidBatch)
    async def _invalid(_: Request, exc: InvalidBatch) -> JSONResponse:
        return JSONResponse(
            status_code=422,
            content={"detail": str(exc), "errors": [p.as_dict() for p in exc.problems]},
        )

    @app.exception_handler(BatchTooLarge)
    async def _too_large(_: Request, exc: BatchTooLarge) -> JSONResponse:
        return JSONResponse(status_code=413, content={"detail": str(exc)})

    @app.exception_handler(RecordNotFound)
    async def _not_found(_: Request, exc: RecordNotFound) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": str(exc)})

    @app.exception_handler(Unauthorized)
    async def _unauthorized(_: Request, exc: Unauthorized) -> JSONResponse:
        return JSONResponse(
            status_code=401, content={"detail": str(exc)}, headers={"WWW-Authenticate": "Bearer"}
        )

    @app.exception_handler(Forbidden)
    async def _forbidden(_: Request, exc: Forbidden) -> JSONResponse:
        return JSONResponse(status_code=403, content={"detail": str(exc)})

    @app.exception_handler(Conflict)
    async def _conflict(_: Request, exc: Conflict) -> JSONResponse:
        return JSONResponse(status_code=409, content={"detail": str(exc)})

    @app.exception_handler(ConcordError)
    async def _other(_: Request, exc: ConcordError) -> JSONResponse:
        return JSONResponse(status_code=400, content={"detail": str(exc)})
